"""Response bodies and queries of the same-day receipt summaries (form 01/TH-BLĐT)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from gateway.core.fields import Page, PageSize, QueryModel, ResponseModel, Time
from gateway.core.statuses import ReceiptSummaryStatus
from gateway.models.payments import public_id

SummaryId = Annotated[str, public_id("rsm")]


class SummaryReason(ResponseModel):
    code: str = Field(description="The tax authority's reason code")
    message: str = Field(description="Its text, in Vietnamese")


class SummaryOutage(ResponseModel):
    """A technical outage (NĐ 254/2026 Điều 27): no answer from the first failed try until
    the answer that ended it; the summary must be sent within 3 working days after the fix"""

    started_at: Time = Field(description="The first try that got no answer")
    ended_at: Time | None = Field(description="The answer that ended it; null while it lasts")
    deadline: date | None = Field(
        description="The third working day after the fix; null while the outage lasts"
    )


class ReceiptSummary(ResponseModel):
    id: SummaryId
    agency_code: str
    tax_code: str = Field(description="Mã số thuế of the agency (field [05])")
    business_date: date = Field(description="The day summarised (Asia/Ho_Chi_Minh)")
    revision: int = Field(
        description="1, then one more per re-send after a rejection or correction"
    )
    correction_of: SummaryId | None = Field(
        description="The accepted summary this revision corrects (an explicit correction)"
    )
    status: ReceiptSummaryStatus = Field(
        description="`unsent` (waiting, or sent without an answer: sent again with back-off), "
        "`accepted`, `rejected` (see `reasons`; correct and send the day again), `failed` "
        "(a message that cannot be sent as it is), `superseded` (a later revision replaced it)"
    )
    row_count: int = Field(description="Rows of the table: receipts issued, replaced, notified")
    amount: int = Field(description="Sum of the rows, in VND")
    message_id: str = Field(description="The message id (MNGui + UUID); the same on every re-send")
    attempts: int = Field(description="Sends so far")
    next_try_at: Time | None = Field(description="When an unsent summary is sent next")
    last_error: str | None = Field(
        description="`outcome_unknown` (no answer), `unavailable`, `malformed`, `too_large`, …"
    )
    reasons: list[SummaryReason] = Field(description="Why the tax authority rejected it")
    reference: str | None = Field(description="The tax authority's answer id when accepted")
    outage: SummaryOutage | None
    created_at: Time
    updated_at: Time


class ReceiptSummaryPage(Page[ReceiptSummary]):
    """A page of summaries, newest first."""


class ReceiptSummaryQuery(QueryModel):
    business_date: date | None = Field(None, description="The day summarised, YYYY-MM-DD")
    agency_code: str | None = Field(None, description="one of the caller's agencies")
    status: ReceiptSummaryStatus | None = None
    limit: PageSize = 20
    cursor: str | None = Field(None, description="next_cursor of the previous page")
