"""eSMS result codes (``CodeResult``, ``specs/notifications.md`` §2.1 [V]) and the segment
limits of brandname content (§3, Intercom's CSKH table [V] as a provider rule; carrier limits
are not verified, so they are data here).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class EsmsResult:
    code: str
    message_vi: str
    retryable: bool = False


#: 100 accepted; 124 a ``RequestId`` eSMS already has (an earlier try went through).
ACCEPTED = "100"
DUPLICATE_REQUEST = "124"

ESMS_RESULTS: Mapping[str, EsmsResult] = {
    "101": EsmsResult("unauthorized", "Sai ApiKey hoặc SecretKey"),
    "104": EsmsResult("brandname_not_registered", "Brandname chưa được đăng ký"),
    "146": EsmsResult("template_rejected", "Nội dung không khớp mẫu đã đăng ký"),
    "99": EsmsResult("unavailable", "Lỗi không xác định từ eSMS", retryable=True),
}

#: Characters of a CSKH message: up to 160 is one SMS, 306 two, 459 three.
SEGMENT_LIMITS: tuple[int, ...] = (160, 306, 459)
#: A conservative union of the providers' forbidden characters (spec §3).
FORBIDDEN = frozenset("#&%[]{}\\<@")
#: GSM 03.38 extension characters count twice: kept out of the text.
GSM_EXTENSION = frozenset("^{}\\[]~|€")


def result_for(code: str) -> EsmsResult:
    return ESMS_RESULTS.get(code, EsmsResult(f"esms_{code}", f"eSMS từ chối tin nhắn (mã {code})"))
