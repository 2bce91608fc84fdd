"""Attempts, refunds and POS terminals: parse → service → render."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.api.spec import IDEMPOTENCY_KEY, Header, Reply, Route
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import parse_body, read_json, respond
from gateway.keys import ATTEMPTS, REFUNDS, TERMINALS
from gateway.models.payments import (
    Attempt,
    AttemptList,
    FlaggedAttempt,
    FlaggedAttemptList,
    FlaggedRefund,
    FlaggedRefundList,
    Refund,
    RefundResolution,
    Terminal,
    TerminalList,
)
from gateway.models.requests import (
    CompleteRefund,
    CreateAttempt,
    CreateRefund,
    CreateTerminal,
    DecideRefundResolution,
)

PORTAL_ROLES = (Role.PORTAL, Role.COUNTER)
FINANCE_ROLES = (Role.FINANCE, Role.FINANCE_APPROVER)


def client_ip(request: web.Request) -> str:
    return request.remote or "127.0.0.1"


async def create_attempt(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    data = await read_json(request)
    body = parse_body(CreateAttempt, data)
    payment_id = request.match_info["payment_id"]
    service = request.app[ATTEMPTS]

    async def begin(conn: AsyncConnection) -> dict[str, Any]:
        return {"attempt_id": await service.begin(conn, who, payment_id, body)}

    stored = await create_once(request, who, data, begin)
    view = await service.start(stored.body["attempt_id"], client_ip(request))
    return respond(Attempt.model_validate(view), status=201, headers=replay_headers(stored))


async def list_attempts(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    views = await request.app[ATTEMPTS].list(who, request.match_info["payment_id"])
    return respond(AttemptList(data=[Attempt.model_validate(view) for view in views]))


async def get_attempt(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    view = await request.app[ATTEMPTS].get(
        who, request.match_info["payment_id"], request.match_info["attempt_id"]
    )
    return respond(Attempt.model_validate(view))


async def flagged_attempts(request: web.Request) -> web.Response:
    who = await principal(request, *FINANCE_ROLES)
    views = await request.app[ATTEMPTS].flagged(who.agency_ids, all_agencies=who.all_agencies)
    return respond(FlaggedAttemptList(data=[FlaggedAttempt.model_validate(v) for v in views]))


async def cancel_attempt(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    view = await request.app[ATTEMPTS].cancel(
        who, request.match_info["payment_id"], request.match_info["attempt_id"]
    )
    return respond(Attempt.model_validate(view), status=202)


async def create_refund(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES, *FINANCE_ROLES)
    data = await read_json(request)
    body = parse_body(CreateRefund, data)
    payment_id = request.match_info["payment_id"]
    service = request.app[REFUNDS]

    async def begin(conn: AsyncConnection) -> dict[str, Any]:
        return {"refund_id": await service.begin(conn, who, payment_id, body)}

    stored = await create_once(request, who, data, begin)
    refund_id = stored.body["refund_id"]
    # Sent once: a retried request (often after our answer timed out) shows the refund as it
    # stands — sending it again could refund twice (a provider that took the first send). A
    # refund still pending is asked about by the janitor, or completed by finance.
    if stored.replayed:
        view = await service.get(who, refund_id)
    else:
        view = await service.execute(refund_id, who.client_id)
    return respond(Refund.model_validate(view), status=201, headers=replay_headers(stored))


async def get_refund(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES, *FINANCE_ROLES)
    refund = await request.app[REFUNDS].get(who, request.match_info["refund_id"])
    return respond(Refund.model_validate(refund))


async def flagged_refunds(request: web.Request) -> web.Response:
    who = await principal(request, *FINANCE_ROLES)
    views = await request.app[REFUNDS].flagged(who.agency_ids, all_agencies=who.all_agencies)
    return respond(FlaggedRefundList(data=[FlaggedRefund.model_validate(v) for v in views]))


async def complete_refund(request: web.Request) -> web.Response:
    """Finance staff propose the result of a refund they made by bank transfer or at the
    terminal (the maker); another person approves it."""
    who = await principal(request, *FINANCE_ROLES)
    body = parse_body(CompleteRefund, await read_json(request))
    view = await request.app[REFUNDS].propose(
        who.client_id,
        who.agency_ids,
        request.match_info["refund_id"],
        outcome=body.status,
        provider_transaction_id=body.provider_transaction_id or "",
        reason=body.reason or "",
    )
    return respond(RefundResolution.model_validate(view), status=202)


async def approve_refund_resolution(request: web.Request) -> web.Response:
    return await _decide(request, approve=True, reason="")


async def reject_refund_resolution(request: web.Request) -> web.Response:
    """Its body is optional (``reason`` only): none is no reason."""
    body = parse_body(DecideRefundResolution, await read_json(request, optional=True))
    return await _decide(request, approve=False, reason=body.reason or "")


async def _decide(request: web.Request, *, approve: bool, reason: str) -> web.Response:
    """The checker: a ``finance_approver`` (or ``admin``) who is not the maker."""
    who = await principal(request, Role.FINANCE_APPROVER)
    view = await request.app[REFUNDS].decide(
        who.client_id,
        who.agency_ids,
        request.match_info["refund_id"],
        request.match_info["resolution_id"],
        approver=True,
        approve=approve,
        reason=reason,
    )
    return respond(Refund.model_validate(view))


async def create_terminal(request: web.Request) -> web.Response:
    await principal(request, Role.ADMIN)
    body = parse_body(CreateTerminal, await read_json(request))
    view = await request.app[TERMINALS].add(body.agency_code, body.terminal_id, body.name)
    return respond(Terminal.model_validate(view), status=201)


async def list_terminals(request: web.Request) -> web.Response:
    who = await principal(request, *PORTAL_ROLES)
    terminals = await request.app[TERMINALS].list(who.agency_ids)
    return respond(TerminalList(data=[Terminal.model_validate(view) for view in terminals]))


_REPLAYED = {
    "Idempotent-Replayed": Header(
        "Present when the key was used before", {"const": "true"}, required=False
    )
}
_REFUND_ROLES = (*PORTAL_ROLES, *FINANCE_ROLES)

ROUTES = (
    Route(
        "GET",
        "/v1/attempts/flagged",
        flagged_attempts,
        "Attempts handed to finance: still open when their channel's give-up horizon passed",
        FINANCE_ROLES,
        {
            200: Reply(
                "The caller's agencies' flagged attempts (still `pending`/`unknown`, with "
                "`flagged_at`), oldest first; the provider's word, if it ever comes, still "
                "applies",
                FlaggedAttemptList,
            )
        },
    ),
    Route(
        "POST",
        "/v1/payments/{payment_id}/attempts",
        create_attempt,
        "Start an attempt: pay through VNPAY or push the bill to a card terminal",
        PORTAL_ROLES,
        {
            201: Reply(
                "The attempt (or, for a retried key, the attempt as it is now). `status` is "
                "`pending` with a `next_action`, or `failed` when the provider refused, or "
                "`unknown` when its answer was lost",
                Attempt,
                headers=_REPLAYED,
            )
        },
        {
            404: "`not_found`: no such payment for the caller's agencies, or (pos) the "
            "terminal is not registered for the payment's agency",
            409: "`invalid_transition` (the payment is not pending or has expired; `current` "
            "names its status), `terminal_busy` (the terminal runs another sale), "
            "`idempotency_key_reused`",
            422: "`validation_failed`; field codes include `channel_unavailable` (`method` not "
            "configured) and `required` (`terminal_id` for pos, `Idempotency-Key`)",
        },
        body=CreateAttempt,
        params=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "GET",
        "/v1/payments/{payment_id}/attempts",
        list_attempts,
        "List a payment's attempts, oldest first",
        PORTAL_ROLES,
        {200: Reply("The attempts", AttemptList)},
        {404: "`not_found`"},
    ),
    Route(
        "GET",
        "/v1/payments/{payment_id}/attempts/{attempt_id}",
        get_attempt,
        "Get an attempt",
        PORTAL_ROLES,
        {200: Reply("The attempt", Attempt)},
        {404: "`not_found` (also for an attempt of another payment)"},
    ),
    Route(
        "POST",
        "/v1/payments/{payment_id}/attempts/{attempt_id}/cancel",
        cancel_attempt,
        "Ask the provider to stop a running card-terminal attempt",
        PORTAL_ROLES,
        {
            202: Reply(
                "Asked. The outcome still comes from the provider (the card may have been "
                "faster): the attempt is returned as it is now",
                Attempt,
            )
        },
        {
            404: "`not_found`",
            409: "`invalid_transition`: the attempt is not open (`created`, `pending`, "
            "`unknown`) or its channel cannot be cancelled (VNPAY)",
        },
    ),
    Route(
        "POST",
        "/v1/payments/{payment_id}/refunds",
        create_refund,
        "Refund (part of) a paid payment through the channel that took the money",
        _REFUND_ROLES,
        {
            201: Reply(
                "The refund: VNPAY settles it at once; bank-transfer and card refunds stay "
                "`pending` until finance staff complete them",
                Refund,
            )
        },
        {
            404: "`not_found`",
            409: "`invalid_transition` (the payment is not `paid`, `partially_refunded` or "
            "`needs_review`, or no attempt took money), `idempotency_key_reused`, `conflict` "
            "(changed concurrently: retry)",
            422: "`validation_failed`; `amount` → `exceeds_refundable` when more than what is "
            "still refundable",
        },
        body=CreateRefund,
        params=(IDEMPOTENCY_KEY,),
    ),
    Route(
        "GET",
        "/v1/refunds/flagged",
        flagged_refunds,
        "Refunds handed to finance: still pending when their channel's refund horizon passed",
        FINANCE_ROLES,
        {
            200: Reply(
                "The caller's agencies' flagged refunds (still `pending`, with `flagged_at`), "
                "oldest first. Finance asks the provider and records the result with "
                "`POST /v1/refunds/{refund_id}/complete`; the provider's word, if the janitor "
                "still gets it, applies too",
                FlaggedRefundList,
            )
        },
    ),
    Route(
        "GET",
        "/v1/refunds/{refund_id}",
        get_refund,
        "Get a refund",
        _REFUND_ROLES,
        {
            200: Reply(
                "The refund, with finance's proposed results (`resolutions`, newest first)",
                Refund,
            )
        },
        {404: "`not_found`"},
    ),
    Route(
        "POST",
        "/v1/refunds/{refund_id}/complete",
        complete_refund,
        "Propose the result of a refund finance staff made by bank transfer or at the "
        "terminal, or of a refund handed to finance (`flagged_at`) once they asked its "
        "provider (not before: while the janitor still asks the provider, its word settles "
        "it). Maker-checker: nothing changes until another person approves it",
        FINANCE_ROLES,
        {
            202: Reply(
                "The proposal (`proposed`); the refund stays `pending` until a "
                "`finance_approver` who is not the maker approves it",
                RefundResolution,
            )
        },
        {
            404: "`not_found`",
            409: "`invalid_transition`: the refund is not `pending`; `resolution_pending`: a "
            "proposal already waits for a decision; `refund_still_queried`: the refund's "
            "channel is still asked about it (VNPAY, ZaloPay) and it is not yet handed to "
            "finance (`flagged_at`) — the provider's word may yet settle it",
            422: "`validation_failed`: `status` → `invalid_choice`, `provider_transaction_id` "
            "→ `invalid` or `not_allowed` (with `failed`: a failure moved no money), "
            "`reason` → `too_long`",
        },
        body=CompleteRefund,
    ),
    Route(
        "POST",
        "/v1/refunds/{refund_id}/resolutions/{resolution_id}/approve",
        approve_refund_resolution,
        "Approve finance's proposed result of a refund (the checker): applied at once, as the "
        "provider's word would be (the refund's status, its webhook, the payment's status)",
        (Role.FINANCE_APPROVER,),
        {200: Reply("The settled refund, with its proposals", Refund)},
        {
            404: "`not_found`",
            409: "`self_approval`: the approver is the person who proposed it (whichever key "
            "or console login); `invalid_transition`: the proposal is not `proposed` (decided, "
            "or `superseded` by the provider's word) or the refund is no longer `pending`",
        },
    ),
    Route(
        "POST",
        "/v1/refunds/{refund_id}/resolutions/{resolution_id}/reject",
        reject_refund_resolution,
        "Reject finance's proposed result of a refund (the checker): nothing changes, another "
        "proposal can be made. The body is optional (`reason` only)",
        (Role.FINANCE_APPROVER,),
        {200: Reply("The refund, still `pending`, with its proposals", Refund)},
        {
            404: "`not_found`",
            409: "`self_approval`: the approver is the person who proposed it; "
            "`invalid_transition`: the proposal is not `proposed`",
            422: "`validation_failed`: `reason` → `too_long`",
        },
        body=DecideRefundResolution,
        body_required=False,
    ),
    Route(
        "POST",
        "/v1/terminals",
        create_terminal,
        "Register a card terminal for an agency",
        (Role.ADMIN,),
        {201: Reply("The terminal", Terminal)},
        {
            409: "`conflict`: the terminal id is already registered",
            422: "`validation_failed`; `agency_code` → `unknown_agency`",
        },
        body=CreateTerminal,
    ),
    Route(
        "GET",
        "/v1/terminals",
        list_terminals,
        "List the card terminals of the caller's agencies",
        PORTAL_ROLES,
        {200: Reply("The terminals", TerminalList)},
    ),
)
