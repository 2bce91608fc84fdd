"""The public shape of an OpenAPI document, as plain sets that two versions can be compared
by: which operations exist, which parameters they take, which field paths their bodies have
(``data[].vietqr.payload``) and which error codes (the backticked words of a problem
response's description) they declare."""

from __future__ import annotations

import re
from typing import Any

METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
_CODE = re.compile(r"`([a-z][a-z0-9_]*)`")


def _resolve(document: dict[str, Any], schema: Any) -> Any:
    while isinstance(schema, dict) and "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = {
            **document["components"]["schemas"][name],
            **{key: value for key, value in schema.items() if key != "$ref"},
        }
    return schema


def field_paths(
    document: dict[str, Any], schema: Any, prefix: str = "", depth: int = 0
) -> set[str]:
    schema = _resolve(document, schema)
    if not isinstance(schema, dict) or depth > 12:
        return set()
    found: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            found |= field_paths(document, branch, prefix, depth + 1)
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        found.add(path)
        found |= field_paths(document, sub, path, depth + 1)
    if "items" in schema:
        found |= field_paths(document, schema["items"], f"{prefix}[]", depth + 1)
    if isinstance(schema.get("additionalProperties"), dict):
        found |= field_paths(document, schema["additionalProperties"], f"{prefix}{{}}", depth + 1)
    return found


def shape(document: dict[str, Any]) -> dict[str, list[str]]:
    """``{"operations": [...], "fields": [...], "parameters": [...], "errors": [...]}``, each
    sorted; a field is ``METHOD path STATUS media: field.path`` (requests: ``request``)."""
    operations, fields, parameters, errors = set(), set(), set(), set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            where = f"{method.upper()} {path}"
            operations.add(where)
            for parameter in operation.get("parameters", []):
                parameters.add(f"{where} {parameter['in']}:{parameter['name']}")
            body = operation.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                for field in field_paths(document, content.get("schema")):
                    fields.add(f"{where} request {media}: {field}")
            for status, response in operation["responses"].items():
                for media, content in response.get("content", {}).items():
                    if media == "application/problem+json":
                        for code in _CODE.findall(response.get("description", "")):
                            errors.add(f"{where} {status}: {code}")
                        continue
                    for field in field_paths(document, content.get("schema")):
                        fields.add(f"{where} {status} {media}: {field}")
    return {
        "operations": sorted(operations),
        "parameters": sorted(parameters),
        "fields": sorted(fields),
        "errors": sorted(errors),
    }
