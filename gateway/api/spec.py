"""The API's routes as declarations, and ``/openapi.json`` generated from them.

Each handler module ends with its ``ROUTES``: method, path, handler, summary, the roles that
may call it, its request body and query models, its replies (status → model) and the errors
it can answer (status → the codes, in backticks). :func:`document` turns them, with the
pydantic models' JSON schemas (:func:`pydantic.json_schema.models_json_schema`), into an
OpenAPI 3.1 document; :mod:`gateway.routes` registers the same declarations, so a route
cannot be served undocumented.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode, models_json_schema

from gateway.core.roles import Role
from gateway.models.problem import Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REF_TEMPLATE = "#/components/schemas/{model}"
JSON = "application/json"
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Param:
    """A header, query or path parameter declared by hand (the query models' fields and the
    path's ``{names}`` are declared for you)."""

    name: str
    where: Literal["header", "query", "path"]
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    description: str = ""
    required: bool = True

    def as_dict(self) -> dict[str, Any]:
        param: dict[str, Any] = {
            "name": self.name,
            "in": self.where,
            "required": self.required,
            "schema": dict(self.schema),
        }
        if self.description:
            param["description"] = self.description
        return param


@dataclass(frozen=True)
class Header:
    description: str = ""
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = True


@dataclass(frozen=True)
class Reply:
    """A successful answer: a JSON model, or another media type without a schema, or none."""

    description: str
    model: type[BaseModel] | None = None
    media: tuple[str, ...] = (JSON,)
    headers: Mapping[str, Header] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    #: Who may call it (``admin`` always may); ``None``: not behind an API key.
    roles: tuple[Role, ...] | None
    replies: Mapping[int, Reply]
    #: Status → the error codes it stands for, in backticks (``"`not_found`"``).
    errors: Mapping[int, str] = field(default_factory=dict)
    body: type[BaseModel] | None = None
    #: Whether the body must be sent; ``False`` for a body of optional fields only, read
    #: with ``read_json(request, optional=True)`` (no body is ``{}``).
    body_required: bool = True
    query: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    description: str = ""
    #: The body is read as JSON by :func:`gateway.http.responses.read_json`, with its errors
    #: (a provider's callback reads raw bytes and declares its own).
    json_body: bool = True
    body_media: str = JSON

    @property
    def canonical(self) -> str:
        """The path as OpenAPI writes it: ``report.{format:xlsx|csv}`` → ``report.{format}``."""
        return _PARAM.sub(lambda match: "{" + match["name"] + "}", self.path)


_PARAM = re.compile(r"\{(?P<name>\w+)(?::(?P<pattern>[^}]+))?\}")
_CHOICES = re.compile(r"^[\w-]+(\|[\w-]+)*$")

IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "maxLength": 255},
    "1–255 printable characters, scoped to the API client; missing → 422",
)
AUTH_ERRORS = {
    401: "Missing or invalid API key (`unauthenticated`)",
    403: "Role not allowed (`forbidden`)",
}
#: What any route that reads or writes the database can answer.
DATABASE_ERRORS = {
    503: "The database is unreachable (`service_unavailable`), or still busy with a conflicting "
    "change after bounded retries (`database_busy`); nothing was changed, retry later",
}
#: What reading a JSON body can answer (before the fields are validated).
BODY_ERRORS = {
    400: "`malformed_json`",
    413: "`payload_too_large`",
    415: "`unsupported_media_type`",
}


class _Schemas(GenerateJsonSchema):
    """pydantic's schemas without the ``title`` it derives from every field name."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _roles_text(roles: tuple[Role, ...]) -> str:
    names = dict.fromkeys(role.value for role in (*roles, Role.ADMIN))
    return "Roles: " + ", ".join(f"`{name}`" for name in names) + "."


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": _ref("Problem")}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without pydantic's ``anyOf [..., null]`` for an optional field."""
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema = {**branches[0], **schema}
    elif branches:
        schema["anyOf"] = branches
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    return schema


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(schema_generator=_Schemas, ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        prop = _plain(dict(prop))
        description = prop.pop("description", "")
        param: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            param["description"] = description
        params.append(param)
    return params


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    for match in _PARAM.finditer(path):
        schema: dict[str, Any] = {"type": "string"}
        if match["pattern"] and _CHOICES.match(match["pattern"]):
            schema["enum"] = match["pattern"].split("|")
        params.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return params


def _operation(route: Route, refs: Mapping[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary}
    description = " ".join(
        part
        for part in (route.description, _roles_text(route.roles) if route.roles is not None else "")
        if part
    )
    if description:
        operation["description"] = description
    if route.roles is not None:
        operation["security"] = [{"apiKey": []}]
    declared = {(param.where, param.name): param.as_dict() for param in route.params}
    generated = _path_params(route.path) + (_query_params(route.query) if route.query else [])
    params = [declared.pop((p["in"], p["name"]), p) for p in generated]
    params += declared.values()
    if params:
        operation["parameters"] = params
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {route.body_media: {"schema": refs[(route.body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    for status, reply in route.replies.items():
        answer: dict[str, Any] = {"description": reply.description}
        if reply.headers:
            answer["headers"] = {
                name: {
                    "required": header.required,
                    "schema": dict(header.schema),
                    **({"description": header.description} if header.description else {}),
                }
                for name, header in reply.headers.items()
            }
        if reply.model is not None:
            answer["content"] = {
                media: {"schema": refs[(reply.model, "serialization")]} for media in reply.media
            }
        elif reply.media:
            answer["content"] = {media: {} for media in reply.media}
        responses[str(status)] = answer
    errors = {
        **(DATABASE_ERRORS if route.path.startswith(("/v1/", "/callbacks/")) else {}),
        **(AUTH_ERRORS if route.roles is not None else {}),
        **(BODY_ERRORS if route.body is not None and route.json_body else {}),
        **route.errors,
    }
    for status, text in sorted(errors.items()):
        if str(status) in responses:  # a body or a problem: the reply's text tells which
            responses[str(status)].setdefault("content", {})[PROBLEM] = {"schema": _ref("Problem")}
        else:
            responses[str(status)] = _problem(text)
    operation["responses"] = responses
    return operation


def _models(
    routes: Iterable[Route], extra: Iterable[type[BaseModel]]
) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    found: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "validation"): None}
    for model in extra:
        found[(model, "serialization")] = None
    for route in routes:
        if route.body is not None:
            found[(route.body, "validation")] = None
        if route.query is not None:  # for the enums its parameters refer to
            found[(route.query, "validation")] = None
        for reply in route.replies.values():
            if reply.model is not None:
                found[(reply.model, "serialization")] = None
    return list(found)


def paths_and_schemas(
    routes: Iterable[Route], extra: Iterable[type[BaseModel]] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``paths`` and ``components.schemas`` that ``routes`` declare (plus the schemas of
    ``extra`` models, e.g. the webhook bodies)."""
    routes = list(routes)
    refs, schema = models_json_schema(
        _models(routes, extra), ref_template=REF_TEMPLATE, schema_generator=_Schemas
    )
    paths: dict[str, Any] = {}
    for route in routes:
        item = paths.setdefault(route.canonical, {})
        method = route.method.lower()
        if method in item:
            raise ValueError(f"{route.method} {route.path} is declared twice")
        item[method] = _operation(route, refs)
    return paths, schema.get("$defs", {})
