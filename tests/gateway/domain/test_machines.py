"""The refund, reconciliation, import and postal order machines, row by row: every allowed
pair moves, every other pair raises InvalidTransition; and rows are born only in a
machine's initial statuses."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import literal, select

from gateway.core.errors import InvalidTransition
from gateway.core.machines import Machine
from gateway.core.postal.orders import ORDER_STATUSES
from gateway.core.statuses import (
    ATTEMPTS,
    CORRECTIONS,
    EXCEPTIONS,
    IMPORTS,
    MACHINES,
    PAYMENTS,
    POSTAL_ORDERS,
    RECEIPTS,
    REFUNDS,
    RESOLUTIONS,
    RUNS,
    AttemptStatus,
    DecisionStatus,
    ExceptionStatus,
    ImportStatus,
    PaymentStatus,
    PostalOrderStatus,
    ReceiptStatus,
    RefundStatus,
    RunStatus,
)
from gateway.core.statuses_doc import render
from gateway.pages import console_labels, operator_labels
from providers.common.postal import PostalStatus

R = RefundStatus
E = ExceptionStatus
U = RunStatus
I = ImportStatus  # noqa: E741
O = PostalOrderStatus  # noqa: E741
C = DecisionStatus
T = ReceiptStatus

ALLOWED: dict[str, set[tuple[Any, Any]]] = {
    "refund": {(R.PENDING, R.SUCCEEDED), (R.PENDING, R.FAILED)},
    "reconciliation exception": {
        (E.OPEN, E.RESOLVED),
        (E.OPEN, E.SUPERSEDED),
        (E.RESOLVED, E.APPROVED),
        (E.RESOLVED, E.OPEN),  # a checker rejects the resolution
        (E.RESOLVED, E.SUPERSEDED),
        (E.APPROVED, E.SUPERSEDED),
    },
    "reconciliation run": {(U.CURRENT, U.SUPERSEDED)},
    "statement import": set(),
    "receipt correction": {(C.PROPOSED, C.APPROVED), (C.PROPOSED, C.REJECTED)},
    "receipt": {
        (T.PENDING, T.ISSUED),
        (T.ISSUED, T.REPLACED),
        (T.ISSUED, T.ERROR_NOTIFIED),
        (T.ERROR_NOTIFIED, T.REPLACED),  # a notified receipt can still need a replacement
    },
}
SIMPLE: list[Machine[Any]] = [REFUNDS, EXCEPTIONS, RUNS, IMPORTS, CORRECTIONS, RECEIPTS]


def _pairs(machine: Machine[Any]) -> list[tuple[Machine[Any], Any, Any]]:
    statuses = list(machine.transitions)
    return [(machine, a, b) for a, b in itertools.product(statuses, statuses)]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_every_status_has_a_row(machine: Machine[Any]) -> None:
    enum = type(next(iter(machine.transitions)))
    assert issubclass(enum, StrEnum)
    assert set(machine.transitions) == set(enum)
    assert machine.initial <= set(enum)


@pytest.mark.parametrize(
    ("machine", "current", "requested"),
    [pair for machine in SIMPLE for pair in _pairs(machine)],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_transition_table(machine: Machine[Any], current: Any, requested: Any) -> None:
    if (current, requested) in ALLOWED[machine.name]:
        assert machine.check(current, requested) is requested
    else:
        with pytest.raises(InvalidTransition) as raised:
            machine.check(current, requested)
        assert (raised.value.current, raised.value.requested) == (current.value, requested.value)


CARRIER = [s for s in PostalStatus if s is not PostalStatus.UNKNOWN]
RANKS = {
    "created": 0,
    "pickup_assigned": 10,
    "picking_up": 20,
    "pickup_failed": 20,
    "picked_up": 30,
    "in_transit": 40,
    "out_for_delivery": 50,
    "delivery_failed": 50,
    "return_pending": 60,
    "returning": 70,
}


def _postal_allowed(current: O, new: O) -> bool:
    if current is O.SUBMITTING:
        return new in (O.CREATED, O.SUBMIT_FAILED, O.CANCELLED, O.NEEDS_REVIEW)
    if current is O.NEEDS_REVIEW:  # a person decides what the carrier's answer meant
        return new in (O.CREATED, O.SUBMIT_FAILED, O.CANCELLED)
    if current.value not in RANKS:  # submit_failed and the carrier's final statuses
        return False
    if new in (O.SUBMITTING, O.SUBMIT_FAILED, O.NEEDS_REVIEW) or new == current:
        return False
    return RANKS.get(new.value, 100) >= RANKS[current.value]


@pytest.mark.parametrize(("current", "requested"), list(itertools.product(O, O)))
def test_postal_order_transition_table(current: O, requested: O) -> None:
    if _postal_allowed(current, requested):
        assert POSTAL_ORDERS.check(current, requested) is requested
    else:
        with pytest.raises(InvalidTransition):
            POSTAL_ORDERS.check(current, requested)


def test_postal_order_statuses_are_the_orders_statuses() -> None:
    assert {status.value for status in PostalOrderStatus} == set(ORDER_STATUSES)


T0 = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def test_an_older_or_lower_ranked_postal_event_does_not_advance_the_order() -> None:
    later, earlier = T0 + timedelta(hours=1), T0 - timedelta(hours=1)
    assert POSTAL_ORDERS.advances("picked_up", T0, PostalStatus.IN_TRANSIT, later)
    assert not POSTAL_ORDERS.advances("in_transit", T0, PostalStatus.PICKED_UP, later)
    assert not POSTAL_ORDERS.advances("picked_up", T0, PostalStatus.IN_TRANSIT, earlier)
    # equal ranks alternate by time alone
    assert POSTAL_ORDERS.advances("pickup_failed", T0, PostalStatus.PICKING_UP, later)
    assert not POSTAL_ORDERS.advances("delivered", T0, PostalStatus.RETURNED, later)
    assert not POSTAL_ORDERS.advances("submitting", T0, PostalStatus.PICKED_UP, later)
    assert not POSTAL_ORDERS.advances("created", T0, PostalStatus.UNKNOWN, later)


@pytest.mark.parametrize(
    ("machine", "status", "born"),
    [
        (machine, status, status in machine.initial)
        for machine in MACHINES
        for status in machine.transitions
    ],
    ids=lambda value: getattr(value, "name", str(value)),
)
def test_rows_are_born_only_in_initial_statuses(
    machine: Machine[Any], status: Any, born: bool
) -> None:
    if born:
        assert machine.check_initial(status) is status
    else:
        with pytest.raises(InvalidTransition) as raised:
            machine.check_initial(status)
        assert (raised.value.current, raised.value.requested) == ("new", status.value)


def test_rows_inserted_from_a_query_are_born_only_in_initial_statuses() -> None:
    """The status a statement built once gives its rows is checked when it is built."""
    rows = select(literal("pay_x").label("id"))
    with pytest.raises(InvalidTransition):
        PAYMENTS.insert_from_select(PaymentStatus.PAID, rows)
    statement = str(PAYMENTS.insert_from_select(PaymentStatus.PENDING, rows))
    assert statement.startswith("INSERT INTO payments (id, status) SELECT")


def test_initial_statuses() -> None:
    assert PAYMENTS.initial == {PaymentStatus.PENDING}
    # payments.py inserts the VietQR attempt directly as pending
    assert ATTEMPTS.initial == {AttemptStatus.CREATED, AttemptStatus.PENDING}
    assert EXCEPTIONS.initial == {E.OPEN, E.RESOLVED, E.APPROVED}  # carried over by a re-run
    assert POSTAL_ORDERS.initial == {O.SUBMITTING}


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.name)
def test_check_constraint_lists_every_status(machine: Machine[Any]) -> None:
    constraint = machine.check_constraint()
    assert constraint.name == f"ck_{machine.table_name}_status"
    for status in machine.transitions:
        assert f"'{status.value}'" in str(constraint.sqltext)


def test_docs_statuses_md_is_written_from_the_machines() -> None:
    written = (Path(__file__).resolve().parents[3] / "docs" / "statuses.md").read_text("utf-8")
    assert written == render(), "run: python -m gateway.core.statuses_doc > docs/statuses.md"


@pytest.mark.parametrize(
    ("machine", "labels"),
    [
        (EXCEPTIONS, console_labels.EXCEPTION_STATUS_DISPLAY),
        (IMPORTS, console_labels.IMPORT_STATUSES),
        (PAYMENTS, console_labels.LEDGER_STATUSES),
        (ATTEMPTS, console_labels.LEDGER_STATUSES),
        (REFUNDS, console_labels.LEDGER_STATUSES),
        (POSTAL_ORDERS, operator_labels.STATUSES),
        (RESOLUTIONS, console_labels.RESOLUTION_STATUSES),
    ],
    ids=lambda value: getattr(value, "name", "labels"),
)
def test_staff_read_every_status_in_vietnamese(
    machine: Machine[Any], labels: dict[str, str]
) -> None:
    assert set(machine.statuses) <= set(labels)


async def test_rows_of_one_insert_must_name_the_same_columns() -> None:
    """What made a re-run answer 500 (issue 10 item 1) is refused before the database."""
    rows = [(E.OPEN, {"id": "a"}), (E.RESOLVED, {"id": "b", "resolution": "write_off"})]
    with pytest.raises(ValueError, match="same columns"):
        await EXCEPTIONS.insert_many(None, rows)  # type: ignore[arg-type]  # never reached


def test_a_move_built_once_refuses_sql_expressions_as_values() -> None:
    """``move_within`` binds each value as a parameter of a statement built once: an SQL
    expression would fail only in the database (a 500); it is refused here, as by
    ``move_all``."""
    with pytest.raises(ValueError, match="not SQL expressions"):
        ATTEMPTS.move_within(
            "att_1",
            AttemptStatus.PENDING,
            AttemptStatus.SUCCEEDED,
            prefix="a_",
            provider_transaction_id=literal("1"),
        )
    _, params = ATTEMPTS.move_within(
        "att_1",
        AttemptStatus.PENDING,
        AttemptStatus.SUCCEEDED,
        prefix="a_",
        provider_transaction_id="ok",
    )
    assert (
        params["a_v_provider_transaction_id"] == "ok"
        and params["a_to"] == AttemptStatus.SUCCEEDED.value
    )
