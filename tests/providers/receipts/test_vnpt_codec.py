"""The VNPT wire protocol, pure: the SOAP call VNPT expects, its answers, its ERR codes."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from receipt_samples import make_replacement

from providers.receipts.vnpt import VnptError, VnptInvoice, VnptLine, codec, results
from providers.receipts.vnpt.codec import Credentials, Published

CREDENTIALS = Credentials("dvc_service", "service-pass", "dvc_admin", "admin-pass")
INVOICE = VnptInvoice(
    fkey="rct_0001",
    customer_code="H29.22-241122-0001",
    customer_name="Nguyễn Văn An",
    arising_date=date(2026, 1, 5),
    lines=(VnptLine("Lệ phí cấp đổi GPLX", 135_000, is_charge=True, code="L01"),),
    total=135_000,
    amount_in_words="Một trăm ba mươi lăm nghìn đồng",
)


def test_publish_is_a_soap_call_to_the_publish_service_with_every_parameter_in_order() -> None:
    request = codec.build_publish(CREDENTIALS, INVOICE, "EBL01", "26TAB")

    assert request.path == "/PublishService.asmx"
    assert request.action == "http://tempuri.org/ImportAndPublishInv"
    operation, params = codec.parse_call(request.body)
    assert operation == "ImportAndPublishInv"
    assert list(params) == [
        "Account",
        "ACpass",
        "xmlInvData",
        "username",
        "password",
        "pattern",
        "serial",
        "convert",
    ]
    assert (params["pattern"], params["serial"], params["convert"]) == ("EBL01", "26TAB", "0")
    assert params["xmlInvData"].startswith("<Invoices><Inv><key>rct_0001</key><Invoice>")
    assert "<ArisingDate>05/01/2026</ArisingDate>" in params["xmlInvData"]
    assert "<Extra2>1</Extra2>" in params["xmlInvData"]  # a lệ phí


def test_the_invoice_data_reads_back_as_it_was_written() -> None:
    assert codec.parse_invoice_data(codec.invoice_data(INVOICE)) == (INVOICE,)


def test_an_ok_answer_gives_pattern_serial_and_number() -> None:
    published = codec.parse_published("OK:EBL01;26TAB-rct_0001_0000021", "rct_0001")
    assert published == Published("rct_0001", "EBL01", "26TAB", 21)


def test_an_ok_answer_about_another_fkey_is_malformed() -> None:
    with pytest.raises(VnptError) as caught:
        codec.parse_published("OK:EBL01;26TAB-rct_0002_1", "rct_0001")
    assert caught.value.code == "malformed"


@pytest.mark.parametrize(
    ("answer", "code"),
    [("ERR:1", "unauthorized"), ("ERR:13", "duplicate_key"), ("ERR:20", "rejected")],
)
def test_err_codes_of_a_publish_become_stable_errors(answer: str, code: str) -> None:
    with pytest.raises(VnptError) as caught:
        codec.parse_published(answer, "rct_0001")
    assert (caught.value.code, caught.value.provider_code) == (code, answer)
    assert caught.value.message_vi


def test_an_err_code_missing_from_the_table_is_rejected_as_unknown() -> None:
    with pytest.raises(VnptError) as caught:
        codec.parse_published("ERR:99", "rct_0001")
    assert caught.value.code == "rejected"
    assert caught.value.message_vi == "Lỗi không xác định từ hệ thống biên lai điện tử VNPT"


def test_a_soap_answer_without_its_result_is_malformed() -> None:
    body = codec.build_response("cancelInv", "OK:")
    with pytest.raises(VnptError) as caught:
        codec.parse_result(200, body, "ImportAndPublishInv")
    assert caught.value.code == "malformed"
    assert codec.parse_result(200, body, "cancelInv") == "OK:"


def test_a_look_up_with_an_entity_declaration_is_refused() -> None:
    hostile = '<!DOCTYPE d [<!ENTITY x "y">]><Data><Item><fkey>&x;</fkey></Item></Data>'
    with pytest.raises(VnptError) as caught:
        codec.parse_lookup(hostile, "rct_0001")
    assert caught.value.code == "malformed"


def test_the_passwords_a_call_carries_never_print() -> None:
    request = codec.build_publish(CREDENTIALS, INVOICE, "EBL01", "26TAB")
    for shown in (repr(CREDENTIALS), repr(request), str(request)):
        assert "service-pass" not in shown and "admin-pass" not in shown


def test_a_replacement_names_the_receipt_it_replaces_and_reads_back() -> None:
    replaces = codec.VnptReference("rct_0001", "EBL01", "26TAB", 7, date(2026, 1, 5))
    replacement = dataclasses.replace(INVOICE, fkey="rct_0002", replaces=replaces)

    request = codec.build_publish(CREDENTIALS, replacement, "EBL01", "26TAB")

    operation, params = codec.parse_call(request.body)
    assert operation == codec.REPLACEMENT_OPERATION
    data = params["xmlInvData"]
    assert (
        "<ReplacedFkey>rct_0001</ReplacedFkey><ReplacedPattern>EBL01</ReplacedPattern>"
        "<ReplacedSerial>26TAB</ReplacedSerial><ReplacedNo>7</ReplacedNo>"
        "<ReplacedDate>05/01/2026</ReplacedDate>"
    ) in data
    assert codec.parse_invoice_data(data) == (replacement,)


def test_a_replacement_document_needs_the_key_of_the_receipt_it_replaces() -> None:
    with pytest.raises(VnptError) as caught:
        codec.invoice_from_document(make_replacement())
    assert caught.value.code == "invalid_field"

    invoice = codec.invoice_from_document(make_replacement(), replaces_fkey="rct_original")
    assert invoice.replaces is not None
    assert (invoice.replaces.fkey, invoice.replaces.serial) == ("rct_original", "26TAB")


def test_err_8_of_a_replacement_is_a_rejection_staff_can_read() -> None:
    with pytest.raises(VnptError) as caught:
        codec.parse_published("ERR:8", "rct_0002", results.REPLACE)
    assert (caught.value.code, caught.value.provider_code) == ("rejected", "ERR:8")
    assert "thay thế" in caught.value.message_vi
