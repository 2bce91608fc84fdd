"""The ``application/problem+json`` body every error answers with (RFC 9457), as the
middleware renders :meth:`gateway.core.errors.GatewayError.problem`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    field: str
    code: str
    message: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    code: str = Field(description="Stable machine-readable error code")
    detail: str
    errors: list[FieldProblem] = Field(
        default_factory=list, description="`validation_failed`: one entry per bad field"
    )
    current: str = Field(
        "",
        description="`invalid_transition`, `not_cancellable`, `order_not_acceptable`: the "
        "current status",
    )
    requested: str = Field(
        "",
        description="`invalid_transition`, `not_cancellable`, `order_not_acceptable`: what was "
        "asked",
    )
    cod_amount: int = Field(0, description="`cod_amount_mismatch`: the order's COD amount, VND")
