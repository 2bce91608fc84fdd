"""The national portal's payment platform asking about a dossier: parse → service → render
(:mod:`gateway.services.dvcqg_lookup`)."""

from __future__ import annotations

from aiohttp import web

from gateway.api.spec import Reply, Route
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import parse_query, respond
from gateway.keys import SERVICES
from gateway.models.dvcqg import DvcqgLookupAnswer, DvcqgLookupQuery

PLATFORM_ROLES = (Role.PLATFORM,)


async def lookup_payments(request: web.Request) -> web.Response:
    who = await principal(request, *PLATFORM_ROLES)
    query = parse_query(DvcqgLookupQuery, request)
    answer = await request.app[SERVICES].dvcqg_lookup.by_dossier(who, query.MaHoSo)
    return respond(DvcqgLookupAnswer.model_validate(answer))


ROUTES = (
    Route(
        "GET",
        "/v1/dvcqg/payments",
        lookup_payments,
        "The DVCQG payment platform looks up what a dossier has to pay",
        PLATFORM_ROLES,
        {200: Reply("In the platform's shape (OpenCPS's dptracuuthanhtoanhs)", DvcqgLookupAnswer)},
        {
            404: "`not_found`: no payment for this dossier among the credential's agencies "
            "(another agency's dossier is answered the same)",
            422: "`validation_failed`: `MaHoSo` missing",
        },
        query=DvcqgLookupQuery,
        description="`error_code` 1: a pending bill, `message` its ThongTinBienLai fields; "
        "0: nothing payable (`message` = []). `paid` says whether the dossier's fees are paid.",
    ),
)
