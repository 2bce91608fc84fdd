"""Reconciliation for finance staff (API keys with role ``finance`` or ``finance_approver``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import BodyPartReader, web

from gateway.core.errors import BadRequest, FieldError, PayloadTooLarge, ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import json_response, read_json
from gateway.keys import IMPORTS, RECON_RUNS, REPORTS, SETTINGS, WORKFLOW
from reconciliation.workflow import Actor

FINANCE = (Role.FINANCE, Role.FINANCE_APPROVER)


async def _actor(request: web.Request, *roles: Role) -> Actor:
    who = await principal(request, *roles)
    return Actor(who.client_id, who.role)


def _day(text: str | None, field: str = "business_date") -> date:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        raise ValidationFailed(
            [FieldError(field, "invalid_format", "a date: YYYY-MM-DD")]
        ) from None


async def upload_statement(request: web.Request) -> web.Response:
    actor = await _actor(request, *FINANCE)
    if not request.content_type.startswith("multipart/"):
        raise BadRequest("send multipart/form-data with fields source, account and file")
    limit = request.app[SETTINGS].max_upload_bytes
    fields: dict[str, str] = {}
    data: bytes | None = None
    filename: str | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            filename = part.filename
            chunks, size = [], 0
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"statement files are limited to {limit} bytes")
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name in ("source", "account"):
            fields[part.name] = (await part.text()).strip()[:64]
    errors = []
    if not fields.get("source"):
        errors.append(FieldError("source", "required", "the file's format, e.g. camt053"))
    if data is None:
        errors.append(FieldError("file", "required", "the statement file"))
    if len(fields.get("account", "")) > 34:
        errors.append(
            FieldError("account", "too_long", "an account number has at most 34 characters")
        )
    if errors:
        raise ValidationFailed(errors)
    assert data is not None
    view = await request.app[IMPORTS].import_file(
        format=fields["source"],
        data=data,
        filename=filename,
        account=fields.get("account") or None,
        actor=actor.id,
    )
    if view["duplicate"]:
        return json_response(view, status=200)
    return json_response(view, status=201 if view["status"] == "accepted" else 422)


async def create_run(request: web.Request) -> web.Response:
    actor = await _actor(request, *FINANCE)
    data = await read_json(request)
    day = _day(data.get("business_date") if isinstance(data, dict) else None)
    return json_response(await request.app[RECON_RUNS].run(actor, day), status=201)


async def current_run(request: web.Request) -> web.Response:
    await _actor(request, *FINANCE)
    day = _day(request.rel_url.query.get("business_date"))
    return json_response(await request.app[RECON_RUNS].current(day))


async def list_exceptions(request: web.Request) -> web.Response:
    await _actor(request, *FINANCE)
    query = request.rel_url.query
    day = _day(query["business_date"]) if query.get("business_date") else None
    age = query.get("min_age_days")
    if age is not None and not age.isdigit():
        raise ValidationFailed([FieldError("min_age_days", "invalid_format", "whole days")])
    items = await request.app[WORKFLOW].list(
        business_date=day,
        type=query.get("type") or None,
        status=query.get("status") or None,
        source=query.get("source") or None,
        min_age_days=int(age) if age is not None else None,
    )
    return json_response({"data": items})


async def get_exception(request: web.Request) -> web.Response:
    await _actor(request, *FINANCE)
    return json_response(await request.app[WORKFLOW].get(request.match_info["exception_id"]))


async def resolve_exception(request: web.Request) -> web.Response:
    actor = await _actor(request, *FINANCE)
    data: Any = await read_json(request)
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "not_object", "a JSON object")])
    view = await request.app[WORKFLOW].resolve(
        actor,
        request.match_info["exception_id"],
        str(data.get("resolution", "")),
        str(data.get("reason", "")),
    )
    return json_response(view)


async def approve_exception(request: web.Request) -> web.Response:
    actor = await _actor(request, *FINANCE)
    return json_response(
        await request.app[WORKFLOW].approve(actor, request.match_info["exception_id"])
    )


async def close_day(request: web.Request) -> web.Response:
    actor = await _actor(request, *FINANCE)
    day = _day(request.match_info["day"], "day")
    return json_response(await request.app[WORKFLOW].close_day(actor, day))


async def day_report(request: web.Request) -> web.Response:
    await _actor(request, *FINANCE)
    day = _day(request.match_info["day"], "day")
    fmt = request.match_info["format"]
    body, content_type = await request.app[REPORTS].render(day, fmt)
    response = web.Response(body=body, content_type=content_type)
    response.headers["Content-Disposition"] = (
        f'attachment; filename="doi-soat-{day.isoformat()}.{fmt}"'
    )
    return response
