"""The national portal's payment platform asking about a dossier: parse → service → render
(:mod:`gateway.services.dvcqg_lookup`)."""

from __future__ import annotations

import structlog
from aiohttp import web

from gateway.api.spec import Header, Reply, Route
from gateway.core.errors import ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import parse_query, respond
from gateway.keys import SERVICES
from gateway.models.dvcqg import DvcqgLookupAnswer, DvcqgLookupQuery
from gateway.services.dvcqg_lookup import not_found

log = structlog.get_logger(__name__)

PLATFORM_ROLES = (Role.PLATFORM,)


async def lookup_payments(request: web.Request) -> web.Response:
    """Always HTTP 200 in the platform's shape (§10) once the caller is the platform; our
    stable code of a ``-1`` answer is in ``X-Gateway-Error`` and the log."""
    who = await principal(request, *PLATFORM_ROLES)
    code = None
    try:
        query = parse_query(DvcqgLookupQuery, request)
        answer = await request.app[SERVICES].dvcqg_lookup.by_dossier(who, query.MaHoSo)
    except ValidationFailed as exc:
        code, answer = exc.code, not_found()
    except Exception:
        log.exception("dvcqg_lookup_failed", code="internal_error")
        code, answer = "internal_error", not_found()
    if answer["error_code"] == -1:
        code = code or "not_found"
        log.info("dvcqg_lookup_refused", code=code)
    headers = {"X-Gateway-Error": code} if code else None
    return respond(DvcqgLookupAnswer.model_validate(answer), headers=headers)


ROUTES = (
    Route(
        "GET",
        "/v1/dvcqg/payments",
        lookup_payments,
        "The DVCQG payment platform looks up what a dossier has to pay",
        PLATFORM_ROLES,
        {
            200: Reply(
                "Always HTTP 200 in the platform's shape (spec §10, OpenCPS's "
                "dptracuuthanhtoanhs); error_code -1 for no such dossier among the "
                "credential's agencies (another agency's dossier is answered the same), "
                "MaHoSo missing or unreadable, or an internal failure",
                DvcqgLookupAnswer,
                headers={
                    "X-Gateway-Error": Header(
                        "With error_code -1: `not_found`, `validation_failed`, `internal_error`",
                        required=False,
                    )
                },
            )
        },
        query=DvcqgLookupQuery,
        description="`error_code` 1: a pending bill, `message` its ThongTinBienLai fields; "
        "0: nothing payable (`message` = []); -1: not found (`message` = []). `paid` says "
        "whether the dossier's fees are paid. Only a caller that is not the platform gets "
        "401/403.",
    ),
)
