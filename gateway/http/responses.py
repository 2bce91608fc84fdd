"""JSON and problem responses, and strict JSON request bodies."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from gateway.core.errors import (
    FieldError,
    GatewayError,
    MalformedJson,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from providers.common import json_text

Model = TypeVar("Model", bound=BaseModel)

#: pydantic's error types → our stable field error codes.
_FIELD_CODES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
    "int_type": "not_integer",
    "int_from_float": "not_integer",
    "int_parsing": "not_integer",
    "greater_than": "must_be_positive",
    "too_short": "too_short",
    "too_long": "too_long",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "string_type": "not_string",
    "string_pattern_mismatch": "invalid_format",
    "literal_error": "invalid_choice",
    "value_error": "invalid",
    "dict_type": "not_object",
    "list_type": "not_list",
    "model_type": "not_object",
    "model_attributes_type": "not_object",
    "enum": "invalid_choice",
    "datetime_parsing": "invalid_format",
    "datetime_from_date_parsing": "invalid_format",
    "timezone_aware": "invalid_format",
    "date_parsing": "invalid_format",
    "date_from_datetime_parsing": "invalid_format",
    "date_from_datetime_inexact": "invalid_format",
}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def respond(
    model: BaseModel, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A response model as JSON (:func:`model_text`)."""
    return respond_text(model_text(model), status=status, headers=headers)


def model_text(model: BaseModel) -> str:
    """A response model's JSON as the API writes it (times with ``Z``, text as UTF-8); a
    field left unset (one with a default) is left out."""
    return model.model_dump_json(exclude_unset=True)


def respond_text(
    text: str, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """JSON already written by :func:`model_text` (an answer rendered once, and stored)."""
    return web.Response(
        body=text.encode(), status=status, content_type="application/json", headers=headers
    )


def parse_query(model: type[Model], request: web.Request) -> Model:
    """The query string as ``model``; an empty parameter counts as absent. Bad values are
    ``validation_failed`` with one field error each."""
    query = request.rel_url.query
    return parse_body(model, {name: query[name] for name in query if query[name]})


def problem(
    error: GatewayError, *, status: int | None = None, code: str | None = None
) -> web.Response:
    body = error.problem()
    if status is not None:
        body["status"] = status
    if code is not None:
        body["code"] = code
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode(),
        status=body["status"],
        content_type="application/problem+json",
    )


async def read_json(request: web.Request, *, optional: bool = False) -> Any:
    """The body as JSON; 415 for another media type, 400 for bad JSON, 413 when too large.
    ``optional``: no body (or an empty one) is ``{}`` — a body of optional fields only."""
    if optional and not request.body_exists:
        return {}
    if request.content_type != "application/json":
        raise UnsupportedMediaType()
    raw = await read_body(request)
    if optional and not raw.strip():
        return {}
    try:
        return json_text.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"body is not valid JSON: {exc}") from None


async def read_body(request: web.Request, limit: int | None = None) -> bytes:
    """The raw body, refused with 413 above ``limit`` (default: the app's ``max_body_bytes``):
    at once when the client declares a larger length, else while it is read, so a chunked
    body is never held beyond the limit (the app's ``client_max_size`` is the statement
    upload limit, far above what any JSON body or callback may be)."""
    from gateway.keys import SETTINGS  # a late import: keys import the services

    limit = limit or request.app[SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"at most {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_body(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed([_field_error(error) for error in exc.errors()]) from None


def _field_error(error: Any) -> FieldError:
    location = ".".join(str(part) for part in error["loc"]) or "body"
    return FieldError(location, _FIELD_CODES.get(error["type"], error["type"]), error["msg"])
