"""SMS brandname (customer care, CSKH) through eSMS: ``specs/notifications.md`` §2.1 and §3.

:func:`prepare_text` folds Vietnamese to GSM-7 text without diacritics and counts segments;
:class:`SmsClient` sends it (:mod:`.codec` builds and parses, pure); :func:`parse_receipt`
reads eSMS's delivery callback; result codes are data in :mod:`.statuses`.
"""

from .client import SmsClient
from .codec import build_send, parse_receipt, parse_send, prepare_text
from .errors import SmsError
from .settings import SmsAccount
from .statuses import ESMS_RESULTS, SEGMENT_LIMITS

__all__ = [
    "ESMS_RESULTS",
    "SEGMENT_LIMITS",
    "SmsAccount",
    "SmsClient",
    "SmsError",
    "build_send",
    "parse_receipt",
    "parse_send",
    "prepare_text",
]
