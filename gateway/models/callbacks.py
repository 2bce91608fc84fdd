"""What providers send to the gateway's callbacks and what they get back, as far as
``/openapi.json`` describes them (each connector parses and verifies the bytes itself)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, RootModel, WithJsonSchema

from gateway.core.fields import ResponseModel, Time


class BankCreditNotice(BaseModel):
    """A collection bank's credit notice (the signed JSON the bank posts)."""

    transaction_id: str = Field(description="The bank's id of the credit: notices are kept once")
    bin: str = Field(description="The bank's BIN of the collection account")
    account_number: str
    amount: int = Field(description="VND credited")
    description: str = Field(description="The transfer text, where the payment reference is")
    booked_at: Time


class NoticeAck(ResponseModel):
    status: Literal["accepted", "duplicate"]
    outcome: Literal["applied", "needs_review", "duplicate_payment", "unmatched"]


#: VNPAY's ``RspCode``, its ``Message`` (VNPAY's spelling) and what it means.
IPN_ANSWERS = (
    ("00", "Confirm Success", "Recorded (a failed payment too; also a duplicate still open)"),
    ("01", "Order not found", "No attempt has this `vnp_TxnRef`"),
    ("02", "Order already confirmed", "The attempt is already final (also for a replay)"),
    ("04", "invalid amount", "`vnp_Amount` differs from the attempt's amount"),
    ("97", "Invalid signature", "Bad `vnp_SecureHash`, or a `vnp_TmnCode` without a secret"),
    ("99", "Unknow error", "Malformed: a parameter missing, repeated or badly formatted"),
)
_IPN_SCHEMA = {
    "description": "VNPAY reads `RspCode`; it stops retrying on `00` and `02`",
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["RspCode", "Message"],
            "properties": {"RspCode": {"const": code}, "Message": {"const": message}},
            "description": meaning,
        }
        for code, message, meaning in IPN_ANSWERS
    ],
}


class IpnAnswer(RootModel[Annotated[dict[str, str], WithJsonSchema(_IPN_SCHEMA)]]):
    """VNPAY reads `RspCode`; it stops retrying on `00` and `02`"""


class PosSaleResult(BaseModel):
    """The POS cloud's sale result. Unknown fields are ignored."""

    sale_id: str = Field(description="The attempt id")
    status: Literal["sent_to_terminal", "approved", "declined", "cancelled", "timed_out"]
    amount: int = Field(ge=1)
    approval_code: str | None = None
    masked_pan: str | None = None
    card_brand: Literal["NAPAS", "VISA", "MASTERCARD", "JCB"] | None = None
    rrn: str | None = None
    decline_reason: str | None = None
    completed_at: Time | None = Field(None, description="Required once the sale is final")


class PosAck(ResponseModel):
    status: Literal["accepted"]
    outcome: Literal[
        "applied", "needs_review", "duplicate_payment", "already_final", "ignored", "duplicate"
    ] = Field(
        description="`needs_review`/`duplicate_payment`: the money was recorded for a person "
        "to settle (e.g. the bill expired while the card was charged); `already_final`: a "
        "late decline, cancel or timeout, kept only; `duplicate`: this very result was "
        "received before"
    )


class DvcqgConfirm(BaseModel):
    """The DVCQG platform's Confirm callback (specs/dvcqg-payment-platform.md §4.1). A hint:
    the payment is settled only by the platform's answer to QUERY."""

    LoaiBanTin: str = Field(description="Message type (its value is not public)")
    MaLoi: str = Field(description="`00` = paid, anything else not paid")
    MaDoiTac: str = Field(description="Partner code")
    MaThamChieu: str = Field(description="The attempt's `provider_reference`")
    SoTien: str | int = Field(description="Integer VND (not ×100)")
    MaTienTe: str = "VND"
    MaGiaoDich: str = Field("", description="The platform's transaction id")
    MaNganHang: str = Field("", description="Bank or intermediary that took the money")
    ThoiGianGD: str = Field(description="yyyyMMddHHmmss, Vietnam time")
    ThongTinGiaoDich: str = ""
    MaXacThuc: str = Field(description="SHA-256 checksum (hex, any case), see docs/channels.md")


class DvcqgReply(ResponseModel):
    """The documented echo (spec §4.2, OpenCPS), always HTTP 200; the gateway's stable code
    is in the ``X-Gateway-Outcome`` / ``X-Gateway-Error`` header, not in the body."""

    MaLoi: Literal["00", "99"] = Field(
        description="`00`: processed, stop sending; `99`: refused or failed"
    )
    MoTaLoi: Literal["Thành công", "Các lỗi khác"]
    MaDoiTac: str = Field(description="Our partner code (empty when the callback named none)")
    MaThamChieu: str = Field(description="As received")
    ThoiGianGD: str = Field(description="As received")
    MaXacThuc: str = Field(description="As received")


# -- wallets (issue 12): MoMo and ZaloPay ---------------------------------------------------


class MomoIpn(BaseModel):
    """MoMo's IPN (``specs/momo-zalopay.md`` §A.4). ``signature``: lower-case hex
    HMAC-SHA256 with the merchant's secret key over ``accessKey=…&amount=…&extraData=…&
    message=…&orderId=…&orderInfo=…&orderType=…&partnerCode=…&payType=…&requestId=…&
    responseTime=…&resultCode=…&transId=…`` (``accessKey`` from our configuration)."""

    partnerCode: str
    orderId: str = Field(description="The attempt's `provider_reference`")
    requestId: str
    amount: int = Field(description="VND")
    orderInfo: str = ""
    orderType: str = ""
    transId: int | None = None
    resultCode: int = Field(description="0 paid; 1000, 7000, 7002, 9000 pending; else failed")
    message: str = ""
    payType: str = ""
    responseTime: int | None = Field(None, description="Epoch milliseconds")
    extraData: str = ""
    signature: str


class ZalopayCallback(BaseModel):
    """ZaloPay's callback (``specs/momo-zalopay.md`` §B.4), sent on success only."""

    data: str = Field(
        description="A JSON string: app_id, app_trans_id (the attempt's `provider_reference`), "
        "app_time, app_user, amount, embed_data, item, zp_trans_id, server_time, channel, …"
    )
    mac: str = Field(description="Lower-case hex HMAC-SHA256 with key2 over `data` as sent")
    type: Literal[1, 2] = Field(1, description="1 order (2 agreement: refused)")


class ZalopayReply(ResponseModel):
    return_code: Literal[1, 2, 0, -1] = Field(
        description="1 recorded; 2 nothing applied (received before, already final, unknown "
        "order, another app's order, another amount — the money kept for review); 0 an "
        "internal failure, please send it again; -1 MAC or shape wrong, or the body too large"
    )
    return_message: Literal[
        "success",
        "duplicate",
        "already_final",
        "not_found",
        "app_mismatch",
        "amount_mismatch",
        "mac_invalid",
        "unknown_app",
        "malformed",
        "payload_too_large",
        "internal_error",
    ] = Field(description="Our stable code")
