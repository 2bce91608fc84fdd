"""structlog configured once (contextvars first, ISO timestamps, JSON unless asked otherwise)
and the Prometheus metrics of one application instance."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any, Literal

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

#: Keys whose values never reach a log line, whatever a caller binds.
REDACTED_KEYS = frozenset(
    {"phone", "email", "id_number", "address", "secret", "api_key", "authorization", "password"}
)


def _scrub(value: Any) -> Any:
    """A copy of ``value`` with every redacted key replaced, however deeply it is nested."""
    if isinstance(value, Mapping):
        return {
            key: "[redacted]" if key in REDACTED_KEYS else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if type(value) is tuple:  # stays a tuple: exc_info may be one
        return tuple(_scrub(item) for item in value)
    return value


def _redact(
    _logger: object, _name: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    for key, value in event.items():
        event[key] = "[redacted]" if key in REDACTED_KEYS else _scrub(value)
    return event


def configure_logging(fmt: Literal["json", "console"] = "json", level: str = "info") -> None:
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if fmt == "console" else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=False,
    )


#: The request methods counted under their own name in the metrics (RFC 9110 and PATCH).
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)


class Metrics:
    """Metrics live in a registry per application, so several apps (tests) can coexist."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_http_requests",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        #: The two labelled children of each (method, route, status) seen: ``labels()``
        #: checks and joins its labels under a lock on every call, half the cost of a
        #: request's two updates. A child lives as long as its metric (none is removed),
        #: so this holds no more than the registry does.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.payments_created = Counter(
            "gateway_payments_created", "Payments created", registry=self.registry
        )
        self.payments_paid = Counter(
            "gateway_payments_paid", "Payments settled as paid", ["channel"], registry=self.registry
        )
        self.postal_statuses = Counter(
            "gateway_postal_order_statuses",
            "Postal orders reaching a status",
            ["status"],
            registry=self.registry,
        )
        self.open_attempts = Gauge(
            "gateway_attempts_open",
            "Attempts still waiting for their provider's word, by channel and age",
            ["channel", "age"],
            registry=self.registry,
        )
        self._open_seen: set[tuple[str, str]] = set()
        #: An alert while above 0: refunds still pending past their channel's refund
        #: horizon, handed to finance (gateway/services/polling.py).
        self.flagged_refunds = Gauge(
            "gateway_refunds_flagged",
            "Refunds still pending past their channel's refund horizon, handed to finance (alert)",
            ["channel"],
            registry=self.registry,
        )
        self._flagged_refunds_seen: set[str] = set()
        self.notices = Counter(
            "gateway_provider_notices",
            "Inbound provider notices by outcome",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.console_logins = Counter(
            "gateway_console_logins",
            "Console sign-ins that failed or were refused: failed, throttled, locked",
            ["outcome"],
            registry=self.registry,
        )

        self.receipts_issued = Counter(
            "gateway_receipts_issued",
            "E-receipts issued (numbered and signed)",
            ["agency"],
            registry=self.registry,
        )
        #: An alert: a paid payment's receipt waits (``reason``: no symbol for the year, range
        #: used up, certificate expired); it is issued once that is fixed.
        self.receipts_pending = Counter(
            "gateway_receipts_pending",
            "E-receipts that could not be issued at payment and wait (alert)",
            ["agency", "reason"],
            registry=self.registry,
        )
        #: An alert: every number range of a point of collection is used up.
        self.receipt_ranges_exhausted = Counter(
            "gateway_receipt_range_exhausted",
            "Receipts that found every number range of their point used up (alert)",
            ["agency"],
            registry=self.registry,
        )

        #: Each send of a same-day receipt summary to the tax authority, by outcome
        #: (``accepted``, ``rejected`` — an alert —, ``timeout``, ``unavailable``, ``failed``).
        self.receipt_summary_sends = Counter(
            "gateway_receipt_summary_sends",
            "Same-day receipt summaries sent to the tax authority, by outcome",
            ["agency", "outcome"],
            registry=self.registry,
        )

        #: Each send of a notice of receipt errors (04/SS-CTĐT) to the tax authority, by
        #: outcome (those of the summaries, and ``unsigned``: not signed now, tried again).
        self.receipt_tax_notice_sends = Counter(
            "gateway_receipt_tax_notice_sends",
            "Notices of receipt errors (04/SS-CTĐT) sent to the tax authority, by outcome",
            ["agency", "outcome"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency; a method HTTP does not define is
        counted as ``OTHER`` (labels stay bounded whatever a client sends)."""
        if method not in HTTP_METHODS:
            method = "OTHER"
        children = self._request_children.get((method, route, status))
        if children is None:
            children = self._request_children[method, route, status] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def set_open_attempts(self, counts: Mapping[tuple[str, str], int]) -> None:
        """The janitor's count of open attempts by (channel, age bucket); a pair no longer
        counted drops to 0."""
        for channel, age in self._open_seen - set(counts):
            self.open_attempts.labels(channel, age).set(0)
        for (channel, age), count in counts.items():
            self.open_attempts.labels(channel, age).set(count)
        self._open_seen |= set(counts)

    def set_flagged_refunds(self, counts: Mapping[str, int]) -> None:
        """The janitor's count of flagged pending refunds by channel; a channel no longer
        counted drops to 0."""
        for channel in self._flagged_refunds_seen - set(counts):
            self.flagged_refunds.labels(channel).set(0)
        for channel, count in counts.items():
            self.flagged_refunds.labels(channel).set(count)
        self._flagged_refunds_seen |= set(counts)
