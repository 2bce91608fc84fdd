"""Every error code the statement parsers produce, in one place.

Callers branch on ``code``, never on a message. Two kinds::

    ParseError(code, message)            the file as a whole is refused
    ├── too_large                        above the size limit of :func:`parse`
    ├── unknown_format                   :func:`parse` was given a format it does not know
    ├── bad_encoding                     bytes are not text in the declared encoding
    ├── malformed_xml                    not well-formed XML
    ├── external_entity                  a DTD, entity or external reference (XXE); never expanded
    ├── unsupported_namespace            not camt.053/054 .001.02–.13 (e.g. camt.052, pain.001)
    ├── not_a_statement                  the expected message/statement element is absent
    ├── multiple_statements              more than one statement/notification in one file
    ├── malformed_csv                    CSV quoting broken (text after a closing quote)
    ├── malformed_mt940                  MT940 tags cannot be read
    ├── malformed_xlsx                   not an XLSX workbook, or the sheet is missing
    ├── formula_cell                     an XLSX cell holds a formula (not a bank's export)
    ├── multiple_sheets                  an XLSX with several worksheets and no ``sheet`` named
    ├── missing_column                   a required column is absent (the message names it)
    ├── duplicate_column                 two columns answer to one field
    ├── missing_balance                  a statement without opening or closing balance
    ├── missing_total                    the control total (trailer/header block) is absent
    ├── unknown_currency                 the statement/account currency is not VND
    ├── bad_amount                       a balance or control total is not an integer VND
    ├── bad_date                         the file's own declared date cannot be read
    ├── balances_do_not_tie              opening + credits − debits ≠ closing
    ├── count_mismatch                   the declared number of rows/entries differs
    └── totals_do_not_tie                a declared sum differs from the rows' sum

    RowError(line_no, code, message)     one row refused, the rest of the file stands
    ├── bad_amount                       empty, zero, fraction, misplaced separator, bad sign
    ├── bad_date                         empty or unreadable date
    ├── date_out_of_range                before 2000, or > 1 year after the file's reference date
    ├── unknown_currency                 a row currency other than VND
    ├── missing_field                    a required value is empty
    ├── bad_field                        a value outside its allowed set or shape (named)
    ├── bad_record                       a row/record that cannot be read at all
    ├── not_booked                       a bank entry that is pending/information only
    └── details_do_not_tie               camt transaction details do not sum to their entry;
                                         a COD row's remitted ≠ COD − fee
"""

from __future__ import annotations

from typing import Final

# File level.
TOO_LARGE: Final = "too_large"
UNKNOWN_FORMAT: Final = "unknown_format"
BAD_ENCODING: Final = "bad_encoding"
MALFORMED_XML: Final = "malformed_xml"
EXTERNAL_ENTITY: Final = "external_entity"
UNSUPPORTED_NAMESPACE: Final = "unsupported_namespace"
NOT_A_STATEMENT: Final = "not_a_statement"
MULTIPLE_STATEMENTS: Final = "multiple_statements"
MALFORMED_CSV: Final = "malformed_csv"
MALFORMED_MT940: Final = "malformed_mt940"
MALFORMED_XLSX: Final = "malformed_xlsx"
FORMULA_CELL: Final = "formula_cell"
MULTIPLE_SHEETS: Final = "multiple_sheets"
MISSING_COLUMN: Final = "missing_column"
DUPLICATE_COLUMN: Final = "duplicate_column"
MISSING_BALANCE: Final = "missing_balance"
MISSING_TOTAL: Final = "missing_total"
BALANCES_DO_NOT_TIE: Final = "balances_do_not_tie"
COUNT_MISMATCH: Final = "count_mismatch"
TOTALS_DO_NOT_TIE: Final = "totals_do_not_tie"

# Row level (the first three also serve at file level for balances and declared dates).
BAD_AMOUNT: Final = "bad_amount"
BAD_DATE: Final = "bad_date"
UNKNOWN_CURRENCY: Final = "unknown_currency"
DATE_OUT_OF_RANGE: Final = "date_out_of_range"
MISSING_FIELD: Final = "missing_field"
BAD_FIELD: Final = "bad_field"
BAD_RECORD: Final = "bad_record"
NOT_BOOKED: Final = "not_booked"
DETAILS_DO_NOT_TIE: Final = "details_do_not_tie"

FILE_CODES: Final[frozenset[str]] = frozenset(
    {
        TOO_LARGE,
        UNKNOWN_FORMAT,
        BAD_ENCODING,
        MALFORMED_XML,
        EXTERNAL_ENTITY,
        UNSUPPORTED_NAMESPACE,
        NOT_A_STATEMENT,
        MULTIPLE_STATEMENTS,
        MALFORMED_CSV,
        MALFORMED_MT940,
        MALFORMED_XLSX,
        FORMULA_CELL,
        MULTIPLE_SHEETS,
        MISSING_COLUMN,
        DUPLICATE_COLUMN,
        MISSING_BALANCE,
        MISSING_TOTAL,
        UNKNOWN_CURRENCY,
        BAD_AMOUNT,
        BAD_DATE,
        BALANCES_DO_NOT_TIE,
        COUNT_MISMATCH,
        TOTALS_DO_NOT_TIE,
    }
)
ROW_CODES: Final[frozenset[str]] = frozenset(
    {
        BAD_AMOUNT,
        BAD_DATE,
        DATE_OUT_OF_RANGE,
        UNKNOWN_CURRENCY,
        MISSING_FIELD,
        BAD_FIELD,
        BAD_RECORD,
        NOT_BOOKED,
        DETAILS_DO_NOT_TIE,
    }
)
