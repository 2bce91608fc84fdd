"""docs/errors.md lists every error code a client can meet and every attempt ``failure_code``
with the words the citizen reads. The lists are made here from the code (the error tree, the
provider tables, the literals in the source), so a code added without a line in the document
fails this test."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import gateway
import reconciliation
import webhooks
from gateway.channels import momo as momo_channel
from gateway.channels import zalopay as zalopay_channel
from gateway.core.errors import GatewayError
from gateway.pages.checkout import UNEXPLAINED_FAILURE
from providers.payment import dvcqg, vnpay
from providers.payment.momo import statuses as momo_statuses
from providers.payment.pos import errors as pos_errors
from providers.payment.pos import statuses as pos_statuses
from providers.payment.vnpay import statuses as vnpay_statuses
from providers.payment.zalopay import statuses as zalopay_statuses

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "errors.md"


def _import_everything() -> None:
    """Every module of the service, so that every error class is defined."""
    for package in (gateway, webhooks, reconciliation):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)


def _subclasses(cls: type[GatewayError]) -> Iterator[type[GatewayError]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _calls(folder: str) -> Iterator[ast.Call]:
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                yield node


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _literals(node: ast.AST) -> set[str]:
    """The code-like string constants an expression can be (``x or "refused"`` → ``refused``;
    not the pieces of an f-string, which the tables cover, nor what a condition compares)."""
    skipped = {
        id(inner)
        for outer in ast.walk(node)
        if isinstance(outer, ast.JoinedStr | ast.Compare)
        for inner in ast.walk(outer)
    }
    return {
        child.value
        for child in ast.walk(node)
        if isinstance(child, ast.Constant)
        and id(child) not in skipped
        and isinstance(child.value, str)
        and re.fullmatch(r"[a-z][a-z0-9_]*", child.value)
    }


def api_error_codes() -> set[str]:
    """Every ``code`` of a problem+json answer: the error tree's classes, the per-message codes
    of refused provider callbacks, and the few answers built by hand (``code=...``)."""
    _import_everything()
    codes = {GatewayError.code} | {cls.code for cls in _subclasses(GatewayError)}
    for call in _calls("gateway"):
        if _name(call) == "NoticeRejected" and call.args:
            codes |= _literals(call.args[0])
        for keyword in call.keywords:
            if keyword.arg == "code" and _name(call) in {"problem", "page", "_refused"}:
                codes |= _literals(keyword.value)
    # What a refused bank notice, POS result, MoMo IPN or ZaloPay callback is answered with:
    # the provider package's verification code (gateway/services/*callbacks*, bank_credits).
    codes |= _notice_error_codes() | set(pos_errors.UNTRUSTED_CODES)
    codes |= {"signature_invalid", "unknown_partner", "malformed"}  # MoMo (momo.errors)
    codes |= {"mac_invalid", "unknown_app", "malformed"}  # ZaloPay (zalopay.errors)
    return codes


def _notice_error_codes() -> set[str]:
    found: set[str] = set()
    for call in _calls("providers/payment/vietqr"):
        if _name(call) == "NoticeError" and call.args:
            found |= _literals(call.args[0])
    return found


def _failure_literals(*constructors: str) -> set[str]:
    """Failure codes written as literals where an outcome is built (``failure_code="..."``)."""
    found: set[str] = set()
    for call in _calls("gateway"):
        if _name(call) in constructors:
            for keyword in call.keywords:
                if keyword.arg == "failure_code":
                    found |= _literals(keyword.value)
    return found


def failure_messages() -> dict[str, str]:
    """Every attempt ``failure_code`` → the reason the checkout page gives for it (after
    "Thanh toán qua <kênh> không thành công: ")."""
    table: dict[str, str] = {}
    for code, text in vnpay_statuses.FAILURE_MESSAGES.items():
        table[code] = text
    for number in vnpay_statuses.PAYMENT_RESPONSE_CODES:
        code = f"vnpay_{number}"
        if vnpay_statuses.PAYMENT_RESPONSE_CODES[number] is vnpay.Outcome.FAILED:
            table[code] = vnpay.failure_message(code) or UNEXPLAINED_FAILURE
    for number, (outcome, _) in momo_statuses.RESULT_CODES.items():
        if outcome in {momo_statuses.Outcome.FAILED, momo_statuses.Outcome.UNKNOWN}:
            code = momo_channel.failure_code(number)
            table[code] = momo_channel.failure_message(code) or UNEXPLAINED_FAILURE
    for number in [*zalopay_statuses.SUB_RETURN_MESSAGES, None]:
        code = zalopay_channel.failure_code(number)
        table[code] = zalopay_channel.failure_message(code) or UNEXPLAINED_FAILURE
    for code, text in dvcqg.FAILURE_MESSAGES.items():
        table[code] = text
    for code in pos_statuses.FAILURE_REASON.values():
        table[code] = UNEXPLAINED_FAILURE
    for code in _failure_literals("Outcome", "Started"):
        table.setdefault(code, dvcqg.failure_message(code) or UNEXPLAINED_FAILURE)
    return table


def refund_failure_codes() -> set[str]:
    return _failure_literals("RefundOutcome")


def _documented_codes() -> set[str]:
    text = DOC.read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9_:<>-]+)`", text, flags=re.MULTILINE))


def test_every_api_error_code_is_documented() -> None:
    assert sorted(api_error_codes() - _documented_codes()) == []


def test_every_attempt_failure_code_is_documented_with_the_citizens_words() -> None:
    rows = {
        match[1]: match[2].strip()
        for match in re.finditer(
            r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \|", DOC.read_text(encoding="utf-8"), re.MULTILINE
        )
    }
    missing = {code: text for code, text in failure_messages().items() if rows.get(code) != text}
    assert missing == {}


def test_every_refund_failure_code_is_documented() -> None:
    assert sorted(refund_failure_codes() - _documented_codes()) == []


def test_the_lists_are_not_empty() -> None:
    """The generators above find what they look for (a broken scan would pass silently)."""
    assert {"validation_failed", "not_found", "amount_mismatch", "csrf"} <= api_error_codes()
    assert {"vnpay_24", "momo_1006", "zalopay_-329", "dvcqg_4", "not_sent", "refused"} <= set(
        failure_messages()
    )
    assert {"outcome_unknown", "no_transaction_id", "manual"} <= refund_failure_codes()
