"""The DVCQG payment platform's lookup of a dossier (``GET /v1/dvcqg/payments``), in the
platform's own field names (``specs/dvcqg-payment-platform.md`` §10)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from gateway.core.fields import QueryModel, ResponseModel


class DvcqgLookupQuery(QueryModel):
    MaHoSo: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The dossier code"
    )


class DvcqgLookupAnswer(ResponseModel):
    error_code: Literal[1, 0, -1] = Field(
        description="1: something to pay; 0: nothing payable; -1: no such dossier, MaHoSo "
        "missing, or an internal failure"
    )
    message: dict[str, Any] | list[Any] = Field(
        description="1: transaction_id (the payment reference), client_id (our MaDoiTac), "
        "MaTraCuuTT (dossier code + yyyyMMddHHmmss), SoTien and the ThongTinBienLai fields "
        "(MaDichVu, MaDVC, MaTTHC, MaDonVi, MaHoSo, PhiLePhi[], DSKhoanNop[], …); 0, -1: []"
    )
    paid: bool = Field(description="Whether the dossier's fees are paid (the gateway's addition)")
