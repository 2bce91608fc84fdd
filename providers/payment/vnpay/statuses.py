"""VNPAY's result codes as tables, and what each means for our payment attempt.

Meanings are VNPAY's own (sandbox.vnpayment.vn/apis/docs: ``thanh-toan-pay/pay.html`` for
payments, ``truy-van-hoan-tien/querydr&refund.html`` for the two JSON APIs), Vietnamese first.
:class:`Outcome` values are the gateway's attempt-status names, so the gateway can map them
one to one without this package importing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Not finished yet: ask again later (querydr).
    PENDING = "pending"
    #: Contradictory, suspicious or unknown: reconcile with querydr or a person, never guess.
    UNKNOWN = "unknown"


# Short names keep the tables readable.
_S, _F, _P, _U = Outcome.SUCCEEDED, Outcome.FAILED, Outcome.PENDING, Outcome.UNKNOWN

#: ``vnp_ResponseCode`` of a payment (return URL and IPN).
PAYMENT_RESPONSE_CODES: Final[Mapping[str, Outcome]] = {
    "00": _S,  # Giao dịch thành công — transaction succeeded
    # Trừ tiền thành công. Giao dịch bị nghi ngờ (liên quan tới lừa đảo, giao dịch bất
    # thường) — money taken but the transaction is held as suspected fraud: a person decides.
    "07": _U,
    "09": _F,  # Thẻ/Tài khoản chưa đăng ký dịch vụ InternetBanking — no internet banking
    "10": _F,  # Xác thực thông tin thẻ/tài khoản không đúng quá 3 lần — 3 failed verifications
    "11": _F,  # Đã hết hạn chờ thanh toán — payment window expired
    "12": _F,  # Thẻ/Tài khoản bị khóa — card or account locked
    "13": _F,  # Nhập sai mật khẩu xác thực giao dịch (OTP) — wrong OTP
    "24": _F,  # Khách hàng hủy giao dịch — customer cancelled
    "51": _F,  # Tài khoản không đủ số dư — insufficient funds
    "65": _F,  # Vượt quá hạn mức giao dịch trong ngày — daily limit exceeded
    "75": _F,  # Ngân hàng thanh toán đang bảo trì — paying bank under maintenance
    "79": _F,  # Nhập sai mật khẩu thanh toán quá số lần quy định — too many wrong passwords
    "99": _U,  # Các lỗi khác — other errors
}

#: The attempt's ``failure_code`` (``vnpay_<vnp_ResponseCode>`` of a failed payment) → what
#: the citizen reads on the checkout page: VNPAY's own meanings above, said to the payer.
FAILURE_MESSAGES: Final[Mapping[str, str]] = {
    "vnpay_09": "Thẻ/tài khoản của bạn chưa đăng ký dịch vụ Internet Banking tại ngân hàng.",
    "vnpay_10": "Bạn đã xác thực thông tin thẻ/tài khoản không đúng quá 3 lần.",
    "vnpay_11": "Đã hết thời gian chờ thanh toán.",
    "vnpay_12": "Thẻ/tài khoản của bạn đang bị khóa.",
    "vnpay_13": "Mật khẩu xác thực giao dịch (OTP) không đúng.",
    "vnpay_24": "Bạn đã hủy giao dịch.",
    "vnpay_51": "Tài khoản của bạn không đủ số dư.",
    "vnpay_65": "Tài khoản của bạn đã vượt quá hạn mức giao dịch trong ngày.",
    "vnpay_75": "Ngân hàng thanh toán đang bảo trì.",
    "vnpay_79": "Bạn đã nhập sai mật khẩu thanh toán quá số lần quy định.",
}


def failure_message(failure_code: str) -> str | None:
    """The Vietnamese text for an attempt's ``failure_code``, if it is one of VNPAY's."""
    return FAILURE_MESSAGES.get(failure_code)


#: ``vnp_TransactionStatus`` (IPN, return URL and querydr answers).
TRANSACTION_STATUSES: Final[Mapping[str, Outcome]] = {
    "00": _S,  # Giao dịch thanh toán thành công — payment succeeded
    "01": _P,  # Giao dịch chưa hoàn tất — not finished
    "02": _F,  # Giao dịch bị lỗi — failed
    # Giao dịch đảo (khách hàng đã bị trừ tiền tại ngân hàng nhưng GD chưa thành công ở
    # VNPAY) — reversal: the payer was debited but VNPAY did not complete it. Reconcile.
    "04": _U,
    # 05/06: VNPAY đang xử lý / đã gửi yêu cầu hoàn tiền sang ngân hàng (GD hoàn tiền) — a
    # refund is in progress, so the payment itself went through; refunds are tracked apart.
    "05": _S,
    "06": _S,
    "07": _U,  # Giao dịch bị nghi ngờ gian lận — suspected fraud, held
    "09": _S,  # GD hoàn trả bị từ chối — refund declined: the original payment stands
}

#: ``vnp_ResponseCode`` of a querydr answer: whether the query itself worked.
QUERY_RESPONSE_CODES: Final[Mapping[str, str]] = {
    "00": "Yêu cầu thành công — query succeeded",
    "02": "Merchant không hợp lệ (kiểm tra lại vnp_TmnCode) — invalid terminal",
    "03": "Dữ liệu gửi sang không đúng định dạng — malformed request",
    "91": "Không tìm thấy giao dịch yêu cầu — transaction not found",
    "94": "Yêu cầu bị trùng lặp trong thời gian giới hạn của API — duplicate request",
    "97": "Chữ ký không hợp lệ — invalid checksum",
    "99": "Các lỗi khác — other errors",
}

#: ``vnp_ResponseCode`` of a refund answer, and the outcome of the refund request.
REFUND_RESPONSE_CODES: Final[Mapping[str, Outcome]] = {
    "00": _S,  # Yêu cầu thành công — refund accepted
    "02": _F,  # Tổng số tiền hoàn trả lớn hơn số tiền gốc — total refunds exceed the payment
    "03": _F,  # Dữ liệu gửi sang không đúng định dạng — malformed request
    "04": _F,  # Không cho phép hoàn trả toàn phần sau khi hoàn trả một phần — full after partial
    "13": _F,  # Chỉ cho phép hoàn trả một phần — only partial refunds allowed
    "91": _F,  # Không tìm thấy giao dịch yêu cầu hoàn trả — transaction not found
    "93": _F,  # Số tiền hoàn trả không hợp lệ (≤ số tiền thanh toán) — invalid refund amount
    # Yêu cầu bị trùng lặp trong thời gian giới hạn của API — duplicate request id: an earlier
    # request with this id may be in progress, so query rather than assume either way.
    "94": _U,
    "95": _F,  # Giao dịch không thành công bên VNPAY, VNPAY từ chối xử lý — payment not successful
    "97": _F,  # Chữ ký không hợp lệ — invalid checksum (nothing was processed)
    "98": _U,  # Timeout Exception — VNPAY timed out: outcome unknown
    "99": _U,  # Các lỗi khác — other errors
}


#: ``vnp_TransactionType`` of a querydr answer about a refund (02 full, 03 partial); 01 is a
#: payment (specs/vnpay-reference.md §2.3, §3.4).
REFUND_TRANSACTION_TYPES: Final[frozenset[str]] = frozenset({"02", "03"})

#: ``vnp_TransactionStatus`` of a querydr answer about a refund (type 02/03), and what it
#: means for the refund (specs/vnpay-reference.md §3.4).
REFUND_TRANSACTION_STATUSES: Final[Mapping[str, Outcome]] = {
    "05": _P,  # VNPAY đang xử lý giao dịch này (GD hoàn tiền) — VNPAY is processing it
    # VNPAY đã gửi yêu cầu hoàn tiền sang Ngân hàng (GD hoàn tiền) — VNPAY sent it to the
    # payer's bank: the refund left VNPAY, as a refund answered 00 has (our ``succeeded``).
    "06": _S,
    "00": _S,  # Giao dịch thành công — done
    "09": _F,  # GD hoàn trả bị từ chối — the refund was declined
}


def payment_outcome(response_code: str, transaction_status: str) -> Outcome:
    """Combine the two codes of an IPN or return URL.

    A payment succeeded only when both are ``00`` (VNPAY's rule). Otherwise: both tables
    agree → that; either says success while the other does not → ``unknown`` (reconcile);
    either says failed (e.g. ResponseCode 24, cancelled) → ``failed``; either says pending →
    ``pending``; else ``unknown``. Codes missing from the tables count as ``unknown``.
    """
    by_status = TRANSACTION_STATUSES.get(transaction_status, Outcome.UNKNOWN)
    by_response = PAYMENT_RESPONSE_CODES.get(response_code, Outcome.UNKNOWN)
    if by_status is by_response:
        return by_status
    if Outcome.SUCCEEDED in (by_status, by_response):
        return Outcome.UNKNOWN
    if Outcome.FAILED in (by_status, by_response):
        return Outcome.FAILED
    if Outcome.PENDING in (by_status, by_response):
        return Outcome.PENDING
    return Outcome.UNKNOWN


def query_outcome(response_code: str, transaction_status: str) -> Outcome:
    """What a querydr answer says about the payment.

    Only an answered query (``00``) carries a transaction status. Every other answer says
    nothing about the payment, so it is ``unknown``; that includes ``91`` (not found), which
    the caller weighs against its own deadline, since VNPAY records a transaction only once
    the payer has reached its page.
    """
    if response_code != "00":
        return Outcome.UNKNOWN
    return TRANSACTION_STATUSES.get(transaction_status, Outcome.UNKNOWN)


def refund_query_outcome(
    response_code: str, transaction_type: str, transaction_status: str
) -> Outcome:
    """What a querydr answer says about a refund: ``pending`` unless the query was answered
    (``00``) about a refund (type 02/03) in a status the table above names. A payment's
    answer (type 01), ``91`` (not found) or another code says nothing about the refund, so
    it stays pending — never assumed failed; past its horizon a person decides."""
    if response_code != "00" or transaction_type not in REFUND_TRANSACTION_TYPES:
        return Outcome.PENDING
    return REFUND_TRANSACTION_STATUSES.get(transaction_status, Outcome.PENDING)


def refund_outcome(response_code: str) -> Outcome:
    """``succeeded`` (accepted), ``failed`` (declined, nothing done) or ``unknown`` (query)."""
    return REFUND_RESPONSE_CODES.get(response_code, Outcome.UNKNOWN)
