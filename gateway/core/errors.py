"""The gateway's error tree. Every class carries its stable ``code`` and ``http_status``;
one middleware (:mod:`gateway.http.middleware`) renders them as ``application/problem+json``.

    GatewayError                        500 internal_error
    ├── BadRequest                      400 bad_request
    │   ├── MalformedJson               400 malformed_json
    │   ├── UnsupportedMediaType        415 unsupported_media_type
    │   ├── ValidationFailed            422 validation_failed   (field-level ``errors``)
    │   └── InvalidCursor               400 invalid_cursor
    ├── PayloadTooLarge                 413 payload_too_large
    ├── Unauthenticated                 401 unauthenticated
    ├── Forbidden                       403 forbidden
    │   └── AgencyNotInScope            403 agency_not_in_scope
    ├── NotFound                        404 not_found
    ├── Conflict                        409 conflict
    │   ├── IdempotencyKeyReused        409 idempotency_key_reused
    │   └── InvalidTransition           409 invalid_transition
    ├── NoticeRejected                  401 notice_signature_invalid | notice_stale | ...
    └── ServiceUnavailable              503 service_unavailable

A provider's business decline is a result value, never one of these.
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


class PayloadTooLarge(GatewayError):
    code = "payload_too_large"
    http_status = 413
    title = "Request body is too large"


class Unauthenticated(GatewayError):
    code = "unauthenticated"
    http_status = 401
    title = "A valid API key is required"


class Forbidden(GatewayError):
    code = "forbidden"
    http_status = 403
    title = "Not allowed"


class AgencyNotInScope(Forbidden):
    code = "agency_not_in_scope"
    title = "The API key is not scoped to this agency"


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


class InvalidTransition(Conflict):
    code = "invalid_transition"
    title = "The object is not in a state that allows this"

    def __init__(self, current: str, requested: str) -> None:
        super().__init__(
            f"cannot move from {current!r} to {requested!r}", current=current, requested=requested
        )
        self.current = current
        self.requested = requested


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
