"""Every XML name of the gateway's e-receipt documents, as data, in one versioned module.

``/work/shared/specs/e-receipts.md`` §9: TT 91/2026 Điều 18 makes an e-voucher an XML
document of business data plus signature data; QĐ 1271/QĐ-CT (the last published format,
30/05/2025) fixes UTF-8, ``YYYY-MM-DD`` dates, ``YYYY-MM-DDThh:mm:ss`` times in GMT+7, the
``TTChung`` (general information) + ``DLieu`` (data) envelope and the XML-DSig placement
(``SigningTime`` in ``Signature/Object/SignatureProperties/SignatureProperty``,
``X509SubjectName`` + ``X509Certificate`` in ``KeyInfo/X509Data``) — these are **[V]**.

The per-field tag names below are **[U]** (unverified: no reliable copy of QĐ 1271's tag
tables and no published XSD for biên lai exists, spec §9 and §12.1). They follow the naming
habit of the Vietnamese e-invoice formats (abbreviated Vietnamese, e.g. ``KHMSBLai``). When
Cục Thuế publishes an XSD, write a new version of this module (a new :data:`SCHEMA_VERSION`)
and keep the old one for documents already issued; the builders read names only from here.
"""

from __future__ import annotations

from typing import Final

#: Written in every document (``TTChung/PBan``) so a reader knows which names it holds. [U]
SCHEMA_VERSION: Final = "gateway-ebl/1"
#: Not an official namespace: the documents use none until a published XSD names one. [U]
NAMESPACE: Final[str | None] = None

#: Timezone of every date and time in the documents (GMT+7, QĐ 1271). [V]
TIMEZONE: Final = "Asia/Ho_Chi_Minh"
DATE_FORMAT: Final = "%Y-%m-%d"  # [V]
DATETIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S"  # [V]
#: Largest message accepted by the tax authority (QĐ 1271). [V]
MAX_MESSAGE_BYTES: Final = 2 * 1024 * 1024

#: The attribute that names the signed element; the signature's Reference points at it
#: (``URI="#<id>"``). XML-DSig details of this kind are [U] (spec §9).
ID_ATTRIBUTE: Final = "Id"

# -- the envelope -------------------------------------------------------------------------
ENVELOPE: Final = {
    "receipt_root": "BLDT",  # [U] biên lai điện tử
    "summary_root": "BTHDLieu",  # [U] bảng tổng hợp dữ liệu
    "notice_root": "TBSSot",  # [U] thông báo biên lai điện tử có sai sót (04/SS-CTĐT)
    "general": "TTChung",  # [V] thông tin chung
    "data": "DLieu",  # [V] dữ liệu
    "signatures": "DSCKS",  # [U] danh sách chữ ký số (the signature's parent)
}

# -- TTChung of a receipt -----------------------------------------------------------------
RECEIPT_GENERAL: Final = {
    "version": "PBan",  # [U] phiên bản
    "title": "THDon",  # [U] tên biên lai
    "template_code": "KHMSBLai",  # [U] ký hiệu mẫu số biên lai
    "symbol": "KHBLai",  # [U] ký hiệu biên lai
    "number": "SBLai",  # [U] số biên lai
    "issued_on": "NLap",  # [U] ngày lập (date)
    "issued_at": "TGLap",  # [U] thời gian lập (dateTime, GMT+7)
    "currency": "DVTTe",  # [U] đơn vị tiền tệ
    "receipt_id": "MBLai",  # [U] our id of the receipt
    "related": "TTBLLQuan",  # [U] thông tin biên lai liên quan (the replaced receipt)
    "related_kind": "TCBLai",  # [U] tính chất: "thay thế"
    "related_template_code": "KHMSBLLQuan",  # [U]
    "related_symbol": "KHBLLQuan",  # [U]
    "related_number": "SBLLQuan",  # [U]
    "related_issued_on": "NLBLLQuan",  # [U]
}

# -- DLieu of a receipt -------------------------------------------------------------------
RECEIPT_DATA: Final = {
    "collector": "NThu",  # [U] người thu (the collecting agency)
    "collector_name": "Ten",  # [U]
    "collector_tax_code": "MST",  # [U]
    "collector_address": "DChi",  # [U]
    # The delegate that issues on the collector's behalf (NĐ 254/2026 Điều 4.6, spec §8): the
    # spec requires its name and address on the receipt [V] but names no element [U].
    "delegate": "TCNUNhiem",  # [U] tổ chức nhận ủy nhiệm lập biên lai
    "delegate_name": "Ten",  # [U]
    "delegate_tax_code": "MST",  # [U]
    "delegate_address": "DChi",  # [U]
    "payer": "NNop",  # [U] người nộp
    "payer_name": "Ten",  # [U]
    "payer_id_number": "SDDanh",  # [U] số định danh (CCCD)
    "payer_tax_code": "MST",  # [U]
    "payer_address": "DChi",  # [U]
    "dossier_code": "MaHoSo",  # [U] the name DVCQG uses for the dossier code
    "procedure_name": "TTHC",  # [U] thủ tục hành chính
    "channel": "HTTToan",  # [U] hình thức thanh toán
    "transaction_reference": "MGDich",  # [U] mã giao dịch
    "lines": "DSKThu",  # [U] danh sách khoản thu
    "line": "KThu",  # [U] khoản thu
    "line_number": "STT",  # [U]
    "line_kind": "TChat",  # [U] tính chất: phí / lệ phí / bưu chính
    "line_code": "MKThu",  # [U]
    "line_name": "TKThu",  # [U] tên khoản thu
    "line_amount": "STien",  # [U]
    "total": "TgTTTBSo",  # [U] tổng tiền thanh toán bằng số
    "total_in_words": "TgTTTBChu",  # [U] tổng tiền thanh toán bằng chữ
    "note": "GChu",  # [U] ghi chú
}

#: The title printed on a receipt (NĐ 254 Điều 23.2.a). [U] exact wording
RECEIPT_TITLE: Final = "BIÊN LAI THU PHÍ, LỆ PHÍ"
#: ``ReceiptLine.kind`` → the word written in ``TChat``. [U]
LINE_KINDS: Final = {"fee": "Phí", "charge": "Lệ phí", "postal": "Cước bưu chính"}
#: The kind of a related receipt: a replacement (TT 91 Điều 20). [V] the act, [U] the word
RELATED_REPLACED: Final = "Thay thế"
CURRENCY: Final = "VND"

# -- the daily summary, form 01/TH-BLĐT (TT 91/2026 Điều 4.6.d, spec §6) --------------------
SUMMARY_GENERAL: Final = {
    "version": "PBan",  # [U]
    "form": "MSo",  # [U] mẫu số
    "title": "Ten",  # [U]
    "business_date": "NTHop",  # [U] ngày tổng hợp
    "created_at": "TGLap",  # [U]
    "collector_name": "TNNT",  # [U] tên người nộp thuế
    "collector_tax_code": "MST",  # [V] field [05] is the tax code; the tag name is [U]
    "currency": "DVTTe",  # [U]
}
SUMMARY_FORM: Final = "01/TH-BLĐT"  # [V]
SUMMARY_TITLE: Final = "BẢNG TỔNG HỢP DỮ LIỆU BIÊN LAI ĐIỆN TỬ"  # [V] wording, [U] case
#: The table and its 13 columns (spec §6, columns (1)..(13)); the names are [U].
SUMMARY_DATA: Final = {
    "rows": "DSBLai",
    "row": "BLai",
    "row_number": "STT",  # (1)
    "template_code": "KHMSBLai",  # (2)
    "symbol": "KHBLai",  # (3)
    "number": "SBLai",  # (4)
    "issued_on": "NLap",  # (5)
    "fee_name": "TLPhi",  # (6)
    "amount": "STien",  # (7)
    "exchange_rate": "TGia",  # (8)
    "status": "TThai",  # (9) allowed values [U] (spec §12.2)
    "correction_period": "KDChinh",  # (10)
    "related": "TTBLLQuan",  # (11)
    "explanation": "GTrinh",  # (12)
    "note": "GChu",  # (13)
    "related_template_code": "KHMSBLai",
    "related_symbol": "KHBLai",
    "related_number": "SBLai",
    "related_issued_on": "NLap",
}

# -- the notice of receipt errors, form 04/SS-CTĐT (TT 91/2026 Điều 20, spec §7) ---------------
#: The spec names the form and what it is for (an error in the name, the address, the amount
#: in words or other content, not in the tax code or the amount: "notify the tax office with
#: Mẫu 04/SS-CTĐT") [V]; its fields and names are not in the spec [U]. They follow the
#: e-invoice error notice (04/SS-HĐĐT) of the previous regime: a header naming the collector
#: and the date, then one row per receipt concerned with its template, symbol, number and
#: date, the nature of the notice, the kind of error and the reason.
NOTICE_GENERAL: Final = {
    "version": "PBan",  # [U]
    "form": "MSo",  # [V] the form 04/SS-CTĐT; the tag name is [U]
    "title": "Ten",  # [U]
    "notified_on": "NTBao",  # [U] ngày thông báo (date)
    "created_at": "TGLap",  # [U]
    "collector_name": "TNNT",  # [U] tên người nộp thuế
    "collector_tax_code": "MST",  # [U]
}
NOTICE_FORM: Final = "04/SS-CTĐT"  # [V]
NOTICE_TITLE: Final = "THÔNG BÁO BIÊN LAI ĐIỆN TỬ CÓ SAI SÓT"  # [U] wording
NOTICE_DATA: Final = {
    "rows": "DSBLai",  # [U]
    "row": "BLai",  # [U]
    "row_number": "STT",  # [U]
    "template_code": "KHMSBLai",  # [U] the receipt's template (spec §3)
    "symbol": "KHBLai",  # [U] the receipt's symbol
    "number": "SBLai",  # [U] the receipt's number
    "issued_on": "NLap",  # [U] the receipt's date of issue
    "nature": "TCTBao",  # [U] tính chất thông báo
    "error_kind": "LSSot",  # [U] loại sai sót: which content was wrong
    "reason": "LDo",  # [U] lý do
}
#: The nature of the notice: an explanation of an error, no re-issue (TT 91 Điều 20 allows
#: only notify or replace for receipts). [V] the act, [U] the word and whether it is a code.
NOTICE_NATURE: Final = "Giải trình"

# -- the signature (XML-DSig; placement [V], the rest [U]) ---------------------------------
SIGNATURE: Final = {
    "signing_time": "SigningTime",  # [V]
    "signature_properties_id": "SigningTimeProperties",  # [U] Id of SignatureProperties
}
