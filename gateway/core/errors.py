"""The gateway's error tree. Every class carries its stable ``code`` and ``http_status``;
one middleware (:mod:`gateway.http.middleware`) renders them as ``application/problem+json``.

    GatewayError                        500 internal_error
    ├── BadRequest                      400 bad_request
    │   ├── MalformedJson               400 malformed_json
    │   ├── UnsupportedMediaType        415 unsupported_media_type
    │   ├── ValidationFailed            422 validation_failed   (field-level ``errors``)
    │   ├── InvalidCursor               400 invalid_cursor
    │   ├── CodNotExpected              422 cod_not_expected              (postal handovers)
    │   └── CodAmountMismatch           422 cod_amount_mismatch           (postal handovers)
    ├── PayloadTooLarge                 413 payload_too_large
    │   └── ParseTimeout                413 parse_timeout                 (reconciliation)
    ├── Unauthenticated                 401 unauthenticated
    ├── LoginThrottled                  429 login_throttled               (staff sign-in)
    │   └── AccountLocked               423 account_locked                (staff sign-in)
    ├── Forbidden                       403 forbidden
    │   ├── AgencyNotInScope            403 agency_not_in_scope
    │   ├── AccountNotInScope           403 account_not_in_scope          (reconciliation)
    │   └── DeploymentWideOnly          403 deployment_wide_only          (reconciliation)
    ├── NotFound                        404 not_found
    ├── Conflict                        409 conflict
    │   ├── IdempotencyKeyReused        409 idempotency_key_reused
    │   ├── ActiveOrderExists           409 postal_order_active           (postal orders)
    │   ├── DuplicateEvent              409 duplicate_event               (postal operators)
    │   ├── AlreadyAccepted             409 already_accepted              (postal operators)
    │   ├── DuplicateHandover           409 duplicate_handover            (postal handovers)
    │   ├── SelfApproval                409 self_approval                 (every maker-checker)
    │   ├── ResolutionPending           409 resolution_pending            (attempts, refunds)
    │   ├── RefundStillQueried          409 refund_still_queried          (refunds)
    │   ├── OpenExceptions              409 open_exceptions               (reconciliation)
    │   ├── StaleRun                    409 stale_run                     (reconciliation)
    │   ├── ConcurrentRun               409 conflict                      (reconciliation)
    │   ├── ReceiptRangeOverlaps        409 receipt_range_overlaps        (receipts)
    │   ├── ReceiptRangeNotAscending    409 receipt_range_not_ascending   (receipts)
    │   ├── SummaryAlreadyAccepted      409 receipt_summary_already_accepted  (receipts)
    │   ├── SummaryEmpty                409 receipt_summary_empty         (receipts)
    │   ├── SummaryDayNotOver           409 receipt_summary_day_not_over  (receipts)
    │   ├── SummarySendInFlight         409 receipt_summary_in_flight     (receipts)
    │   ├── ReceiptNotIssuable          409 receipt_not_issuable          (receipts)
    │   └── InvalidTransition           409 invalid_transition
    │       ├── NotCancellable          409 not_cancellable               (postal orders)
    │       ├── ReceiptReplaced         409 receipt_replaced              (receipt corrections)
    │       └── NotAcceptable           409 order_not_acceptable          (postal operators)
    ├── NoticeRejected                  400|401|409 the failed check (docs/errors.md)
    └── ServiceUnavailable              503 service_unavailable
        ├── TaxAuthorityNotConfigured   503 tax_authority_not_configured  (receipts)
        ├── DatabaseUnavailable         503 service_unavailable           (database)
        └── DatabaseBusy                503 database_busy                 (database)

Errors that a single service raises are declared here too, marked with that service, so that
the codes a client can meet are read in one place. Every code with its meaning, including
those declared elsewhere: docs/errors.md (kept complete by tests/test_errors_doc.py). A
provider's business decline is a result value, never one of these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``field`` is a dotted path such as ``items.0.amount``."""

    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class GatewayError(Exception):
    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://errors.gateway.local/{self.code}",
            "title": self.title,
            "status": self.http_status,
            "code": self.code,
            "detail": self.detail,
        }
        body.update(self.extra)
        return body


class BadRequest(GatewayError):
    code = "bad_request"
    http_status = 400
    title = "Bad request"


class MalformedJson(BadRequest):
    code = "malformed_json"
    title = "Body is not valid JSON"


class ReplacementTotalMismatch(BadRequest):
    """A replacement receipt's lines do not add up to the money the payment collected for
    what that receipt covers (its share: the payment's phí/lệ phí lines of the receipt's
    kinds; docs/receipts.md, "Corrections"). ``expected`` and ``total`` give both."""

    code = "replacement_total_mismatch"
    http_status = 422
    title = "A replacement receipt must total the money collected for the receipt it replaces"


class UnsupportedMediaType(BadRequest):
    code = "unsupported_media_type"
    http_status = 415
    title = "Content-Type must be application/json"


class ValidationFailed(BadRequest):
    code = "validation_failed"
    http_status = 422
    title = "Request fields are invalid"

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        super().__init__(detail, errors=[error.as_dict() for error in errors])
        self.errors = list(errors)


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    title = "Pagination cursor is invalid"


class CodNotExpected(BadRequest):
    code = "cod_not_expected"
    http_status = 422
    title = "No COD is collected in this handover"


class DeliveryAttemptsRequired(BadRequest):
    """Circular 17/2017 Điều 5.2.h: two delivery attempts, two working days apart, before a
    result goes back to the agency."""

    code = "delivery_attempts_required"
    http_status = 422
    title = "Two delivery attempts two working days apart must come before a return"


class DeliveryAttemptTooSoon(BadRequest):
    code = "delivery_attempt_too_soon"
    http_status = 422
    title = "A delivery attempt must be at least two working days after the previous one"


class CodAmountMismatch(BadRequest):
    code = "cod_amount_mismatch"
    http_status = 422
    title = "The COD collected differs from the order's COD amount"


class PayloadTooLarge(GatewayError):
    code = "payload_too_large"
    http_status = 413
    title = "Request body is too large"


class ParseTimeout(PayloadTooLarge):
    code = "parse_timeout"
    title = "The file took longer to read than the parse limit allows"


class Unauthenticated(GatewayError):
    code = "unauthenticated"
    http_status = 401
    title = "A valid API key is required"


class LoginThrottled(GatewayError):
    """Too many failed sign-ins of a user or from an address: tries are refused, without
    looking at the password, for ``retry_after`` more seconds."""

    code = "login_throttled"
    http_status = 429
    title = "Too many failed sign-ins; try again later"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"try again in {retry_after} seconds", retry_after=retry_after)
        self.retry_after = retry_after


class AccountLocked(LoginThrottled):
    """The user failed to sign in too often; only an administrator unlocks the account."""

    code = "account_locked"
    http_status = 423
    title = "The account is locked after too many failed sign-ins"

    def __init__(self) -> None:
        GatewayError.__init__(self, "an administrator must unlock the account")
        self.retry_after = 0


class Forbidden(GatewayError):
    code = "forbidden"
    http_status = 403
    title = "Not allowed"


class AgencyNotInScope(Forbidden):
    code = "agency_not_in_scope"
    title = "The API key is not scoped to this agency"


class AccountNotInScope(Forbidden):
    code = "account_not_in_scope"
    title = "The statement's account is not a collection account of the caller's agencies"


class DeploymentWideOnly(Forbidden):
    """What concerns every agency at once (a provider's file, closing a day) needs a
    deployment-wide credential (``all_agencies``)."""

    code = "deployment_wide_only"
    title = "Only deployment-wide finance staff may do this"


class NotFound(GatewayError):
    code = "not_found"
    http_status = 404
    title = "Not found"


class Conflict(GatewayError):
    code = "conflict"
    http_status = 409
    title = "Conflict"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency-Key was already used with a different request"


class ActiveOrderExists(Conflict):
    code = "postal_order_active"
    title = "This dossier already has a live order for this leg"


class DuplicateEvent(Conflict):
    code = "duplicate_event"
    title = "This event id was already reported with other content"


class AlreadyAccepted(Conflict):
    code = "already_accepted"
    title = "Another operator has accepted this order"


class DuplicateHandover(Conflict):
    code = "duplicate_handover"
    title = "This handover id was already reported with other content"


class CodAlreadyCollected(Conflict):
    """COD is collected once per order: a second handover with COD would record money twice."""

    code = "cod_already_collected"
    title = "The COD of this order was already collected"


class SelfApproval(Conflict):
    """The approver is the person who resolved (compared by person, whichever credential)."""

    code = "self_approval"
    title = "A resolution must be approved by someone else"


class OpenExceptions(Conflict):
    code = "open_exceptions"
    title = "The day still has exceptions that are open or awaiting approval"


class StaleRun(Conflict):
    """A statement accepted after the day's current run could change it: re-run first."""

    code = "stale_run"
    title = "A statement imported after the day's run could change it; re-run the day first"


class ConcurrentRun(Conflict):
    """Runs of other days kept taking this run's statement lines while it was computed
    (retryable: run the day again)."""

    code = "conflict"
    title = "Runs of other days took statement lines of this run; run the day again"


class ReceiptRangeOverlaps(Conflict):
    """Numbers of one (tax code, template, symbol) are given once: ranges are disjoint."""

    code = "receipt_range_overlaps"
    title = "The number range overlaps another range of the same template and symbol"


class ReceiptRangeNotAscending(Conflict):
    """A point of collection uses its ranges in ascending order (NĐ 254/2026 Điều 25.5): a
    new range must start above every range it already has for the template and symbol."""

    code = "receipt_range_not_ascending"
    title = "A new number range must come after the point's earlier ranges"


class ReceiptDelegationOverlaps(Conflict):
    """Two delegation agreements of one agency may not both cover a number of one symbol on
    one day (docs/receipts.md, "Issuing as the agency's delegate")."""

    code = "receipt_delegation_overlaps"
    title = "The delegation agreement overlaps another agreement of the same symbol"


class ReceiptDelegationExists(Conflict):
    code = "receipt_delegation_exists"
    title = "The agency already has a delegation agreement with this number"


class ReceiptDelegationEnded(Conflict):
    code = "receipt_delegation_ended"
    title = "The delegation agreement has already ended early"


class SummaryAlreadyAccepted(Conflict):
    """One accepted summary per agency and business day: sending the day again needs an
    explicit correction (``--correction``)."""

    code = "receipt_summary_already_accepted"
    title = "The tax authority has accepted this day's summary; send a correction instead"


class SummaryEmpty(Conflict):
    """No receipt was issued, replaced or notified that day: there is nothing to summarise
    (docs/receipts.md, "A day without receipts")."""

    code = "receipt_summary_empty"
    title = "No receipt was issued, replaced or notified on this day"


class SummaryDayNotOver(Conflict):
    """A day is summarised once it is over (Asia/Ho_Chi_Minh): later receipts of the day
    would be left out."""

    code = "receipt_summary_day_not_over"
    title = "The business day is not over yet"


class SummarySendInFlight(Conflict):
    """Another process (the background loop) is sending this summary now: it holds the
    claim, and its answer will be recorded; nothing is sent twice (docs/receipts.md)."""

    code = "receipt_summary_in_flight"
    title = "This summary is being sent by another process right now"


class ReceiptNotIssuable(Conflict):
    """A replacement receipt, or a day's summary, cannot be numbered or signed now
    (``reason``: no symbol for the year, the point's ranges used up, the certificate expired);
    the correction stays proposed, no summary is stored, nothing is issued."""

    code = "receipt_not_issuable"
    title = "The replacement receipt or the day's summary cannot be issued now"


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "The object is not in a state that allows this"

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(
            f"cannot move from {current!r} to {requested!r}", current=current, requested=requested
        )
        self.current = current
        self.requested = requested


class NotCancellable(InvalidTransition):
    code = "not_cancellable"
    title = "The order can no longer be cancelled"


class TaxNoticeNotDismissible(InvalidTransition):
    """Only a notice the tax authority rejected, or one that cannot be sent as it is
    (``failed``), is dismissed: a pending or sent one is still on its way, an accepted one
    is done, a dismissed one stays as it was dismissed (``current``: its status)."""

    code = "receipt_tax_notice_not_dismissible"
    title = "Only a rejected or failed notice to the tax authority can be dismissed"


class ReceiptReplaced(InvalidTransition):
    """A replaced receipt is final: a correction is made to its replacement."""

    code = "receipt_replaced"
    title = "The receipt was replaced; correct its replacement"


class NotAcceptable(InvalidTransition):
    code = "order_not_acceptable"
    title = "The order cannot be accepted in its current status"


class NoticeRejected(GatewayError):
    """An inbound provider message failed verification; ``code`` says which check."""

    http_status = 401
    title = "Provider message rejected"

    def __init__(self, code: str, detail: str, http_status: int = 401) -> None:
        super().__init__(detail)
        self.code = code  # type: ignore[misc]  # per-instance code: the failed check
        self.http_status = http_status  # type: ignore[misc]


class ServiceUnavailable(GatewayError):
    code = "service_unavailable"
    http_status = 503
    title = "Service unavailable"


class TaxAuthorityNotConfigured(ServiceUnavailable):
    code = "tax_authority_not_configured"
    title = "No tax-authority endpoint is configured (tax_authority.base_url)"


class DatabaseUnavailable(ServiceUnavailable):
    code = "service_unavailable"
    title = "The database is unavailable; retry later"


class DatabaseBusy(ServiceUnavailable):
    code = "database_busy"
    title = "The database is busy with a conflicting change; retry later"
