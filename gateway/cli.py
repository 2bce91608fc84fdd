"""The ``gateway`` command: serve, migrate, and agency/client administration."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.exc import OperationalError

from config import ConfigError, Settings, load_settings
from gateway.core.db.migrate import upgrade
from gateway.core.errors import GatewayError
from gateway.core.roles import Role
from gateway.core.statuses import ImportStatus, ReceiptSummaryStatus, TaxNoticeStatus
from gateway.observability import configure_logging
from gateway.services.agencies import NewAgency, add_agency, list_agencies
from gateway.services.clients import create_client
from gateway.services.postal import offices
from gateway.services.receipts.signing import load_issuers
from gateway.services.receipts.summary_views import STATUS_LABELS
from gateway.services.receipts.tax_notices import STATUS_LABELS as NOTICE_LABELS
from gateway.services.wiring import Services, build_services


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (default: $GATEWAY_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service (sandbox without config)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="leave the background loops to separate `gateway worker` processes",
    )
    serve.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="N server processes on one port (SO_REUSEPORT; PostgreSQL, not sandbox mode): "
        "the first runs every background loop, the others only those that claim their work "
        "in the database; process i serves /metrics on metrics_port + i (docs/deployment.md)",
    )

    commands.add_parser(
        "worker", help="run the background loops (delivery, expiry, polling) without HTTP"
    )
    commands.add_parser("migrate", help="apply database migrations")

    agencies = commands.add_parser("agencies", help="manage agencies").add_subparsers(
        dest="action", required=True
    )
    add = agencies.add_parser("add", help="register an agency and its collection account")
    add.add_argument("--code", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--bank-bin", required=True, help="NAPAS BIN of the collection bank")
    add.add_argument("--account-number", required=True)
    add.add_argument("--account-name", required=True)
    add.add_argument("--kbnn-code", help="State Treasury (KBNN) office code")
    add.add_argument("--revenue-account", help="budget revenue account at the treasury")
    add.add_argument("--fees-pending-account", help="fees-pending account at the treasury")
    agencies.add_parser("list", help="list agencies")

    terminals = commands.add_parser("terminals", help="manage POS card terminals").add_subparsers(
        dest="action", required=True
    )
    terminal_add = terminals.add_parser("add", help="register a terminal for an agency")
    terminal_add.add_argument("--agency", required=True)
    terminal_add.add_argument("--terminal-id", required=True, help="the id at the POS cloud")
    terminal_add.add_argument("--name", required=True, help="e.g. the counter it stands at")
    terminal_list = terminals.add_parser("list", help="list an agency's terminals")
    terminal_list.add_argument("--agency", required=True)

    users = commands.add_parser("users", help="manage staff console users").add_subparsers(
        dest="action", required=True
    )
    user_create = users.add_parser("create", help="create a console user (asks the password)")
    user_create.add_argument("--username", required=True)
    user_create.add_argument("--name", required=True, help="display name")
    user_create.add_argument(
        "--role", required=True, choices=["finance", "finance_approver", "postal_operator", "admin"]
    )
    user_create.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (scripts, no terminal)",
    )
    _add_scope(user_create, office_help="post office code a postal_operator works for")
    user_unlock = users.add_parser(
        "unlock", help="let a user sign in again after a lock-out for failed sign-ins"
    )
    user_unlock.add_argument("username")

    offices = commands.add_parser(
        "post-offices", help="manage post offices (bưu cục) for postal orders"
    ).add_subparsers(dest="action", required=True)
    office_add = offices.add_parser("add", help="register a post office")
    office_add.add_argument("--code", required=True, help="the carrier's office code")
    office_add.add_argument("--name", required=True)
    office_add.add_argument("--province", help="province code (NSO), e.g. 79")
    offices.add_parser("list", help="list post offices")
    office_serve = offices.add_parser("serve", help="route an agency's new orders to an office")
    office_serve.add_argument("--office", required=True)
    office_serve.add_argument("--agency", required=True)

    receipts = commands.add_parser("receipts", help="e-receipts (biên lai điện tử)")
    receipt_areas = receipts.add_subparsers(dest="area", required=True)
    ranges = receipt_areas.add_parser(
        "ranges", help="number ranges per point of collection"
    ).add_subparsers(dest="action", required=True)
    summary = receipt_areas.add_parser(
        "summary",
        help="the same-day summary to the tax authority (01/TH-BLĐT): show a day (with the "
        "day's notices of receipt errors, 04/SS-CTĐT), or send it",
    )
    summary.add_argument(
        "--date", required=True, type=date.fromisoformat, help="YYYY-MM-DD (Asia/Ho_Chi_Minh)"
    )
    summary.add_argument("--agency", help="agency code (default: every agency issuing receipts)")
    summary.add_argument(
        "--send",
        action="store_true",
        help="send now: an unsent summary again, or a new one after a rejection",
    )
    summary.add_argument(
        "--correction",
        action="store_true",
        help="with --send: send a day the tax authority accepted again, as a correction",
    )
    range_add = ranges.add_parser(
        "add",
        help="register a number range (disjoint, ascending per point); receipts waiting for "
        "one are issued at once",
    )
    range_add.add_argument("--agency", required=True, help="agency code")
    range_add.add_argument("--symbol", required=True, help="one of the agency's yearly symbols")
    range_add.add_argument("--point", required=True, choices=["online", "counter", "postal"])
    range_add.add_argument("--first", required=True, type=int)
    range_add.add_argument("--last", required=True, type=int)
    range_list = ranges.add_parser("list", help="list number ranges and what is left of them")
    range_list.add_argument("--agency", help="agency code (default: all)")

    delegations = receipt_areas.add_parser(
        "delegations",
        help="agreements under which the gateway operator issues an agency's receipts as its "
        "delegate (NĐ 254/2026 Điều 4.6)",
    ).add_subparsers(dest="action", required=True)
    delegation_add = delegations.add_parser(
        "add",
        help="record an agreement (template, symbol, number range, term, day the tax offices "
        "were notified); receipts waiting for one are issued at once",
    )
    delegation_add.add_argument("--agency", required=True, help="agency code")
    delegation_add.add_argument("--agreement", required=True, help="the agreement's number")
    delegation_add.add_argument("--signed-on", required=True, type=_day, help="YYYY-MM-DD")
    delegation_add.add_argument(
        "--valid-from", required=True, type=_day, help="first day of the term, YYYY-MM-DD"
    )
    delegation_add.add_argument(
        "--valid-until", type=_day, help="last day of the term, YYYY-MM-DD (default: no end)"
    )
    delegation_add.add_argument("--symbol", required=True, help="one of the agency's symbols")
    delegation_add.add_argument("--first", required=True, type=int, help="first number covered")
    delegation_add.add_argument("--last", required=True, type=int, help="last number covered")
    delegation_add.add_argument(
        "--notified-on",
        required=True,
        type=_day,
        help="the day both tax offices had been notified, YYYY-MM-DD (the delegate may issue "
        "3 days later)",
    )
    delegation_list = delegations.add_parser("list", help="list agreements and their state today")
    delegation_list.add_argument("--agency", help="agency code (default: all)")
    delegation_end = delegations.add_parser("end", help="end an agreement early")
    delegation_end.add_argument("--agency", required=True, help="agency code")
    delegation_end.add_argument("--agreement", required=True, help="the agreement's number")
    delegation_end.add_argument(
        "--ended-on",
        required=True,
        type=_day,
        help="YYYY-MM-DD: from this day on it covers no receipt",
    )
    delegation_end.add_argument("--reason", required=True, help="why it ends early")

    notices = receipt_areas.add_parser(
        "notices",
        help="notices of receipt errors sent to the tax authority (04/SS-CTĐT): list them, "
        "dismiss a rejected or failed one",
    ).add_subparsers(dest="action", required=True)
    notice_list = notices.add_parser("list", help="list notices, newest first")
    notice_list.add_argument("--agency", help="agency code (default: all)")
    notice_list.add_argument(
        "--status", choices=[status.value for status in TaxNoticeStatus], help="only this status"
    )
    notice_list.add_argument(
        "--date", type=_day, help="approved that day, YYYY-MM-DD (Asia/Ho_Chi_Minh)"
    )
    notice_list.add_argument("--limit", type=_count, default=100, help="at most this many")
    notice_dismiss = notices.add_parser(
        "dismiss",
        help="dismiss a rejected or failed notice with a reason: kept and listed, no longer "
        "warned of (a corrected notice is a new notify correction)",
    )
    notice_dismiss.add_argument("--notice", required=True, help="the notice's id (rtn_…)")
    notice_dismiss.add_argument("--reason", required=True, help="why it needs no further send")

    recon = commands.add_parser("recon", help="daily reconciliation").add_subparsers(
        dest="action", required=True
    )
    recon_import = recon.add_parser(
        "import",
        help="import a statement file",
        description="Import a statement file. Exit status: 0 when the file is accepted (or was "
        "accepted before: a duplicate), 1 when it is quarantined (the reason and each bad row "
        "are printed; a re-upload of a quarantined file stays quarantined) or refused.",
    )
    recon_import.add_argument("file")
    recon_import.add_argument(
        "--source",
        required=True,
        help="the file's format: camt053, camt054, mt940, bank_csv, "
        "bank_xlsx, vnpay_day, pos_settlement, treasury_csv, treasury_xlsx, vnpost_cod",
    )
    recon_import.add_argument("--account", help="collection account, where relevant")
    recon_import.add_argument(
        "--bank-profile", help="bank_csv/bank_xlsx: a shipped column layout (vn_standard, generic)"
    )
    recon_import.add_argument(
        "--mapping", help="bank_csv/bank_xlsx: the column layout as a JSON object (ColumnMapping)"
    )
    recon_run = recon.add_parser("run", help="reconcile a business day")
    recon_run.add_argument("--date", required=True, help="YYYY-MM-DD (Asia/Ho_Chi_Minh)")
    recon_report = recon.add_parser("report", help="write a day's report")
    recon_report.add_argument("--date", required=True)
    recon_report.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    recon_report.add_argument("--output", help="file to write (default: doi-soat-DATE.FORMAT)")

    clients = commands.add_parser("clients", help="manage API clients").add_subparsers(
        dest="action", required=True
    )
    create = clients.add_parser("create", help="create an API key (printed once)")
    _add_scope(create, office_help="post office code, for a postal_operator key")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--name", help="who holds the key (default: role and agencies)")
    return parser


def _day(text: str) -> date:
    """A ``YYYY-MM-DD`` argument; anything else is a usage error naming the value."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date YYYY-MM-DD: {text!r}") from None


def _count(text: str) -> int:
    """A count of 1..1000; anything else is a usage error naming the value."""
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise argparse.ArgumentTypeError(f"not a count 1..1000: {text!r}")
    return int(text)


def _add_scope(parser: argparse.ArgumentParser, *, office_help: str) -> None:
    """The agencies and post offices a console user or an API key may act for (both repeat),
    and the person behind it."""
    parser.add_argument(
        "--person",
        help="the staff member (e.g. their work e-mail) shared by their API key and console "
        "user: nobody approves what the same person resolved, whichever credential was used",
    )
    parser.add_argument("--agency", action="append", default=[], help="agency code (repeat)")
    parser.add_argument(
        "--all-agencies",
        action="store_true",
        help="finance and admin roles: deployment-wide (every agency, e.g. a provincial finance "
        "department); without it only the --agency ones, and none if there is none",
    )
    parser.add_argument(
        "--post-office", action="append", default=[], help=f"{office_help} (repeat)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        overrides = {
            key: value
            for key, value in (
                ("host", getattr(args, "host", None)),
                ("port", getattr(args, "port", None)),
            )
            if value is not None
        }
        settings = load_settings(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level)
    if args.command in ("serve", "worker"):
        try:  # the signing certificates: one clear line rather than a traceback at start-up
            load_issuers(settings, datetime.now(UTC))
        except ConfigError as exc:
            print(f"gateway: {exc}", file=sys.stderr)
            return 2
    if args.command in ("serve", "worker"):
        problem = _lazy_modules_problem()
        if problem is not None:
            print(f"gateway: {problem}", file=sys.stderr)
            return 2
    if args.command == "serve":
        if args.no_workers:
            settings = settings.model_copy(update={"workers_in_process": False})
        problem = _processes_problem(settings, args.processes)
        if problem:
            print(f"gateway: {problem}", file=sys.stderr)
            return 2
        return _serve(settings, args.processes)
    problem = _database_problem(settings, args.command)
    if problem is not None:
        print(f"gateway: {problem}", file=sys.stderr)
        return 2
    if args.command == "worker":
        return asyncio.run(_worker(settings))
    if args.command == "migrate":
        upgrade(settings.database_dsn)
        print("database is up to date")
        return 0
    try:
        return asyncio.run(_admin(settings, args))
    except OperationalError as exc:
        print(
            f"gateway: the database is not ready ({exc.orig}); run `gateway migrate`",
            file=sys.stderr,
        )
        return 1
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:  # the stable code first, as the API's problem documents
        print(f"gateway: {exc.code}: {exc.detail}", file=sys.stderr)
        for error in getattr(exc, "errors", []):
            print(f"  {error.field}: {error.code}: {error.message}", file=sys.stderr)
        return 1


def _serve(settings: Settings, processes: int) -> int:
    """Listen first, then touch data: a second instance on a busy port stops here, before
    migrating or seeding (which would renew the first one's sandbox passwords and keys) and
    before reading the database. With ``processes`` > 1 the supervisor binds every process's
    sockets and checks the database before it forks anything."""
    from gateway.app import create_app

    try:
        listeners = _bind(settings, processes)
    except OSError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    problem = _database_problem(settings, "serve")
    if problem is not None:
        listeners.close()
        print(f"gateway: {problem}", file=sys.stderr)
        return 2
    if processes > 1:
        return _serve_many(settings, listeners)
    # Sandbox mode migrates at start-up; production applies migrations explicitly
    # (`gateway migrate`) so that several processes never race to do it.
    app = create_app(settings, background=settings.workers_in_process)
    # access_log=None: see _run_until_stopped.
    web.run_app(app, sock=listeners.per_process[0], print=None, access_log=None)
    return 0


@dataclass
class _Listeners:
    """The bound, listening sockets of each server process (the public one, then the metrics
    one if configured), and what holds the port for a group of several (:func:`_port_lock`)."""

    per_process: list[list[socket.socket]] = field(default_factory=list)
    held: list[socket.socket] = field(default_factory=list)

    def close(self) -> None:
        for sock in [*self.held, *(s for group in self.per_process for s in group)]:
            sock.close()


def _bind(settings: Settings, processes: int) -> _Listeners:
    """Every process's sockets, or an :class:`OSError` naming the address that is taken.

    One process binds plain sockets, so any other listener on the port (a second gateway)
    makes the bind fail. Several processes share the public port with ``SO_REUSEPORT``, which
    another group with the same option and user would join silently; so the group first
    takes the port's lock (:func:`_port_lock`, against a group starting at the same moment)
    and binds the port once without ``SO_REUSEPORT`` (against anything already listening:
    a single gateway, another group), then binds one ``SO_REUSEPORT`` socket per process.
    Process *i* serves ``/metrics`` on ``metrics_port + i``: each process counts its own
    requests, and the scraper sums the N targets (docs/deployment.md)."""
    listeners = _Listeners()
    metrics_host = settings.metrics_host or settings.host
    try:
        if processes > 1:
            listeners.held.append(_port_lock(settings.host, settings.port))
            _listen(settings.host, settings.port).close()
        for index in range(processes):
            group = [_listen(settings.host, settings.port, reuse_port=processes > 1)]
            listeners.per_process.append(group)
            if settings.metrics_port is not None:
                group.append(_listen(metrics_host, settings.metrics_port + index))
    except OSError:
        listeners.close()
        raise
    return listeners


def _port_lock(host: str, port: int) -> socket.socket:
    """A name only one ``serve --processes`` group per address and port can hold (Linux's
    abstract socket namespace: released by the kernel when the last process holding it exits,
    no stale file), or an :class:`OSError` in the words of :func:`_listen`.

    The name holds the address ``host`` resolves to (``localhost`` and ``127.0.0.1`` are one
    name) and the port, ``gateway-serve-port-127.0.0.1:8080`` or ``…-[::1]:8080``: groups on
    two addresses of one machine with the same port (``127.0.0.1`` and ``127.0.0.2``, two
    interfaces) are two listeners and may both start. Not guarded by the name: a group on the
    wildcard address (``0.0.0.0``) and one on a specific address starting at the same instant;
    a moment apart, the later one's plain bind fails (the wildcard covers every address)."""
    lock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if sys.platform != "linux":  # no abstract namespace: the plain bind still guards
        return lock
    try:
        family, address = _resolved(host, port)
    except OSError as exc:
        lock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    bound = f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
    try:
        lock.bind(f"\0gateway-serve-port-{bound}:{port}")
    except OSError:
        lock.close()
        message = f"cannot listen on {host}:{port}: a group of gateway processes holds the port"
        raise OSError(f"{message} (is another gateway running?)") from None
    return lock


def _resolved(host: str, port: int) -> tuple[socket.AddressFamily, Any]:
    """The address family and socket address that ``host:port`` binds to."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return family, address


def _listen(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening socket on ``host:port``; an :class:`OSError` naming the address when it
    is taken (by another gateway?) or cannot be bound."""
    try:
        family, address = _resolved(host, port)
        return socket.create_server(address, family=family, reuse_port=reuse_port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        message = f"cannot listen on {host}:{port}: {reason} (is another gateway running?)"
        raise OSError(message) from None


def _database_problem(settings: Settings, command: str) -> str | None:
    """Why the configured database cannot be used, in one line naming the key, or None.
    A SQLite file is created by ``migrate`` (and by sandbox mode, which migrates at start);
    any other command needs it to exist. A PostgreSQL server must answer."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.database_dsn)
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "")
        if settings.sandbox or command == "migrate" or path.exists():
            return None
        return f"database_url: the database file {path} does not exist; run `gateway migrate`"
    reason = asyncio.run(_unreachable(settings.database_dsn))
    if reason is None:
        return None
    where = url.render_as_string(hide_password=True)
    return f"database_url: cannot use the database {where}: {reason}"


async def _unreachable(dsn: str) -> str | None:
    """Why a connection to ``dsn`` fails (the driver's first line), or None."""
    from gateway.core.db import Database
    from gateway.core.errors import DatabaseUnavailable

    database = Database(dsn, pool_size=1)
    try:
        await database.ping()
    except DatabaseUnavailable as exc:
        cause = exc.__cause__
        detail = getattr(cause, "orig", None) or cause or exc
        return (str(detail).strip().splitlines() or [type(detail).__name__])[0]
    finally:
        await database.close()
    return None


#: What the service imports only where it is used, not at start: the matching engine's
#: polars (a reconciliation run), openpyxl (XLSX uploads and reports), alembic (migrations:
#: `gateway migrate`, sandbox start-up) and fpdf2 (a receipt's PDF). A process that never
#: does these does not hold them: about 70 MiB of RSS per process (docs/performance.md,
#: "Memory"). The import sites say so and name this tuple.
LAZY_MODULES = ("polars", "openpyxl", "alembic.command", "alembic.config", "fpdf")

_IMPORT_CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        print(f"{name} ({type(exc).__name__}: {exc})".splitlines()[0])
        sys.exit(1)
"""


def _lazy_modules_problem() -> str | None:
    """Why one of :data:`LAZY_MODULES` does not import, in one line, or None.

    Checked at the start of `serve` and `worker`, so a missing or broken library (an
    extension built for another CPU or Python, a dependency left out) stops start-up rather
    than the first reconciliation or export hours later. They are imported in a throwaway
    interpreter (about 0.7 s of CPU, once per start, not per process of a group), because
    importing them here would keep them in this process: what loading lazily avoids.
    ``find_spec`` alone would see a missing library but not a broken one."""
    try:
        checked = subprocess.run(  # noqa: S603 -- this interpreter, a fixed program
            [sys.executable, "-c", _IMPORT_CHECK, *LAZY_MODULES],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "importing the libraries of reconciliation, reports and migrations timed out"
    if checked.returncode == 0:
        return None
    detail = checked.stdout.strip() or f"the check exited with status {checked.returncode}"
    return f"a library the gateway needs does not import: {detail}"


def _processes_problem(settings: Settings, processes: int) -> str | None:
    if processes < 1:
        return "--processes must be at least 1"
    if processes == 1:
        return None
    if settings.sandbox or settings.database_dsn.startswith("sqlite"):
        # The sandboxes keep their state in memory, and SQLite's writers queue on a lock that
        # lives in one process: several processes need PostgreSQL outside sandbox mode.
        return "--processes above 1 needs PostgreSQL (database_url) outside sandbox mode"
    if not hasattr(socket, "SO_REUSEPORT"):
        return "--processes above 1 needs SO_REUSEPORT; run one process per port behind a proxy"
    if settings.metrics_port is not None and settings.metrics_port + processes - 1 > 65535:
        return f"metrics_port: {processes} processes need metrics_port + {processes - 1} ≤ 65535"
    return None


def _serve_one(settings: Settings, index: int, listeners: _Listeners) -> None:
    """Server process ``index`` of several: its own event loop, engine and pool, accepting on
    its own ``SO_REUSEPORT`` socket (the kernel spreads connections over the group's
    sockets). It closes its siblings' sockets, so that a socket whose process has died
    leaves the group instead of queueing connections nobody accepts."""
    import signal

    from gateway.app import create_app

    # Not the supervisor's handlers (inherited through fork): a signal that comes while this
    # process starts (a loaded machine may take seconds) is remembered and honoured once its
    # own handlers are installed, so a group stopped while it starts still cleans up and
    # exits 0 (it was killed by the signal, and the group exited 1).
    # The supervisor forked this process with both signals blocked (_serve_many): they wait
    # until these handlers are in place.
    early: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda received, _frame: early.append(received))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    mine = listeners.per_process[index]
    for number, group in enumerate(listeners.per_process):
        if number != index:
            for sock in group:
                sock.close()
    if settings.metrics_port is not None:
        # /metrics answers on this process's own metrics socket (gateway.api.health).
        settings = settings.model_copy(update={"metrics_port": settings.metrics_port + index})
    app = create_app(settings, background=settings.workers_in_process, first_process=index == 0)
    asyncio.run(_run_until_stopped(app, mine, early))


def _serve_many(settings: Settings, listeners: _Listeners) -> int:
    """Fork a server per bound socket group and supervise them: SIGTERM or SIGINT is passed
    on to each; when one exits on its own, the others are stopped too and the exit status is
    1, so the service manager (systemd, Kubernetes) restarts the whole group."""
    import multiprocessing
    import multiprocessing.connection
    import signal

    # fork: the children inherit the validated settings, the logging set-up and the bound
    # sockets; the database check's event loop is closed, no other exists in this process.
    context = multiprocessing.get_context("fork")
    children = [
        context.Process(
            target=_serve_one, args=(settings, index, listeners), name=f"gateway-serve-{index}"
        )
        for index in range(len(listeners.per_process))
    ]
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.pid is not None and child.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)

    # Installed before the first fork: a signal while the group starts stops what started.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        if stopping:
            break
        # Forked with both signals blocked, so none reaches the child while it still has
        # this process's handlers (it would stop its siblings and go on serving);
        # _serve_one unblocks them once its own are installed.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        try:
            child.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    children = [child for child in children if child.pid is not None]
    if stopping:
        stop(signal.SIGTERM, None)  # the ones started before the signal
    for group in listeners.per_process:  # the supervisor accepts nothing; it keeps the lock
        for sock in group:
            sock.close()
    if not children:  # stopped before the first could start
        return 0
    by_sentinel = {child.sentinel: child for child in children}
    ready = multiprocessing.connection.wait(list(by_sentinel))
    asked_to_stop = stopping
    if not asked_to_stop:
        # The sentinel closes a moment before the process can be reaped: join, not exitcode.
        exited = next(child for sentinel, child in by_sentinel.items() if sentinel in ready)
        exited.join()
        print(
            f"gateway: server process {exited.name} exited ({exited.exitcode}); stopping all",
            file=sys.stderr,
        )
        stop(signal.SIGTERM, None)
    for child in children:
        child.join()
    return 0 if asked_to_stop and all(child.exitcode == 0 for child in children) else 1


async def _worker(settings: Settings) -> int:
    """The same wiring as the service, without an HTTP listener: only the loops run."""
    from gateway.app import create_app

    print("gateway worker running; stop with Ctrl-C", file=sys.stderr)
    await _run_until_stopped(create_app(settings, background=True))
    return 0


async def _run_until_stopped(
    app: web.Application, socks: Sequence[socket.socket] = (), early: Sequence[int] = ()
) -> None:
    """Run ``app`` (its background loops, and an HTTP site on each of ``socks``) until
    SIGINT or SIGTERM, then clean up once. A second signal changes nothing: Ctrl-C reaches
    every process of a group, and systemd signals the whole control group while the
    supervisor passes its own signal on, so a process may be told twice — and must not
    abandon its clean-up (requests in flight, the database pool) the second time.
    ``early``: signals received before this was called (it stops at once after start-up)."""
    import signal

    # No aiohttp access logger: the ``http_request`` event (gateway/http/middleware.py) is the
    # access log, structured and redacted; aiohttp's own would be a second, unstructured line
    # with the query string, built per connection even while stdlib logging drops it.
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()  # starts the cleanup contexts, hence the background loops
    for sock in socks:
        await web.SockSite(runner, sock).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if early:  # read after the handlers are in place: no signal falls between
        stop.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def _admin(settings: Settings, args: argparse.Namespace) -> int:
    """Every administrative command works on the services the app itself would build."""
    if settings.sandbox:
        await asyncio.to_thread(upgrade, settings.database_dsn)
    async with build_services(settings) as services:
        db, clock = services.database, services.clock
        if args.command == "agencies" and args.action == "add":
            agency = await add_agency(
                db,
                clock,
                NewAgency(
                    code=args.code,
                    name=args.name,
                    bank_bin=args.bank_bin,
                    account_number=args.account_number,
                    account_name=args.account_name,
                    kbnn_code=args.kbnn_code,
                    revenue_account=args.revenue_account,
                    fees_pending_account=args.fees_pending_account,
                ),
            )
            print(f"agency {agency.code} added")
        elif args.command == "agencies":
            for agency in await list_agencies(db):
                print(f"{agency.code}\t{agency.name}\t{agency.bank_bin}/{agency.account_number}")
        elif args.command == "terminals":
            await _terminals(services, args)
        elif args.command == "users":
            return await _users(services, args)
        elif args.command == "recon":
            return await _recon(services, args)
        elif args.command == "post-offices":
            await _post_offices(services, args)
        elif args.command == "receipts" and args.area == "summary":
            return await _receipt_summary(services, args)
        elif args.command == "receipts" and args.area == "notices":
            return await _receipt_notices(services, args)
        elif args.command == "receipts" and args.area == "delegations":
            await _receipt_delegations(services, args)
        elif args.command == "receipts":
            await _receipt_ranges(services, args)
        elif args.command == "clients":
            role = Role(args.role)
            scope = args.post_office if role is Role.POSTAL_OPERATOR else args.agency
            if not scope and not args.all_agencies:
                option = "--post-office" if role is Role.POSTAL_OPERATOR else "--agency"
                raise GatewayError(f"a {role.value} key needs at least one {option}")
            name = args.name or f"{role.value} for {', '.join(scope) or 'all agencies'}"
            client_id, key = await create_client(
                db,
                clock,
                name=name,
                role=role,
                agency_codes=args.agency,
                person=args.person,
                all_agencies=args.all_agencies,
            )
            await offices.scope_client(db, client_id, args.post_office)
            print(f"client {client_id} created; its API key (shown only now):\n{key}")
    return 0


async def _users(services: Services, args: argparse.Namespace) -> int:
    if args.action == "unlock":
        unlocked = await services.staff.unlock(args.username)
        print(f"user {args.username} " + ("unlocked" if unlocked else "was not locked"))
        return 0
    password = _read_password(args.password_stdin)
    if password is None:
        print(
            "gateway: no terminal to ask the password on; pass it with --password-stdin",
            file=sys.stderr,
        )
        return 2
    await services.staff.create_user(
        username=args.username,
        display_name=args.name,
        role=Role(args.role),
        password=password,
        agency_codes=args.agency,
        person=args.person,
        all_agencies=args.all_agencies,
    )
    await offices.scope_user(services.database, args.username, args.post_office)
    print(f"user {args.username} created")
    return 0


def _read_password(from_stdin: bool) -> str | None:
    """The new user's password: the first line of standard input with ``--password-stdin``,
    else asked on the terminal (None when there is none: getpass would read stdin and echo
    it, or fail)."""
    import getpass

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        return None
    return getpass.getpass("password (12+ characters): ")


async def _post_offices(services: Services, args: argparse.Namespace) -> None:
    db = services.database
    if args.action == "add":
        office = await offices.add_post_office(
            db, services.clock, args.code, args.name, args.province
        )
        print(f"post office {office.code} added")
    elif args.action == "serve":
        routed = await offices.serve_agency(db, args.agency, args.office)
        note = f"; {routed} waiting orders routed to it" if routed else ""
        print(f"post office {args.office} now serves agency {args.agency}{note}")
    else:
        for office in await offices.list_post_offices(db):
            print(f"{office.code}\t{office.name}\t{office.province_code or ''}")


async def _recon(services: Services, args: argparse.Namespace) -> int:
    """The CLI acts as the operator at the keyboard (actor ``cli``, role admin): someone with
    the server's database is deployment-wide. The exit status of an import says whether the
    file's lines are in the books: 1 when it is quarantined (also a repeat of a quarantined
    file, which a script must not take for done), 0 when it is accepted."""

    from reconciliation.model import business_day
    from reconciliation.scope import EVERYWHERE
    from reconciliation.workflow import Actor

    actor = Actor("cli", Role.ADMIN, EVERYWHERE)
    if args.action == "import":
        path = Path(args.file)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            print(f"gateway: {args.file}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        view = await services.imports.import_file(
            format=args.source,
            data=data,
            filename=path.name,
            account=args.account,
            actor=actor.id,
            scope=actor.scope,
            bank_profile=args.bank_profile,
            mapping=args.mapping,
        )
        note = " (already imported)" if view["duplicate"] else ""
        repeats = f" ({view['overlapping']} already imported)" if view["overlapping"] else ""
        print(f"{view['id']}: {view['status']}{note}, {view['line_count']} lines{repeats}")
        if view["reason"]:
            print(f"  reason: {view['reason']}")
        for error in view["row_errors"]:
            print(f"  line {error['line_no']}: {error['code']}: {error['message']}")
        return 0 if view["status"] == ImportStatus.ACCEPTED else 1
    day = business_day(args.date)
    if day is None:
        print(f"gateway: --date: not a business day (YYYY-MM-DD): {args.date}", file=sys.stderr)
        return 2
    if args.action == "run":
        run = await services.recon_runs.run(actor, day)
        summary = run["summary"]
        print(
            f"{run['id']}: {summary['matched']['count']} matched, "
            f"{summary['exceptions']['count']} exceptions {summary['exceptions']['by_type']}"
        )
        return 0
    body, _ = await services.reports.render(day, args.format, actor.scope)
    output = Path(args.output or f"doi-soat-{day.isoformat()}.{args.format}")
    await asyncio.to_thread(output.write_bytes, body)
    print(f"report written to {output}")
    return 0


async def _receipt_ranges(services: Services, args: argparse.Namespace) -> None:
    if args.action == "add":
        added = await services.receipts.add_range(
            args.agency, args.symbol, args.point, args.first, args.last
        )
        print(
            f"range {added['first_number']}..{added['last_number']} of "
            f"{added['template_code']}/{added['symbol']} added for {args.agency} ({args.point})"
        )
        return
    print("agency\ttemplate\tsymbol\tpoint\tfirst\tlast\tnext\tleft")
    for row in await services.receipts.ranges(args.agency):
        left = row["last_number"] - row["next_number"] + 1
        print(
            f"{row['agency_code']}\t{row['template_code']}\t{row['symbol']}\t{row['point']}\t"
            f"{row['first_number']}\t{row['last_number']}\t{row['next_number']}\t{left}"
        )


async def _receipt_delegations(services: Services, args: argparse.Namespace) -> None:
    """``gateway receipts delegations add|list|end``: the CLI is the operator at the keyboard
    (actor ``cli``, as for reconciliation); the audit log records it."""
    receipts = services.receipts
    if args.action == "add":
        added = await receipts.add_delegation(
            args.agency,
            agreement_number=args.agreement,
            signed_on=args.signed_on,
            valid_from=args.valid_from,
            valid_until=args.valid_until,
            symbol=args.symbol,
            first=args.first,
            last=args.last,
            notified_on=args.notified_on,
            actor="cli",
        )
        print(
            f"agreement {added['agreement_number']} recorded for {args.agency}: "
            f"{added['first_number']}..{added['last_number']} of "
            f"{added['template_code']}/{added['symbol']}, issuing from "
            f"{added['may_issue_from']} ({added['state']})"
        )
        _warn_if_no_point_reaches(added, await receipts.next_numbers(args.agency, args.symbol))
        return
    if args.action == "end":
        ended = await receipts.end_delegation(
            args.agency, args.agreement, args.ended_on, args.reason, "cli"
        )
        print(
            f"agreement {ended['agreement_number']} of {args.agency} ended on {ended['ended_on']}"
        )
        return
    print(
        "agency\tagreement\tsymbol\tfirst\tlast\tvalid_from\tvalid_until\tnotified_on\tended_on\tstate"
    )
    for row in await receipts.delegations(args.agency):
        print(
            f"{row['agency_code']}\t{row['agreement_number']}\t{row['symbol']}\t"
            f"{row['first_number']}\t{row['last_number']}\t{row['valid_from']}\t"
            f"{row['valid_until'] or '-'}\t{row['notified_on']}\t{row['ended_on'] or '-'}\t"
            f"{row['state']}"
        )


def _warn_if_no_point_reaches(added: dict[str, Any], next_numbers: dict[str, int]) -> None:
    """Warn when no point's next number is inside the new agreement: its receipts would wait
    ``delegation_outside_range`` — a point draws from its lowest range with numbers left, and a
    new range only comes above its earlier ones (docs/receipts.md)."""
    first, last = added["first_number"], added["last_number"]
    if any(first <= number <= last for number in next_numbers.values()):
        return
    points = ", ".join(f"{point} {number}" for point, number in next_numbers.items())
    print(
        f"gateway: warning: no point's next number of {added['template_code']}/"
        f"{added['symbol']} is inside {first}..{last} "
        f"(next: {points or 'no range with numbers left'}); the receipts wait "
        "delegation_outside_range until a point's next number is covered: record an agreement "
        "covering the next numbers",
        file=sys.stderr,
    )


async def _receipt_summary(services: Services, args: argparse.Namespace) -> int:
    """Show the day's summaries (every revision) or, with ``--send``, send them now; exit 1
    when an agency's summary could not be sent (the reason on stderr), 2 for an agency that
    issues no receipts here."""
    summaries, day = services.receipt_summaries, args.date
    codes = [args.agency] if args.agency else summaries.agency_codes()
    if args.agency and args.agency not in summaries.agency_codes():
        print(
            f"gateway: --agency: receipts_not_configured: no [receipts.agencies] entry "
            f"for {args.agency}",
            file=sys.stderr,
        )
        return 2
    failed = 0
    for code in codes:
        if args.send:
            try:
                await summaries.send_now(day, code, correction=args.correction)
            except GatewayError as exc:
                print(f"{code}\t{day}\t{exc.code}: {exc.detail}", file=sys.stderr)
                failed += 1
        shown = await summaries.show(day, code)
        for item in shown:
            _print_summary(item)
        if not shown:
            rows = await summaries.rows_of(day, code)
            state = f"chưa lập ({len(rows)} dòng)" if rows else "không có biên lai nào trong ngày"
            print(f"{code}\t{day}\t{state}")
        for notice in await services.receipt_tax_notices.of_day(day, code):
            _print_notice(day, notice)
    return 1 if failed else 0


async def _receipt_notices(services: Services, args: argparse.Namespace) -> int:
    """``gateway receipts notices list|dismiss``: the CLI is the operator at the keyboard
    (actor ``cli``, every agency, as for reconciliation); a dismissal is audit-logged. A
    refusal is a :class:`GatewayError` (its code on stderr, exit 1, by :func:`main`)."""
    from reconciliation.scope import EVERYWHERE
    from reconciliation.workflow import Actor

    notices = services.receipt_tax_notices
    if args.action == "dismiss":
        actor = Actor("cli", Role.ADMIN, EVERYWHERE)
        done = await notices.dismiss(actor, args.notice, args.reason)
        print(f"{done['id']}\t{done['status']}\t{NOTICE_LABELS[TaxNoticeStatus.DISMISSED]}")
        return 0
    page = await notices.list_page(
        EVERYWHERE, agency_code=args.agency, status=args.status, day=args.date, limit=args.limit
    )
    print("notice\tagency\tday\treceipt\tstatus\tlabel\treference/error/dismissal")
    for item in page["data"]:
        receipt, dismissal = item["receipt"], item["dismissal"]
        outcome = item["reference"] or item["last_error"] or ""
        if dismissal:
            outcome = f"{dismissal['by']} {dismissal['at']}: {dismissal['reason']}"
        print(
            f"{item['id']}\t{item['agency_code']}\t{item['notified_on']}\t"
            f"{receipt['template_code']} {receipt['symbol']} số {receipt['number']}\t"
            f"{item['status']}\t{NOTICE_LABELS[TaxNoticeStatus(item['status'])]}\t{outcome}"
        )
        for reason in item["reasons"]:
            print(f"\tlý do {reason['code']}: {reason['message']}")
    if page["next_cursor"]:
        print(f"gateway: more than {args.limit} notices; narrow with --date or --status")
    return 0


def _print_notice(day: date, item: dict[str, Any]) -> None:
    """A notice of receipt errors (04/SS-CTĐT) approved that day, sent on its own."""
    receipt = item["receipt"]
    label = NOTICE_LABELS[TaxNoticeStatus(item["status"])]
    print(
        f"{item['agency_code']}\t{day}\t04/SS-CTĐT\t"
        f"{receipt['template_code']} {receipt['symbol']} số {receipt['number']} "
        f"ngày {receipt['issued_on']}\t"
        f"{item['status']}\t{label}\t{item['reference'] or item['last_error'] or ''}"
    )
    for reason in item["reasons"]:
        print(f"\tlý do {reason['code']}: {reason['message']}")


def _print_summary(item: dict[str, Any]) -> None:
    label = STATUS_LABELS[ReceiptSummaryStatus(item["status"])]
    print(
        f"{item['agency_code']}\t{item['business_date']}\t#{item['revision']}\t"
        f"{item['status']}\t{label}\t{item['row_count']} dòng\t{item['amount']} VND\t"
        f"{item['reference'] or item['last_error'] or ''}"
    )
    for reason in item["reasons"]:
        print(f"\tlý do {reason['code']}: {reason['message']}")
    outage = item["outage"]
    if outage:
        end = outage["ended_at"] or "chưa khắc phục"
        deadline = outage["deadline"] or "3 ngày làm việc sau khi khắc phục"
        print(f"\tsự cố kỹ thuật từ {outage['started_at']} đến {end}; hạn gửi: {deadline}")


async def _terminals(services: Services, args: argparse.Namespace) -> None:
    if args.action == "add":
        view = await services.terminals.add(args.agency, args.terminal_id, args.name)
        print(f"terminal {view['terminal_id']} registered for {view['agency_code']}")
        return
    agency_ids = frozenset(
        a.id for a in await list_agencies(services.database) if a.code == args.agency
    )
    for terminal in await services.terminals.list(agency_ids):
        state = "busy" if terminal["busy"] else "idle"
        print(f"{terminal['terminal_id']}\t{terminal['name']}\t{state}")


if __name__ == "__main__":
    sys.exit(main())
