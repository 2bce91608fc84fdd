"""camt.053/054: what is read from a statement, and every way a file is refused."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import pytest
from recon_parse_helpers import ACCOUNT, D, bank_line, data, edited, refused, row_errors, text

from reconciliation.model import ControlTotals, Direction, Source, StatementLine
from reconciliation.parsers import parse_camt053, parse_camt054

SAMPLE_053_LINES = (
    bank_line(
        1,
        150000,
        provider_txn_id="FT24136000001",
        text="MBVCB.5678901234.DVCAH0YN0WQ1NM Thanh toan le phi CT tu 0123456789 NGUYEN VAN A toi 0011001234567",
        extra={
            "entry_ref": "1",
            "counterparty_name": "NGUYEN VAN A",
            "counterparty_account": "0123456789",
        },
    ),
    bank_line(
        2,
        2500000,
        provider_txn_id="FT24136000002",
        end_to_end_id="VNPAY-DVCHN001-20240514",
        text="VNPAY TT GD NGAY 14/05/2024 TMN DVCHN001",
        extra={"entry_ref": "2", "counterparty_name": "CONG TY CP GIAI PHAP THANH TOAN VIET NAM"},
    ),
    bank_line(
        3,
        100000,
        provider_txn_id="FT24136000004-1",
        text="IBFT DVCEW0DD1D12WV nop phi ho so",
        extra={"entry_ref": "3", "tx_index": "1"},
    ),
    bank_line(
        3,
        200000,
        provider_txn_id="FT24136000004-2",
        text="IBFT DVCSX536KV5KGV nop le phi",
        extra={"entry_ref": "3", "tx_index": "2"},
    ),
    bank_line(
        4,
        22000,
        Direction.DEBIT,
        provider_txn_id="FT24136000003",
        text="PHI QUAN LY TAI KHOAN THANG 05/2024",
        extra={"entry_ref": "4"},
    ),
)


def _053(**replacements: str) -> bytes:
    return edited("camt053_2024-05-15.xml", *replacements.items())


def _053_with(old: str, new: str, count: int = 1) -> bytes:
    xml = text("camt053_2024-05-15.xml")
    assert xml.count(old) >= count, old
    return xml.replace(old, new, count).encode()


# --- happy paths -------------------------------------------------------------------------


def test_camt053_sample_gives_one_line_per_transaction_detail_with_balances() -> None:
    parsed = parse_camt053(data("camt053_2024-05-15.xml"))

    assert parsed.lines == SAMPLE_053_LINES
    assert parsed.errors == ()
    assert parsed.control == ControlTotals(
        opening_balance=10000000,
        closing_balance=12928000,
        total_credits=2950000,
        total_debits=22000,
        entry_count=4,
    )
    assert (parsed.source, parsed.account, parsed.currency) == (Source.BANK, ACCOUNT, "VND")
    assert (parsed.period_start, parsed.period_end, parsed.format) == (D, D, "camt.053.001.08")


def test_camt054_notification_is_read_without_balances() -> None:
    parsed = parse_camt054(data("camt054_2024-05-15.xml"))

    assert parsed.lines == (
        bank_line(
            1,
            150000,
            provider_txn_id="FT24136000001",
            text="MBVCB.5678901234.DVCAH0YN0WQ1NM Thanh toan le phi",
            extra={"counterparty_name": "NGUYEN VAN A", "counterparty_account": "0123456789"},
        ),
    )
    assert parsed.control == ControlTotals()
    assert parsed.format == "camt.054.001.02"


def test_camt053_version_02_with_text_status_negative_opening_and_pending_entry() -> None:
    parsed = parse_camt053(data("camt053_v02_old_style.xml"))

    assert parsed.lines == (
        StatementLine(
            source=Source.BANK,
            line_no=1,
            amount=500000,
            direction=Direction.CREDIT,
            booking_date=D,
            value_date=date(2024, 5, 16),
            provider_txn_id="BIDV240515-0091",
            end_to_end_id="E2E-DVCPD3XRR51SWZ",
            text="DVCPD3XRR51SWZ LE PHI",
            account="VN12BIDV0000021100012345",
            extra={
                "counterparty_name": "TRAN THI B",
                "counterparty_account": "VN55VCB0000001234567890",
            },
        ),
    )
    # The pending entry is reported, not dropped, and kept out of the balances.
    assert [(e.line_no, e.code) for e in parsed.errors] == [(2, "not_booked")]
    assert "70000" in parsed.errors[0].message
    assert parsed.control.opening_balance == -50000
    assert parsed.control.closing_balance == 450000


@pytest.mark.parametrize("version", ["02", "04", "06", "08", "10", "13"])
def test_camt053_is_accepted_in_every_supported_version(version: str) -> None:
    parsed = parse_camt053(_053_with("camt.053.001.08", f"camt.053.001.{version}"))

    assert parsed.lines == SAMPLE_053_LINES
    assert parsed.format == f"camt.053.001.{version}"


def test_namespace_prefix_and_envelope_do_not_matter() -> None:
    namespace = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
    xml = text("camt053_2024-05-15.xml").partition("\n")[2]  # without the XML declaration
    xml = xml.replace("<", "<c:").replace("<c:/", "</c:").replace("<c:!--", "<!--")
    xml = xml.replace(f'<c:Document xmlns="{namespace}">', f'<c:Document xmlns:c="{namespace}">')
    wrapped = f'<Envelope xmlns="urn:example:bank"><AppHdr/>{xml}</Envelope>'

    assert parse_camt053(wrapped.encode()).lines == SAMPLE_053_LINES


def test_debit_balance_is_negative_and_ties() -> None:
    crdt = '<Amt Ccy="VND">{}</Amt>\n        <CdtDbtInd>CRDT</CdtDbtInd>'
    dbit = '<Amt Ccy="VND">{}</Amt>\n        <CdtDbtInd>DBIT</CdtDbtInd>'
    xml = _053(
        **{
            crdt.format(10000000): dbit.format(3000000),
            crdt.format(12928000): dbit.format(72000),
        }
    )

    parsed = parse_camt053(xml)

    assert (parsed.control.opening_balance, parsed.control.closing_balance) == (-3000000, -72000)


# --- refused files -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "xml",
    [
        b"",
        b"<Document",
        b"<a><b></a>",
        b"not xml at all",
        "<Document>\u00e9</Document>".encode("latin-1"),
    ],
    ids=["empty", "truncated", "mismatched-tags", "text", "wrong-encoding"],
)
def test_malformed_xml_is_refused(xml: bytes) -> None:
    assert refused(lambda: parse_camt053(xml)).code == "malformed_xml"


_SECRET = "TOP-SECRET-d41d8cd98f00"
_opened: list[str] = []


def _record_opens(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and args and isinstance(args[0], str | bytes | Path):
        _opened.append(str(args[0]))


sys.addaudithook(_record_opens)  # audit hooks cannot be removed; this one only records


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file://{path}">]>',
        '<!DOCTYPE Document [<!ENTITY xxe SYSTEM "{path}">]>',
        '<!DOCTYPE Document [<!ENTITY % ext SYSTEM "file://{path}"> %ext;]>',
        '<!DOCTYPE Document SYSTEM "file://{path}">',
    ],
    ids=["general-entity-url", "general-entity-path", "parameter-entity", "external-dtd"],
)
def test_external_entity_is_refused_and_the_file_is_never_read(
    tmp_path: Path, doctype: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(_SECRET, encoding="utf-8")
    body = text("camt053_2024-05-15.xml").replace(
        "<Ustrd>IBFT DVCSX536KV5KGV nop le phi</Ustrd>", "<Ustrd>&xxe;</Ustrd>"
    )
    head, _, rest = body.partition("\n")
    xml = f"{head}\n{doctype.format(path=secret)}\n{rest}".encode()
    _opened.clear()

    error = refused(lambda: parse_camt053(xml))

    assert error.code == "external_entity"
    assert _SECRET not in error.message
    assert str(secret) not in _opened


def test_entity_expansion_bomb_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&lol2;</Document>'
    )
    assert refused(lambda: parse_camt053(bomb.encode())).code == "external_entity"


@pytest.mark.parametrize(
    ("name", "parser"),
    [
        ("camt052_intraday.xml", parse_camt053),
        ("pain001_credit_transfer.xml", parse_camt053),
        ("camt054_2024-05-15.xml", parse_camt053),
        ("camt053_2024-05-15.xml", parse_camt054),
    ],
    ids=["camt052", "pain001", "054-as-053", "053-as-054"],
)
def test_wrong_message_type_is_an_unsupported_namespace(name: str, parser: object) -> None:
    assert callable(parser)
    assert refused(lambda: parser(data(name))).code == "unsupported_namespace"


@pytest.mark.parametrize(
    "namespace",
    [
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.01",
        "urn:iso:std:iso:20022:tech:xsd:camt.053.001.14",
        "urn:iso:std:iso:20022:tech:xsd:camt.053.002.08",
        "urn:example:camt.053.001.08",
    ],
    ids=["version-01", "version-14", "variant-002", "foreign"],
)
def test_unsupported_version_or_foreign_namespace_is_refused(namespace: str) -> None:
    xml = _053_with("urn:iso:std:iso:20022:tech:xsd:camt.053.001.08", namespace)
    assert refused(lambda: parse_camt053(xml)).code == "unsupported_namespace"


def test_document_without_namespace_is_refused() -> None:
    xml = _053_with(' xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"', "")
    assert refused(lambda: parse_camt053(xml)).code == "unsupported_namespace"


def test_balances_that_do_not_tie_refuse_the_statement() -> None:
    xml = _053(**{'<Amt Ccy="VND">12928000</Amt>': '<Amt Ccy="VND">12929000</Amt>'})

    error = refused(lambda: parse_camt053(xml))

    assert error.code == "balances_do_not_tie"
    assert "12928000" in error.message and "12929000" in error.message


def test_entry_count_that_differs_from_the_summary_is_a_count_mismatch() -> None:
    xml = _053(**{"<NbOfNtries>4</NbOfNtries>": "<NbOfNtries>5</NbOfNtries>"})
    assert refused(lambda: parse_camt053(xml)).code == "count_mismatch"


def test_credit_count_that_differs_from_the_summary_is_a_count_mismatch() -> None:
    xml = _053(**{"<NbOfNtries>3</NbOfNtries>": "<NbOfNtries>2</NbOfNtries>"})
    assert refused(lambda: parse_camt053(xml)).code == "count_mismatch"


def test_credit_sum_that_differs_from_the_summary_does_not_tie() -> None:
    xml = _053(**{"<Sum>2950000</Sum>": "<Sum>2950001</Sum>"})
    assert refused(lambda: parse_camt053(xml)).code == "totals_do_not_tie"


def test_statement_without_closing_balance_is_refused() -> None:
    xml = _053(**{"<Cd>CLBD</Cd>": "<Cd>ITBD</Cd>"})
    assert refused(lambda: parse_camt053(xml)).code == "missing_balance"


def test_two_statements_in_one_file_are_refused() -> None:
    xml = text("camt053_2024-05-15.xml")
    start, end = xml.index("    <Stmt>"), xml.index("</Stmt>") + len("</Stmt>")
    doubled = xml[:end] + "\n" + xml[start:end] + xml[end:]
    assert refused(lambda: parse_camt053(doubled.encode())).code == "multiple_statements"


def test_document_without_statement_is_not_a_statement() -> None:
    xml = text("camt053_2024-05-15.xml")
    start, end = xml.index("    <Stmt>"), xml.index("</Stmt>") + len("</Stmt>")
    assert (
        refused(lambda: parse_camt053((xml[:start] + xml[end:]).encode())).code == "not_a_statement"
    )


def test_account_in_another_currency_is_refused() -> None:
    xml = _053(**{"<Ccy>VND</Ccy>": "<Ccy>USD</Ccy>"})
    assert refused(lambda: parse_camt053(xml)).code == "unknown_currency"


# --- refused entries ---------------------------------------------------------------------


def _054_entry(**replacements: str) -> bytes:
    return edited("camt054_2024-05-15.xml", *replacements.items())


@pytest.mark.parametrize(
    ("amount", "reason"),
    [
        ("150000.50", "fraction"),
        ("150,000", "not an integer"),
        ("1,50,000", "not an integer"),
        ("-150000", "negative"),
        ("", "empty"),
        ("0", "zero"),
    ],
)
def test_entry_amount_that_is_not_whole_positive_vnd_is_a_bad_amount(
    amount: str, reason: str
) -> None:
    parsed = parse_camt054(
        _054_entry(**{'<Amt Ccy="VND">150000</Amt>': f'<Amt Ccy="VND">{amount}</Amt>'})
    )

    assert parsed.lines == ()
    assert row_errors(parsed) == [(1, "bad_amount")]
    assert reason in parsed.errors[0].message


def test_whole_amount_with_zero_decimals_is_accepted() -> None:
    parsed = parse_camt054(
        _054_entry(**{'<Amt Ccy="VND">150000</Amt>': '<Amt Ccy="VND">150000.00</Amt>'})
    )
    assert [line.amount for line in parsed.lines] == [150000]


def test_entry_in_another_currency_is_an_unknown_currency() -> None:
    parsed = parse_camt054(_054_entry(**{'<Amt Ccy="VND">150000</Amt>': '<Amt Ccy="USD">6</Amt>'}))
    assert row_errors(parsed) == [(1, "unknown_currency")]


@pytest.mark.parametrize(
    ("booking", "code"),
    [
        ("<Dt>2024-02-30</Dt>", "bad_date"),
        ("<Dt>15/05/2024</Dt>", "bad_date"),
        ("<DtTm>yesterday</DtTm>", "bad_date"),
        ("<Dt>1999-12-31</Dt>", "date_out_of_range"),
        ("<Dt>2025-05-16</Dt>", "date_out_of_range"),
    ],
)
def test_bad_or_implausible_booking_date_is_reported(booking: str, code: str) -> None:
    parsed = parse_camt054(
        _054_entry(
            **{
                "<BookgDt><DtTm>2024-05-15T08:31:12+07:00</DtTm></BookgDt>": f"<BookgDt>{booking}</BookgDt>"
            }
        )
    )
    assert row_errors(parsed) == [(1, code)]


def test_date_one_year_after_the_notification_is_still_accepted() -> None:
    parsed = parse_camt054(
        _054_entry(
            **{
                "<BookgDt><DtTm>2024-05-15T08:31:12+07:00</DtTm></BookgDt>": "<BookgDt><Dt>2025-05-15</Dt></BookgDt>"
            }
        )
    )
    assert [line.booking_date for line in parsed.lines] == [date(2025, 5, 15)]


def test_booking_time_is_taken_as_a_vietnamese_business_date() -> None:
    parsed = parse_camt054(
        _054_entry(
            **{
                "2024-05-15T08:31:12+07:00</DtTm></BookgDt>": "2024-05-14T18:30:00Z</DtTm></BookgDt>"
            }
        )
    )
    assert [line.booking_date for line in parsed.lines] == [D]


def test_entry_without_any_date_is_a_missing_field() -> None:
    parsed = parse_camt054(
        _054_entry(
            **{
                "<BookgDt><DtTm>2024-05-15T08:31:12+07:00</DtTm></BookgDt>": "",
                "<ValDt><Dt>2024-05-15</Dt></ValDt>": "",
            }
        )
    )
    assert row_errors(parsed) == [(1, "missing_field")]


def test_unknown_credit_debit_indicator_is_a_bad_field() -> None:
    parsed = parse_camt054(
        _054_entry(**{"<CdtDbtInd>CRDT</CdtDbtInd>": "<CdtDbtInd>PLUS</CdtDbtInd>"})
    )
    assert row_errors(parsed) == [(1, "bad_field")]


def test_batch_entry_whose_details_do_not_sum_to_it_is_refused_and_does_not_tie() -> None:
    xml = _053(**{'<TxAmt><Amt Ccy="VND">200000</Amt>': '<TxAmt><Amt Ccy="VND">190000</Amt>'})

    parsed = parse_camt053(xml)

    assert row_errors(parsed) == [(3, "details_do_not_tie")]
    assert [line.line_no for line in parsed.lines] == [1, 2, 4]
    # The entry's own amount still counts for the balances: the statement ties.
    assert parsed.control.closing_balance == 12928000


def test_bad_entry_amount_leaves_the_balances_unchecked_but_reported() -> None:
    xml = _053(**{'<Amt Ccy="VND">22000</Amt>': '<Amt Ccy="VND">22000.5</Amt>'})

    parsed = parse_camt053(xml)

    assert row_errors(parsed) == [(4, "bad_amount")]
    assert len(parsed.lines) == 4
