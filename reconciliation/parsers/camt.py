"""ISO 20022 camt.053 (bank statement) and camt.054 (debit/credit notification).

A small reader that matches elements by local name, so it reads every version from
``.001.02`` to ``.001.13`` (the namespace's message type and version are checked first;
anything else, camt.052 or pain.001 for instance, is ``unsupported_namespace``). The XML is
parsed by ``defusedxml`` with DTDs, entities and external references forbidden: a file with
any of them is refused as ``external_entity`` before a single entity is expanded or fetched.

One :class:`StatementLine` per ``NtryDtls/TxDtls`` (or per ``Ntry`` without details); its
``line_no`` is the entry's 1-based index in the statement, shared by the details of a batch
entry (``extra["tx_index"]`` tells them apart). An entry whose status is not ``BOOK`` is
reported as ``not_booked`` and left out of the balances. For camt.053 opening + credits −
debits must equal closing (``OPBD``, or ``PRCD`` where a bank uses it; ``CLBD``), and
``TxsSummry`` counts and sums, where given, must match the entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Final

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError as XMLParseError
from defusedxml.ElementTree import fromstring

from reconciliation.model import (
    BUSINESS_TZ,
    ControlTotals,
    Direction,
    ParsedFile,
    ParseError,
    RowError,
    Source,
    StatementLine,
)

from . import codes
from .values import BadValue, Tally, check_currency, check_date, parse_amount

if TYPE_CHECKING:  # only the type: parsing goes through defusedxml above
    from xml.etree.ElementTree import Element

_NAMESPACE: Final = re.compile(
    r"urn:iso:std:iso:20022:tech:xsd:(?P<message>[a-z]{4}\.\d{3})\.(?P<variant>\d{3})"
    r"\.(?P<version>\d{2})"
)
VERSIONS: Final = range(2, 14)
#: message type → (message element, statement element)
MESSAGES: Final = {
    "camt.053": ("BkToCstmrStmt", "Stmt"),
    "camt.054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
}
OPENING_CODES: Final = ("OPBD", "PRCD")
CLOSING_CODE: Final = "CLBD"
NOT_PROVIDED: Final = "NOTPROVIDED"
_DATE: Final = re.compile(r"(\d{4}-\d{2}-\d{2})(?:Z|[+-]\d{2}:\d{2})?")


def parse_camt053(data: bytes, *, as_of: date | None = None) -> ParsedFile:
    """A camt.053 statement; ``as_of`` bounds dates only if the file declares no date."""
    return _parse(data, "camt.053", as_of)


def parse_camt054(data: bytes, *, as_of: date | None = None) -> ParsedFile:
    """A camt.054 notification (no balances to tie; ``TxsSummry`` is checked if present)."""
    return _parse(data, "camt.054", as_of)


# --- element helpers (namespace-agnostic) -----------------------------------------------


def _local(element: Element) -> str:
    return element.tag.rpartition("}")[2] if isinstance(element.tag, str) else ""


def _children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [c for c in element if _local(c) == name]


def _find(element: Element | None, *path: str) -> Element | None:
    for name in path:
        found = _children(element, name)
        element = found[0] if found else None
    return element


def _text(element: Element | None, *path: str) -> str | None:
    found = _find(element, *path)
    if found is None or found.text is None:
        return None
    return found.text.strip() or None


# --- the document -------------------------------------------------------------------------


def _load(data: bytes) -> Element:
    try:
        root: Element = fromstring(
            data, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        raise ParseError(
            codes.EXTERNAL_ENTITY, f"DTD/entity/external reference refused: {type(exc).__name__}"
        ) from None
    except XMLParseError as exc:
        raise ParseError(codes.MALFORMED_XML, f"not well-formed XML: {exc}") from None
    return root


def _document(root: Element, expected: str) -> tuple[Element, str]:
    """The ``Document`` element (the root, or inside an envelope) and its version label."""
    document = next((e for e in root.iter() if _local(e) == "Document"), None)
    if document is None:
        raise ParseError(codes.NOT_A_STATEMENT, f"no ISO 20022 Document element ({expected})")
    namespace = document.tag.partition("}")[0].lstrip("{") if "}" in document.tag else ""
    match = _NAMESPACE.fullmatch(namespace)
    if not match:
        raise ParseError(
            codes.UNSUPPORTED_NAMESPACE, f"namespace {namespace or '(none)'!r} is not ISO 20022"
        )
    label = f"{match['message']}.{match['variant']}.{match['version']}"
    if (
        match["message"] != expected
        or match["variant"] != "001"
        or int(match["version"]) not in VERSIONS
    ):
        raise ParseError(
            codes.UNSUPPORTED_NAMESPACE,
            f"{label} is not {expected}.001.02 to .001.13",
        )
    return document, label


def _statement(document: Element, message_type: str) -> tuple[Element, Element]:
    message_name, statement_name = MESSAGES[message_type]
    message = _find(document, message_name)
    statements = _children(message, statement_name)
    if message is None or not statements:
        raise ParseError(codes.NOT_A_STATEMENT, f"no {message_name}/{statement_name}")
    if len(statements) > 1:
        raise ParseError(
            codes.MULTIPLE_STATEMENTS,
            f"{len(statements)} {statement_name} elements; send one per file",
        )
    return message, statements[0]


# --- values --------------------------------------------------------------------------------


def _date_value(text: str) -> date:
    """An ``xs:date`` or ``xs:dateTime``; a zoned time is taken in Asia/Ho_Chi_Minh."""
    match = _DATE.fullmatch(text)
    try:
        if match:
            return date.fromisoformat(match.group(1))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadValue(codes.BAD_DATE, f"{text!r} is not an ISO date") from None
    return (moment.astimezone(BUSINESS_TZ) if moment.tzinfo else moment).date()


def _date_in(element: Element | None, what: str) -> date | None:
    """The date of a ``Dt``/``DtTm`` choice (``BookgDt``, ``ValDt``, ``Bal/Dt``)."""
    text = _text(element, "Dt") or _text(element, "DtTm")
    if element is not None and text is None:
        raise BadValue(codes.BAD_DATE, f"{what} has neither Dt nor DtTm")
    return None if text is None else _date_value(text)


def _header_date(element: Element | None, *path: str) -> date | None:
    text = _text(element, *path)
    if text is None:
        return None
    try:
        return _date_value(text)
    except BadValue as problem:
        raise ParseError(codes.BAD_DATE, f"{'/'.join(path)}: {problem.message}") from None


def _amount(element: Element | None, what: str, *, allow_zero: bool = False) -> int:
    """An ``ActiveOrHistoricCurrencyAndAmount``: xs:decimal text, ``Ccy`` VND."""
    if element is None:
        raise BadValue(codes.BAD_AMOUNT, f"{what} is missing")
    check_currency(element.get("Ccy"), what=f"{what} currency")
    return parse_amount(element.text or "", thousands="", allow_zero=allow_zero, what=what)


def _direction(element: Element, what: str) -> Direction:
    indicator = _text(element, "CdtDbtInd")
    if indicator == "CRDT":
        return Direction.CREDIT
    if indicator == "DBIT":
        return Direction.DEBIT
    raise BadValue(codes.BAD_FIELD, f"{what} CdtDbtInd {indicator!r} is not CRDT/DBIT")


def _account(element: Element | None) -> str | None:
    return _text(element, "Id", "IBAN") or _text(element, "Id", "Othr", "Id")


def _entry_status(entry: Element) -> str | None:
    """``Sts`` is text up to version 05 and ``Sts/Cd`` (or ``Prtry``) from 06."""
    status = _find(entry, "Sts")
    if status is None:
        return None
    return _text(status, "Cd") or _text(status, "Prtry") or _text(entry, "Sts")


# --- parsing -------------------------------------------------------------------------------


@dataclass
class _Context:
    account: str | None
    reference_day: date | None
    booked: Tally = field(default_factory=Tally)
    everything: Tally = field(default_factory=Tally)


def _parse(data: bytes, message_type: str, as_of: date | None) -> ParsedFile:
    document, label = _document(_load(data), message_type)
    message, statement = _statement(document, message_type)
    account_element = _find(statement, "Acct")
    if _text(account_element, "Ccy") not in {None, "VND"}:
        raise ParseError(
            codes.UNKNOWN_CURRENCY, f"account currency {_text(account_element, 'Ccy')} is not VND"
        )
    period_start = _header_date(statement, "FrToDt", "FrDtTm")
    period_end = _header_date(statement, "FrToDt", "ToDtTm")
    created = _header_date(statement, "CreDtTm") or _header_date(message, "GrpHdr", "CreDtTm")
    balances = _balances(statement) if message_type == "camt.053" else {}
    if message_type == "camt.053":
        closing_day = balances[CLOSING_CODE][1]
        period_start = period_start or closing_day
        period_end = period_end or closing_day
    context = _Context(_account(account_element), period_end or created or as_of)

    lines: list[StatementLine] = []
    errors: list[RowError] = []
    entries = _children(statement, "Ntry")
    for index, entry in enumerate(entries, 1):
        try:
            lines += _entry(entry, index, context)
        except BadValue as problem:
            errors.append(RowError(index, problem.code, problem.message))

    control = _tie(statement, entries, balances, context)
    return ParsedFile(
        source=Source.BANK,
        lines=tuple(lines),
        errors=tuple(errors),
        control=control,
        account=context.account,
        period_start=period_start,
        period_end=period_end,
        format=label,
    )


def _balances(statement: Element) -> dict[str, tuple[int, date | None]]:
    """Signed balances by type code (DBIT is negative); the first of each type counts."""
    found: dict[str, tuple[int, date | None]] = {}
    for balance in _children(statement, "Bal"):
        code = _text(balance, "Tp", "CdOrPrtry", "Cd") or _text(balance, "Tp", "CdOrPrtry", "Prtry")
        if code is None or code in found:
            continue
        try:
            amount = _amount(_find(balance, "Amt"), f"balance {code}", allow_zero=True)
            sign = -1 if _direction(balance, f"balance {code}") is Direction.DEBIT else 1
            found[code] = (sign * amount, _date_in(_find(balance, "Dt"), code))
        except BadValue as problem:
            raise ParseError(problem.code, f"balance {code}: {problem.message}") from None
    opening = next((found[c] for c in OPENING_CODES if c in found), None)
    if opening is None or CLOSING_CODE not in found:
        raise ParseError(codes.MISSING_BALANCE, "a camt.053 needs OPBD (or PRCD) and CLBD")
    found["opening"] = opening
    return found


def _entry(entry: Element, index: int, context: _Context) -> list[StatementLine]:
    """The lines of one ``Ntry``; also adds it to the tallies the file is tied with."""
    status = _entry_status(entry)
    booked = status in {None, "BOOK"}
    try:
        amount = _amount(_find(entry, "Amt"), "Amt")
        direction = _direction(entry, "entry")
    except BadValue:
        context.everything.add(None)
        if booked:
            context.booked.add(None)
        raise
    context.everything.add(amount, credit=direction is Direction.CREDIT)
    if not booked:
        raise BadValue(
            codes.NOT_BOOKED, f"status {status}: {direction.value} {amount} not booked, not counted"
        )
    context.booked.add(amount, credit=direction is Direction.CREDIT)

    booking = _date_in(_find(entry, "BookgDt"), "BookgDt")
    value = _date_in(_find(entry, "ValDt"), "ValDt")
    booking = booking or value
    if booking is None:
        raise BadValue(codes.MISSING_FIELD, "entry has neither BookgDt nor ValDt")
    booking = check_date(booking, context.reference_day, what="BookgDt")
    if value is not None:
        value = check_date(value, context.reference_day, what="ValDt")

    entry_extra = {"entry_ref": _text(entry, "NtryRef") or ""}
    if (_text(entry, "RvslInd") or "").lower() == "true":
        entry_extra["reversal"] = "true"
    details = [d for group in _children(entry, "NtryDtls") for d in _children(group, "TxDtls")]
    amounts = _detail_amounts(details, amount, entry)
    lines = []
    slots: list[Element | None] = [*details] or [None]
    for number, (detail, detail_amount) in enumerate(zip(slots, amounts, strict=True), 1):
        extra = {k: v for k, v in entry_extra.items() if v}
        if len(details) > 1:
            extra["tx_index"] = str(number)
        end_to_end = _text(detail, "Refs", "EndToEndId")
        if tx_id := _text(detail, "Refs", "TxId"):
            extra["tx_id"] = tx_id
        extra |= _counterparty(detail, direction)
        lines.append(
            StatementLine(
                source=Source.BANK,
                line_no=index,
                amount=detail_amount,
                direction=direction,
                booking_date=booking,
                value_date=value,
                provider_txn_id=_text(detail, "Refs", "AcctSvcrRef") or _text(entry, "AcctSvcrRef"),
                end_to_end_id=None if end_to_end == NOT_PROVIDED else end_to_end,
                text=_remittance(detail) or _text(entry, "AddtlNtryInf") or "",
                account=context.account,
                extra=extra,
            )
        )
    return lines


def _detail_amounts(details: list[Element], amount: int, entry: Element) -> list[int]:
    """Each ``TxDtls`` amount (its ``Amt`` or ``AmtDtls/TxAmt/Amt``); they must make up the
    entry. A single ``TxDtls`` without an amount takes the entry's."""
    if not details:
        return [amount]
    found: list[int | None] = []
    for number, detail in enumerate(details, 1):
        # Not ``or``: an Element without children is falsy.
        element = _find(detail, "Amt")
        if element is None:
            element = _find(detail, "AmtDtls", "TxAmt", "Amt")
        found.append(None if element is None else _amount(element, f"TxDtls {number} Amt"))
        indicator = _text(detail, "CdtDbtInd")
        if indicator is not None and indicator != _text(entry, "CdtDbtInd"):
            raise BadValue(codes.DETAILS_DO_NOT_TIE, f"TxDtls {number} has the other CdtDbtInd")
    if len(found) == 1 and found[0] is None:
        return [amount]
    if None in found:
        raise BadValue(codes.DETAILS_DO_NOT_TIE, "a batch entry's TxDtls lacks its amount")
    amounts = [a for a in found if a is not None]
    if sum(amounts) != amount:
        raise BadValue(
            codes.DETAILS_DO_NOT_TIE,
            f"TxDtls amounts sum to {sum(amounts)}, the entry ({_text(entry, 'AcctSvcrRef')}) "
            f"is {amount}",
        )
    return amounts


def _remittance(detail: Element | None) -> str:
    parts = [
        (u.text or "").strip() for r in _children(detail, "RmtInf") for u in _children(r, "Ustrd")
    ]
    return " ".join(p for p in parts if p) or (_text(detail, "AddtlTxInf") or "")


def _counterparty(detail: Element | None, direction: Direction) -> dict[str, str]:
    """The payer of a credit (``Dbtr``) or payee of a debit (``Cdtr``), when given."""
    parties = _find(detail, "RltdPties")
    role = "Dbtr" if direction is Direction.CREDIT else "Cdtr"
    party = _find(parties, role)
    # Up to version 07 the name is Dbtr/Nm; from 08 it is Dbtr/Pty/Nm.
    name = _text(party, "Nm") or _text(party, "Pty", "Nm")
    account = _account(_find(parties, f"{role}Acct"))
    found = {}
    if name:
        found["counterparty_name"] = name
    if account:
        found["counterparty_account"] = account
    return found


def _tie(
    statement: Element,
    entries: list[Element],
    balances: dict[str, tuple[int, date | None]],
    context: _Context,
) -> ControlTotals:
    summary = _find(statement, "TxsSummry")
    declared: dict[str, int | None] = {}
    for key, path in {
        "count": ("TtlNtries", "NbOfNtries"),
        "credit_count": ("TtlCdtNtries", "NbOfNtries"),
        "debit_count": ("TtlDbtNtries", "NbOfNtries"),
    }.items():
        text = _text(summary, *path)
        if text is not None and not text.isdigit():
            raise ParseError(codes.COUNT_MISMATCH, f"TxsSummry/{'/'.join(path)} {text!r}")
        declared[key] = None if text is None else int(text)
    for key, path in {
        "credits": ("TtlCdtNtries", "Sum"),
        "debits": ("TtlDbtNtries", "Sum"),
    }.items():
        text = _text(summary, *path)
        try:
            declared[key] = (
                None if text is None else parse_amount(text, thousands="", allow_zero=True)
            )
        except BadValue as problem:
            raise ParseError(
                problem.code, f"TxsSummry/{'/'.join(path)}: {problem.message}"
            ) from None

    if declared["count"] is not None and declared["count"] != len(entries):
        raise ParseError(
            codes.COUNT_MISMATCH,
            f"TxsSummry says {declared['count']} entries, the statement has {len(entries)}",
        )
    every = context.everything
    directions = [_text(e, "CdtDbtInd") for e in entries]
    for key, indicator in (("credit_count", "CRDT"), ("debit_count", "DBIT")):
        if declared[key] is not None and declared[key] != directions.count(indicator):
            raise ParseError(
                codes.COUNT_MISMATCH,
                f"TxsSummry says {declared[key]} {indicator} entries, there are "
                f"{directions.count(indicator)}",
            )
    for key, computed in (("credits", every.credits), ("debits", every.debits)):
        if every.complete and declared[key] is not None and declared[key] != computed:
            raise ParseError(
                codes.TOTALS_DO_NOT_TIE, f"TxsSummry {key} sum {declared[key]}, entries {computed}"
            )

    if not balances:
        return ControlTotals(
            total_credits=declared["credits"],
            total_debits=declared["debits"],
            entry_count=declared["count"],
        )
    opening, closing = balances["opening"][0], balances[CLOSING_CODE][0]
    booked = context.booked
    if booked.complete and opening + booked.net != closing:
        raise ParseError(
            codes.BALANCES_DO_NOT_TIE,
            f"opening {opening} + credits {booked.credits} − debits {booked.debits} = "
            f"{opening + booked.net}, closing balance is {closing}",
        )
    return ControlTotals(
        opening_balance=opening,
        closing_balance=closing,
        total_credits=declared["credits"],
        total_debits=declared["debits"],
        entry_count=declared["count"],
    )
