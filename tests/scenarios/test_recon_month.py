"""A month in the life of reconciliation (issue 10), on SQLite and on PostgreSQL.

30 business days, 3 agencies. Every day citizens pay through VietQR (a bank credit notice),
VNPAY (an IPN) and POS (the sandbox card cloud calling back); every next morning the
counterparts' files arrive — camt.053 from two collection banks, a CSV export (read with a
mapping) from the third, VNPAY's day file, the acquirer's POS settlement and the treasury's
records — some of them a day late, uploaded twice or overlapping an intraday export, with the
discrepancies :mod:`month_plan` injects from a seeded ``random.Random``. Finance staff run and
re-run the days, one person (Lan) resolves, another (Minh) approves or rejects, and each day
is closed three mornings later.

Everything goes through the services the app and the CLI share (``build_services``, reached
as the app's ``SERVICES``): payments, callbacks, imports, runs, the workflow and the report.
At the end the scenario states, per day, the exact set of exceptions (type, ledger lines,
statement lines, amount) the plan injected; that every decision survived every re-run; that
no line is an exception on two days; and that each closed day's report ties to the
statements. Every failure names the day, the line and what was expected against what was
found; all of them are listed at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from conftest import (
    AGENCY_BIN,
    BANK_SECRET,
    POS_MERCHANT,
    VNPAY_SECRET,
    VNPAY_TMN,
    VNPOST_CUSTOMER,
    Channels,
    FixedClock,
    open_channels,
    order_body,
    sandbox_carrier,
)
from month_plan import (
    AGENCIES,
    BANK_CSV_MAPPING,
    LATE_SOURCES,
    AgencyPlan,
    CardSale,
    ExpectedException,
    Key,
    LineToken,
    MonthPlan,
    PlannedPayment,
    acquirer_credits,
    bank_csv,
    expected_exceptions,
    make_plan,
    pos_settlement,
    settles_into,
    unknown_ref,
    unknown_text,
)
from sqlalchemy import select
from tests_support import handover_body, vnpay_ipn

from gateway.core.db.schema import audit_log, statement_lines
from gateway.core.roles import Role
from gateway.keys import SERVICES
from gateway.models.postal_requests import CreatePostalOrder, Handover
from gateway.models.requests import CreateAttempt, CreatePayment
from gateway.services.agencies import NewAgency, add_agency
from gateway.services.clients import Principal, create_client
from gateway.services.postal import offices
from gateway.services.wiring import Services
from providers.payment.vietqr import notice as wire
from providers.sandbox.pos import BACKGROUND
from providers.sandbox.statements import (
    ICT,
    Discrepancies,
    PaidPayment,
    camt053,
    treasury_csv,
    vietqr_transfer_text,
    vnpay_batch_text,
    vnpay_day_file,
)
from providers.sandbox.statements_cod import CodCollection, vnpost_cod_csv
from reconciliation import parsers
from reconciliation.bank_layouts import bank_layout
from reconciliation.scope import EVERYWHERE
from reconciliation.workflow import Actor

OPENING_BALANCE = 50_000_000
RESOLUTIONS = {
    "missing_in_gateway": ("refund_requested", "Người nộp chuyển nhầm, đề nghị ngân hàng hoàn trả"),
    "amount_mismatch": ("manual_match", "Đã đối chiếu chứng từ, chênh lệch do ngân hàng ghi sai"),
}
WRITE_OFF = ("write_off", "Đối tác xác nhận không có giao dịch, ghi nhận chênh lệch")

Identity = tuple[str, str, tuple[str, ...], tuple[int, ...]]


def _identity(item: dict[str, Any]) -> Identity:
    """What makes an exception the same one across runs: source, type, its lines."""
    return (
        item["source"],
        item["type"],
        tuple(sorted(item["internal_keys"])),
        tuple(sorted(item["line_ids"])),
    )


@dataclass
class Month:
    """The scenario's state: the gateway's services, who is who, and what happened."""

    channels: Channels
    services: Services
    plan: MonthPlan
    portal: Principal
    operator: Principal
    maker: Actor
    checker: Actor
    paid: dict[str, PaidPayment] = field(default_factory=dict)  # plan key → as paid
    sales: dict[str, CardSale] = field(default_factory=dict)
    payment_ids: dict[str, str] = field(default_factory=dict)  # plan key → payment id
    attempt_ids: dict[str, str] = field(default_factory=dict)  # plan key → attempt id
    order_ids: dict[str, str] = field(default_factory=dict)  # plan key → postal order id
    collections: dict[str, CodCollection] = field(default_factory=dict)  # COD, as collected
    opening: dict[str, int] = field(default_factory=dict)  # account → today's opening
    #: The end-of-day bank statement of each (account, day), as uploaded.
    statements: dict[tuple[str, date], tuple[str, bytes]] = field(default_factory=dict)
    pending_files: dict[date, list[tuple[str, str, str | None, bytes]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    #: (day, identity) → the decision taken on it: resolution, reason, maker, checker.
    decisions: dict[tuple[date, Identity], dict[str, Any]] = field(default_factory=dict)
    closed: set[date] = field(default_factory=set)
    carried: int = 0  # decisions found whole on a later run of their day
    #: The ids a decided exception has had, run after run (the audit log names them).
    decided_as: dict[tuple[date, Identity], set[str]] = field(
        default_factory=lambda: defaultdict(set)
    )
    run_once: set[date] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    # -- the clock ----------------------------------------------------------------------

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        local = datetime.combine(day, clock_time(hour), ICT) + timedelta(minutes=minute)
        self.channels.clock.now = local.astimezone(UTC)

    # -- paying ---------------------------------------------------------------------------

    async def pay(self, payment: PlannedPayment) -> None:
        self.at(payment.day, 8, payment.minute)
        if payment.channel == "cod":
            await self._deliver_with_cod(payment)
            return
        request = CreatePayment.model_validate(
            {
                "agency_code": payment.agency.code,
                "dossier_code": f"000.00.12.H29-{payment.key}",
                "procedure_code": "1.001234",
                "procedure_name": "Cấp đổi giấy phép lái xe",
                "payer": {"name": "Nguyễn Văn An", "phone": "0912345678"},
                "items": [
                    {"kind": kind, "description": f"Khoản {kind}", "amount": amount}
                    for kind, amount in payment.items
                ],
            }
        )
        async with self.services.database.write() as conn:
            view = await self.services.payments.create(conn, self.portal, request)
        self.payment_ids[payment.key] = view["id"]
        if payment.channel == "vietqr":
            reference, txn = view["reference"], payment.bank_ref
            await self._transfer(payment, reference)
        elif payment.channel == "vnpay":
            attempt = await self._attempt(view["id"], CreateAttempt(method="vnpay"))
            txn = f"{14000000 + len(self.paid):08d}"
            tmn = _tmn(payment.agency)
            params = vnpay_ipn(
                attempt, secret=_vnpay_secret(tmn), vnp_TmnCode=tmn, vnp_TransactionNo=txn
            )
            answer = await self.services.callbacks.vnpay_ipn(params, urlencode(params))
            assert answer.rsp_code == "00", (payment.key, answer)
            reference = attempt["provider_reference"]
        else:
            attempt = await self._attempt(
                view["id"], CreateAttempt(method="pos", terminal_id=payment.agency.terminal)
            )
            # The cardholder taps once the push is recorded (a card before the gateway has
            # heard the cloud's answer is another test's race); the callback, no sleeping.
            await self._cloud(f"/sandbox/terminals/{payment.agency.terminal}/complete")
            await self.channels.pos.app[BACKGROUND].wait()
            done = await self.services.attempts.get(self.portal, view["id"], attempt["id"])
            assert done["status"] == "succeeded", (payment.key, done)
            reference, txn = done["provider_reference"], done["provider_transaction_id"]
            self.sales[payment.key] = CardSale(
                payment.agency.terminal,
                txn,
                done["details"]["approval_code"],
                done["details"]["masked_pan"],
                payment.amount,
                self.channels.clock().astimezone(ICT).strftime("%d/%m/%Y %H:%M:%S"),
            )
        if payment.channel != "vietqr":
            self.attempt_ids[payment.key] = attempt["id"]
        self.paid[payment.key] = PaidPayment(
            reference=reference,
            amount=payment.amount,
            paid_at=self.channels.clock(),
            channel=payment.channel,
            provider_txn_id=txn,
            agency_code=payment.agency.code,
            fee_lines=payment.items,
            account_number=payment.agency.account,
        )

    async def _transfer(self, payment: PlannedPayment, reference: str) -> None:
        """The collection bank's signed credit notice of the citizen's VietQR transfer."""
        body = json.dumps(
            wire.CreditNotice(
                transaction_id=payment.bank_ref,
                bin=AGENCY_BIN,
                account_number=payment.agency.account,
                amount=payment.amount,
                description=f"MBVCB.{payment.bank_ref[-8:]}.{reference}.nop phi",
                booked_at=self.channels.clock(),
            ).to_json()
        ).encode()
        stamp = int(self.channels.clock().timestamp())
        headers = {
            wire.TIMESTAMP_HEADER: str(stamp),
            wire.SIGNATURE_HEADER: wire.sign(BANK_SECRET.encode(), stamp, body),
        }
        result = await self.services.bank_credits.receive("testbank", headers, body)
        assert result.outcome == "applied", (payment.key, result)

    async def _deliver_with_cod(self, payment: PlannedPayment) -> None:
        """The agency sends the result by post with the fees to collect; the carrier takes the
        order; the postman hands it over and collects the money (the operator's handover)."""
        request = CreatePostalOrder.model_validate(
            order_body(
                agency_code=payment.agency.code,
                dossier_code=f"000.00.12.H29-{payment.key}",
                cod_amount=payment.amount,
            )
        )
        async with self.services.database.write() as conn:
            order = await self.services.postal_orders.create(conn, self.portal, request)
        await self.services.carrier_sync.submit(order["id"])
        handover = Handover.model_validate(
            handover_body(self.channels, "delivered", cod_collected=payment.amount)
        )
        done = await self.services.operators.record_handover(self.operator, order["id"], handover)
        view = done.body["order"]
        assert (view["status"], view["cod_collected"]) == ("delivered", payment.amount), view
        self.order_ids[payment.key] = order["id"]
        self.collections[payment.key] = CodCollection(
            view["tracking_number"], view["client_reference"], payment.amount, self.channels.clock()
        )

    async def _cloud(self, path: str, outcome: str = "approve") -> None:
        """What the sandbox card cloud is told (tests/gateway/test_channels_pos.py does it)."""
        async with aiohttp.ClientSession() as session:
            url = self.channels.pos.make_url(path)
            async with session.post(url, json={"outcome": outcome}) as response:
                assert response.status == 200, await response.text()

    async def _attempt(self, payment_id: str, request: CreateAttempt) -> dict[str, Any]:
        async with self.services.database.write() as conn:
            attempt_id = await self.services.attempts.begin(conn, self.portal, payment_id, request)
        return await self.services.attempts.start(attempt_id, "127.0.0.1")

    # -- the counterparts' files ----------------------------------------------------------

    def write_files(self, day: date) -> None:
        """Every file about ``day``, due the next morning (a late one, the morning after)."""
        day_plan = self.plan.day(day)
        paid = list(self.paid.values())
        for agency in AGENCIES:
            self._bank_statement(agency, day, paid)
        on_time, late = day + timedelta(days=1), day + timedelta(days=2)
        vnpay_files = [
            (
                tmn,
                vnpay_day_file(
                    [p for p in paid if _tmn(_agency(p.agency_code)) == tmn],
                    day,
                    tmn_code=tmn,
                    problems=Discrepancies(drop=self._refs(day_plan.vnpay_drop)),
                ),
            )
            for tmn in sorted({_tmn(agency) for agency in AGENCIES})
        ]
        cod = vnpost_cod_csv(
            [c for k, c in self.collections.items() if k not in day_plan.cod_drop],
            day,
            customer_code=VNPOST_CUSTOMER,
        )
        sales = [
            sale
            for key, sale in self.sales.items()
            if self.paid[key].business_day == day and key not in day_plan.pos_drop
        ]
        for fmt, name, data in (
            *[("vnpay_day", f"vnpay_day_{tmn}_{day}", data) for tmn, data in vnpay_files],
            ("treasury_csv", f"treasury_{day}", treasury_csv(paid, day)),
            ("vnpost_cod", f"vnpost_cod_{day}", cod),
            ("pos_settlement", f"pos_{day}", pos_settlement(POS_MERCHANT, day, sales)),
        ):
            due = late if fmt in day_plan.late else on_time
            self.pending_files[due].append((fmt, name, None, data))
            if fmt in day_plan.uploaded_twice:
                self.pending_files[due].append((fmt, f"{name}_lan2", None, data))

    def _refs(self, keys: set[str]) -> frozenset[str]:
        return frozenset(self.paid[key].reference for key in keys)

    def _bank_statement(self, agency: AgencyPlan, day: date, paid: list[PaidPayment]) -> None:
        day_plan = self.plan.day(day)
        unknowns = (
            *acquirer_credits(self.plan, day, agency),
            *day_plan.unknown_credits.get(agency.code, ()),
        )
        problems = Discrepancies(
            drop=self._refs(day_plan.bank_drop),
            amount_delta={self.paid[k].reference: d for k, d in day_plan.bank_delta.items()},
            unknown_credits=unknowns,
        )
        opening = self.opening.get(agency.account, OPENING_BALANCE)
        due = self.pending_files[day + timedelta(days=1)]
        if agency.bank_format == "camt053":
            if agency.code in day_plan.intraday:  # the 08:30 export: the first transfer only
                early = [
                    p
                    for p in paid
                    if p.channel == "vietqr"
                    and p.business_day == day
                    and p.paid_at.astimezone(ICT).time() < clock_time(8, 30)
                ]
                intraday = camt053(
                    agency.account,
                    early,
                    day,
                    opening,
                    tmn_code=_tmn(agency),
                    problems=Discrepancies(drop=problems.drop, amount_delta=problems.amount_delta),
                )
                due.append(("camt053", f"intraday_{agency.code}_{day}", agency.account, intraday))
            data = camt053(
                agency.account,
                _onto(agency, paid),
                day,
                opening,
                tmn_code=_tmn(agency),
                problems=problems,
            )
            parsed = parsers.parse("camt053", data)
        else:
            data = bank_csv(agency.account, day, _csv_entries(agency, day, paid, problems))
            parsed = parsers.parse("bank_csv", data, mapping=_mapping())
        self.opening[agency.account] = opening + sum(line.amount for line in parsed.lines)
        self.statements[(agency.account, day)] = (agency.bank_format, data)
        due.append((agency.bank_format, f"saoke_{agency.code}_{day}", agency.account, data))

    async def import_due(self, morning: date) -> None:
        for fmt, name, account, data in self.pending_files.pop(morning, []):
            try:
                view = await self.services.imports.import_file(
                    format=fmt,
                    data=data,
                    filename=name,
                    account=account,
                    actor=self.maker.id,
                    scope=self.maker.scope,
                    mapping=json.dumps(BANK_CSV_MAPPING) if fmt == "bank_csv" else None,
                )
            except Exception as exc:  # a refusal is a finding: listed, and the month goes on
                self.problems.append(f"{morning}: import of {name} failed: {exc!r}")
                continue
            if view["status"] != "accepted":
                self.problems.append(
                    f"{morning}: {name} was {view['status']}: {view['reason']} "
                    f"{view['row_errors'][:3]}"
                )

    # -- finance staff --------------------------------------------------------------------

    async def run(self, day: date) -> None:
        if day not in self.plan_days or day in self.closed:
            return
        try:
            await self.services.recon_runs.run(self.maker, day)
        except Exception as exc:  # listed with the findings; the month goes on
            self.problems.append(f"{day}: the run failed: {exc!r}")
            return
        await self._check_decisions_kept(day)
        if day not in self.run_once:
            self.run_once.add(day)
            await self._check_first_run(day)

    async def _check_first_run(self, day: date) -> None:
        """The day's first run, the next morning: a payment the plan dropped from a
        counterpart's file of that day is ``expected_in_transit`` (the counterpart has reported
        through that day only) — except COD, whose remittance is dated the next day, so a
        collection it lacks is already ``missing_in_cod``. Files that come late are left out."""
        late = {LATE_SOURCE_OF[fmt] for fmt in self.plan.day(day).late}
        final = expected_exceptions(self.plan).get(day, set())
        expected = {
            replace(item, type="expected_in_transit") if item.source != "cod" else item
            for item in final
            if not item.lines and item.source not in late
        }
        now = await self.in_plan_words(day, await _line_tokens(self))
        for item in sorted(expected - now):
            self.problems.append(
                f"{day}: first run, the morning after: expected, not found: {item.describe()}"
            )

    async def in_plan_words(
        self, day: date, tokens: dict[int, LineToken]
    ) -> set[ExpectedException]:
        """The day's current exceptions, named as the plan names things."""
        names = {
            "payment": {ident: key for key, ident in self.payment_ids.items()},
            "attempt": {ident: key for key, ident in self.attempt_ids.items()},
            "postal": {ident: key for key, ident in self.order_ids.items()},
        }
        found = set()
        for item in await self.current(day):
            keys: list[Key] = []
            for key in item["internal_keys"]:
                kind, _, ident = key.partition(":")
                keys.append((kind, names.get(kind, {}).get(ident, ident)))
            found.add(
                ExpectedException(
                    item["source"],
                    item["type"],
                    item["amount"],
                    tuple(sorted(keys)),
                    tuple(sorted(tokens[line_id] for line_id in item["line_ids"])),
                )
            )
        return found

    @property
    def plan_days(self) -> set[date]:
        return {plan.day for plan in self.plan.days}

    async def current(self, day: date) -> list[dict[str, Any]]:
        return await self.services.workflow.list(
            scope=self.maker.scope, business_date=day, limit=10_000
        )

    async def decide(self, day: date, *, approve_all: bool) -> None:
        """Lan resolves every open exception that is not in transit; Minh approves every
        other one (or all), after turning one resolution down on a day the plan says so."""
        if day not in self.plan_days or day in self.closed:
            return
        reject = self.plan.day(day).rejected_once and not approve_all
        for number, item in enumerate(await self.current(day)):
            if item["status"] == "open" and item["type"] != "expected_in_transit":
                item = await self._resolve(day, item)
                if reject:
                    reject = False
                    await self.services.workflow.reject(
                        self.checker, item["id"], "Chưa có chứng từ của đối tác, đề nghị bổ sung"
                    )
                    self.decisions.pop((day, _identity(item)))
                    item = await self._resolve(day, item)
            if item["status"] == "resolved" and (approve_all or number % 2 == 0):
                approved = await self.services.workflow.approve(self.checker, item["id"])
                self.decisions[(day, _identity(item))]["approved_by"] = approved["approved_by"]

    async def _resolve(self, day: date, item: dict[str, Any]) -> dict[str, Any]:
        resolution, reason = RESOLUTIONS.get(item["type"], WRITE_OFF)
        resolved = await self.services.workflow.resolve(self.maker, item["id"], resolution, reason)
        self.decided_as[(day, _identity(item))].add(item["id"])
        self.decisions[(day, _identity(item))] = {
            "resolution": resolution,
            "resolution_reason": reason,
            "resolved_by": self.maker.id,
            "approved_by": None,
        }
        return resolved

    async def close(self, day: date) -> None:
        if day not in self.plan_days or day in self.closed:
            return
        try:
            await self.services.workflow.close_day(self.checker, day)
        except Exception as exc:  # listed with the findings; the month goes on
            left = [
                f"{item['type']} {item['status']} {item['amount']:,} {item['internal_keys']}"
                for item in await self.current(day)
                if item["status"] in ("open", "resolved")
            ]
            self.problems.append(f"{day}: could not be closed ({exc!r}); undecided: {left}")
            return
        self.closed.add(day)

    async def _check_decisions_kept(self, day: date) -> None:
        """After a run of ``day``: every decision taken on an exception of the day is on the
        same exception of the new run, whole; or, where that difference no longer exists, the
        audit log says about the exception that its decision was superseded."""
        now = {_identity(item): item for item in await self.current(day)}
        # In the plan's names, so the findings come in the same order on every database.
        mine = [
            (identity, decision)
            for (decided_day, identity), decision in self.decisions.items()
            if decided_day == day
        ]
        for identity, decision in sorted(
            mine, key=lambda pair: (pair[0][:2], self.named(pair[0][2]), pair[0][3])
        ):
            decided_day = day
            item = now.get(identity)
            what = f"{identity[1]} ({identity[0]}) {self.named(identity[2])} lines {identity[3]}"
            if item is None:
                del self.decisions[(decided_day, identity)]  # reported once
                if not await self._superseded_in_audit(self.decided_as[(day, identity)]):
                    self.problems.append(
                        f"{day}: the decision {decision['resolution']} on {what} vanished in a "
                        "re-run, and no audit entry about the exception says it was superseded"
                    )
                continue
            self.decided_as[(day, identity)].add(item["id"])
            status = "approved" if decision["approved_by"] else "resolved"
            kept = {name: item[name] for name in decision} | {"status": item["status"]}
            self.carried += kept == decision | {"status": status}
            if kept != decision | {"status": status}:
                self.problems.append(
                    f"{day}: a re-run changed the decision on {what}: expected "
                    f"{decision | {'status': status}}, found {kept}"
                )

    async def _superseded_in_audit(self, exception_ids: set[str]) -> bool:
        """An audit entry saying a decision was superseded that names one of ``exception_ids``
        (as its object, or in its details)."""
        async with self.services.database.read() as conn:
            entries = (
                await conn.execute(
                    select(audit_log.c.object_id, audit_log.c.details).where(
                        audit_log.c.action.like("%supersed%")
                    )
                )
            ).all()
        return any(
            object_id in exception_ids or any(i in json.dumps(details) for i in exception_ids)
            for object_id, details in entries
        )

    def named(self, keys: tuple[str, ...]) -> list[str]:
        """Ledger keys (``payment:pay_…``) as the plan names them (``payment:HCM-1001-…``)."""
        names = {
            f"{kind}:{ident}": f"{kind}:{key}"
            for kind, ids in (
                ("payment", self.payment_ids),
                ("attempt", self.attempt_ids),
                ("postal", self.order_ids),
            )
            for key, ident in ids.items()
        }
        return [names.get(key, key) for key in keys]


#: The counterpart each file that may come late belongs to.
LATE_SOURCE_OF = {
    "vnpay_day": "vnpay",
    "treasury_csv": "treasury",
    "pos_settlement": "pos",
    "vnpost_cod": "cod",
}


def _tmn(agency: AgencyPlan) -> str:
    """The VNPAY terminal an agency's payments go through: its own."""
    return agency.tmn_code


def _vnpay_secret(tmn: str) -> str:
    return VNPAY_SECRET if tmn == VNPAY_TMN else f"secret-of-{tmn}"


def _agency(code: str) -> AgencyPlan:
    return next(agency for agency in AGENCIES if agency.code == code)


def _onto(agency: AgencyPlan, paid: list[PaidPayment]) -> list[PaidPayment]:
    """What ``agency``'s bank statement is written from: its VietQR transfers, and the VNPAY
    payments settled into its account (as if paid to it: the sandbox writer picks the
    payments of the statement's account)."""
    return [
        p if p.channel != "vnpay" else replace(p, account_number=agency.account)
        for p in paid
        if (p.channel == "vietqr" and p.agency_code == agency.code)
        or (p.channel == "vnpay" and settles_into(agency, _agency(p.agency_code)))
    ]


def _mapping() -> Any:
    return bank_layout("bank_csv", None, json.dumps(BANK_CSV_MAPPING))


def _csv_entries(
    agency: AgencyPlan, day: date, paid: list[PaidPayment], problems: Discrepancies
) -> list[tuple[str, int, str]]:
    """The entries of the CSV export: what the camt.053 writer would put on the statement."""
    entries: list[tuple[str, int, str]] = []
    mine = [p for p in _onto(agency, paid) if p.account_number == agency.account]
    for payment in sorted(mine, key=lambda p: p.paid_at):
        if payment.channel != "vietqr" or payment.business_day != day:
            continue
        if payment.reference in problems.drop:
            continue
        amount = payment.amount + problems.amount_delta.get(payment.reference, 0)
        entries.append((payment.provider_txn_id, amount, vietqr_transfer_text(payment)))
    settled = day - timedelta(days=1)
    batch = [p for p in mine if p.channel == "vnpay" and p.business_day == settled]
    if batch:
        text = vnpay_batch_text(settled, _tmn(agency))
        entries.append((f"VNPAY{settled:%Y%m%d}", sum(p.amount for p in batch), text))
    for number, amount in enumerate(problems.unknown_credits, 1):
        entries.append((unknown_ref(number), amount, unknown_text(number)))
    return entries


@pytest.fixture
async def gateway_month(
    aiohttp_server: Any, database_url: str, clock: FixedClock, unused_tcp_port_factory: Any
) -> AsyncIterator[Channels]:
    """The gateway with the sandbox VNPAY, POS cloud and VNPost as real servers."""
    port = unused_tcp_port_factory()
    _, vnpost = await sandbox_carrier(aiohttp_server, clock, port)
    terminals = {
        agency.code: {"tmn_code": agency.tmn_code, "hash_secret": _vnpay_secret(agency.tmn_code)}
        for agency in AGENCIES
    }
    opened = await open_channels(
        aiohttp_server,
        database_url,
        clock,
        port,
        vnpay={"terminals": terminals},
        vnpost=vnpost,
    )
    yield opened
    await opened.client.close()


async def _month(channels: Channels) -> Month:
    """The gateway of ``gateway_month``, a third agency, a post office serving each agency
    and its postman, the portal, and two finance staff: Lan (maker) and Minh (checker)."""
    services = channels.client.app[SERVICES]
    db, clock = services.database, channels.clock
    await add_agency(
        db,
        clock,
        NewAgency(
            code="DN",
            name="Sở Tư pháp Đà Nẵng",
            bank_bin=AGENCY_BIN,
            account_number=AGENCIES[2].account,
            account_name="SO TU PHAP DN",
        ),
    )
    await services.terminals.add("DN", "T-DN-1", "Quầy Đà Nẵng")
    _, key = await create_client(
        db, clock, name="portal-month", role=Role.PORTAL, agency_codes=["HCM", "HN", "DN"]
    )
    for agency in AGENCIES:
        await offices.add_post_office(db, clock, f"BC-{agency.code}", f"Bưu cục {agency.code}")
        await offices.serve_agency(db, agency.code, f"BC-{agency.code}")
    operator_id, operator_key = await create_client(
        db, clock, name="postman", role=Role.POSTAL_OPERATOR, agency_codes=[]
    )
    await offices.scope_client(db, operator_id, [f"BC-{agency.code}" for agency in AGENCIES])
    people = {}
    for username, name, role in (
        ("lan", "Trần Thị Lan", Role.FINANCE),
        ("minh", "Lê Văn Minh", Role.FINANCE_APPROVER),
    ):
        user_id = await services.staff.create_user(
            username=username,
            display_name=name,
            role=role,
            password="mat-khau-dai-du-12",
            agency_codes=[],
            person=f"{username}@stc",
            all_agencies=True,  # the provincial finance department: every agency's files
        )
        people[username] = Actor(user_id, role, EVERYWHERE)
    month = Month(
        channels=channels,
        services=services,
        plan=make_plan(),
        portal=await services.principals.authenticate(key),
        operator=await services.principals.authenticate(operator_key),
        maker=people["lan"],
        checker=people["minh"],
    )
    for agency in AGENCIES:  # a card is tapped when the scenario says so
        await month._cloud(f"/sandbox/terminals/{agency.terminal}/script", "no_answer")
    return month


async def test_a_month_of_reconciliation_finds_exactly_what_was_injected(
    gateway_month: Channels,
) -> None:
    month = await _month(gateway_month)
    plan = month.plan
    assert [agency.account for agency in AGENCIES[:2]] == ["0011001234567", "0022002345678"]

    # Each calendar day: in the morning the files about the day before arrive, that day is
    # run, the two before it re-run and decided, the oldest closed; then the citizens pay.
    first = plan.days[0].day
    for day in [first + timedelta(days=n) for n in range(len(plan.days) + 4)]:
        month.at(day, 7)
        await month.import_due(day)
        await month.run(day - timedelta(days=1))
        await month.run(day - timedelta(days=2))
        await month.decide(day - timedelta(days=2), approve_all=False)
        await month.run(day - timedelta(days=3))
        await month.decide(day - timedelta(days=3), approve_all=True)
        await month.close(day - timedelta(days=3))
        for payment in plan.day(day).payments:
            await month.pay(payment)
        if day in plan.file_days:
            month.write_files(day)

    found = await _found(month)
    expected = expected_exceptions(plan)
    differences = _differences(expected, found)
    overlaps = await _on_two_days(month)
    ties = await _report_ties(month)
    if not month.carried:
        month.problems.append("no decision met a re-run of its day: the schedule tests nothing")
    unclosed = [str(day) for day in sorted(month.plan_days - month.closed)]
    if unclosed:
        month.problems.append(f"days never closed: {', '.join(unclosed)}")

    # All findings at once, each section with its own heading (a failing month is read, not
    # bisected): the imports, runs, decisions and closes as they happened; the exceptions
    # per day; lines on two days; the reports against the statements.
    sections = {
        "the month as it happened (imports, runs, first runs, decisions kept, closes)": month.problems,
        "exceptions per day, against what the plan injected": differences,
        "lines that are an exception on more than one day": overlaps,
        "closed days whose report does not tie to the statements": ties,
    }
    failed = {title: found for title, found in sections.items() if found}
    assert not failed, "\n\n".join(
        f"== {title} ({len(found)}):\n" + "\n".join(found) for title, found in failed.items()
    )


# -- reading what reconciliation found, in the plan's words ----------------------------------


async def _found(month: Month) -> dict[date, set[ExpectedException]]:
    tokens = await _line_tokens(month)
    return {
        day_plan.day: await month.in_plan_words(day_plan.day, tokens)
        for day_plan in month.plan.days
    }


async def _line_tokens(month: Month) -> dict[int, LineToken]:
    """Every statement line as the plan names it."""
    async with month.services.database.read() as conn:
        rows = (await conn.execute(select(statement_lines))).all()
    return {
        row.id: (
            row.source,
            row.account or "",
            row.booking_date,
            row.provider_txn_id or row.reference or "",
            row.amount,
        )
        for row in rows
    }


def _differences(
    expected: dict[date, set[ExpectedException]], found: dict[date, set[ExpectedException]]
) -> list[str]:
    lines = []
    for day in sorted(expected):
        for item in sorted(expected[day] - found.get(day, set())):
            lines.append(f"{day}: expected, not found: {item.describe()}")
        for item in sorted(found.get(day, set()) - expected[day]):
            lines.append(f"{day}: found, not expected: {item.describe()}")
    return lines


async def _on_two_days(month: Month) -> list[str]:
    """A statement line or a ledger line that is an exception on more than one day."""
    tokens = await _line_tokens(month)
    days_of: dict[str, set[date]] = defaultdict(set)
    for day_plan in month.plan.days:
        for item in await month.current(day_plan.day):
            for line_id in item["line_ids"]:
                source, account, booked, ref, amount = tokens[line_id]
                line = f"{source}/{account}/{booked}/{ref}/{amount}"
                days_of[f"statement line {line_id} ({line})"].add(day_plan.day)
            for key in item["internal_keys"]:
                days_of[f"ledger line {month.named((key,))[0]}"].add(day_plan.day)
    return [
        f"{what} is an exception on {len(days)} days: {', '.join(map(str, sorted(days)))}"
        for what, days in sorted(days_of.items())
        if len(days) > 1
    ]


async def _report_ties(month: Month) -> list[str]:
    """Each closed day's report, per collection account, against that day's statement."""
    problems = []
    for day_plan in month.plan.days:
        day = day_plan.day
        if day not in month.closed:
            continue
        report = await month.services.reports.build(day, EVERYWHERE)
        rows = {row.account: row for row in report.accounts}
        for agency in AGENCIES:
            fmt, data = month.statements[(agency.account, day)]
            if fmt == "camt053":
                parsed = parsers.parse("camt053", data)
                opening = parsed.control.opening_balance
                closing = parsed.control.closing_balance
            else:
                parsed = parsers.parse("bank_csv", data, mapping=_mapping())
                opening = closing = None  # an export carries no balances
            credits = sum(line.amount for line in parsed.lines if line.direction == "credit")
            debits = sum(line.amount for line in parsed.lines if line.direction == "debit")
            expected = (opening, credits, debits, closing)
            row = rows.get(agency.account)
            got = None if row is None else (row.opening, row.credits, row.debits, row.closing)
            if got != expected:
                problems.append(
                    f"{day}: report for account {agency.account} (opening, credits, debits, "
                    f"closing): expected {expected}, found {got}"
                )
    return problems


def test_the_plan_injects_every_kind_of_difference_and_every_kind_of_file_trouble() -> None:
    """A guard for whoever turns the knobs of ``month_plan``: the month must still contain
    each kind of difference, late and repeated files, overlaps and a rejection."""
    plan = make_plan()
    found = expected_exceptions(plan)
    kinds = {item.type for items in found.values() for item in items}
    assert kinds == {
        "missing_in_bank",
        "amount_mismatch",
        "missing_in_gateway",
        "missing_in_vnpay",
        "missing_in_pos",
        "missing_in_cod",
    }
    assert {source for day in plan.days for source in day.late} == set(LATE_SOURCES)
    assert {source for day in plan.days for source in day.uploaded_twice} == set(LATE_SOURCES)
    assert set(LATE_SOURCE_OF) == set(LATE_SOURCES)
    assert any(day.intraday for day in plan.days)
    assert any(day.rejected_once for day in plan.days)
    assert make_plan() == plan  # the same seed, the same month
