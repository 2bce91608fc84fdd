"""The relational schema (SQLAlchemy Core). Money columns are BigInteger VND; time columns are
UTC. Alembic migrations in ``gateway/core/db/migrations`` must produce exactly this (a test
checks). Every status column carries the CHECK constraint of its machine
(:mod:`gateway.core.statuses`), which is the only writer of the column."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from gateway.core.db.types import UTCDateTime
from gateway.core.machines import check_constraint
from gateway.core.statuses import (
    ATTEMPTS,
    CORRECTIONS,
    DELIVERIES,
    EXCEPTIONS,
    IMPORTS,
    NOTIFICATIONS,
    PAYMENTS,
    POSTAL_EVENT_STATUSES,
    POSTAL_ORDERS,
    RECEIPT_SUMMARIES,
    RECEIPTS,
    REFUND_RESOLUTIONS,
    REFUNDS,
    RESOLUTIONS,
    RUNS,
    TAX_NOTICES,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

agencies = Table(
    "agencies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("bank_bin", String(6), nullable=False),
    Column("account_number", String(19), nullable=False),
    Column("account_name", String(100), nullable=False),
    Column("kbnn_code", String(16)),
    Column("revenue_account", String(32)),
    Column("fees_pending_account", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
)

api_clients = Table(
    "api_clients",
    metadata,
    Column("id", String(16), primary_key=True),  # the public key id embedded in the key
    Column("name", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("key_hash", String(64), nullable=False),  # SHA-256 hex of the whole key
    #: The staff member holding the key, shared with their console user: maker ≠ checker is
    #: decided per person, whichever credential each used. ``None``: the key is its own person.
    Column("person", String(64)),
    #: Deployment-wide (a provincial finance department): every agency, present and future.
    #: Explicit, so that an empty ``api_client_agencies`` never means "all".
    Column("all_agencies", Boolean, nullable=False, server_default=false()),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

api_client_agencies = Table(
    "api_client_agencies",
    metadata,
    Column("client_id", ForeignKey("api_clients.id"), primary_key=True),
    Column("agency_id", ForeignKey("agencies.id"), primary_key=True),
)

payments = Table(
    "payments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("client_id", ForeignKey("api_clients.id"), nullable=False),
    Column("dossier_code", String(64), nullable=False),
    Column("procedure_code", String(64)),
    Column("procedure_name", String(255)),
    Column("payer", JSON, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("reference", String(25), nullable=False, unique=True),
    Column("status", String(24), nullable=False),
    Column("review_reason", String(64)),
    Column("vietqr_payload", Text, nullable=False),
    Column("return_url", Text),
    Column("metadata", JSON, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime),
    #: Last ``sequence`` given to an outbox event about this payment (delivered in this order).
    Column("sequence", Integer, nullable=False, server_default="0"),
    Index("ix_payments_agency_created", "agency_id", "created_at", "id"),
    Index("ix_payments_dossier", "dossier_code"),
    Index("ix_payments_status_expires", "status", "expires_at"),
    PAYMENTS.check_constraint(),
)

payment_items = Table(
    "payment_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("payment_id", ForeignKey("payments.id"), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("kind", String(8), nullable=False),  # fee (phí) | charge (lệ phí) | postal
    Column("code", String(64)),
    Column("description", String(255), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("budget_subitem", String(16)),
)

attempts = Table(
    "attempts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("payment_id", ForeignKey("payments.id"), nullable=False, index=True),
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("provider_reference", String(64), nullable=False),
    Column("provider_transaction_id", String(64)),
    Column("amount", BigInteger, nullable=False),
    Column("terminal_id", String(32)),
    #: What the payer must do next (redirect URL, terminal), as returned by the API.
    Column("next_action", JSON),
    #: Provider facts: card brand, masked PAN, approval code, RRN, bank code, response codes.
    Column("details", JSON),
    Column("failure_code", String(32)),
    #: Set when money arrived through this attempt after another one had paid the bill.
    Column("review_reason", String(64)),
    Column("expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # -- the janitor (gateway/services/polling.py): when to ask the provider next, how often
    # it was asked, and when it was handed to finance because its channel's horizon passed.
    Column("next_query_at", UTCDateTime),
    Column("query_count", Integer, nullable=False, server_default="0"),
    Column("flagged_at", UTCDateTime),
    UniqueConstraint("channel", "provider_reference", name="uq_attempts_channel_reference"),
    Index("ix_attempts_channel_status", "channel", "status"),
    ATTEMPTS.check_constraint(),
)

#: Finance's decision on a flagged attempt, with maker-checker
#: (gateway.services.attempt_resolutions).
attempt_resolutions = Table(
    "attempt_resolutions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("attempt_id", ForeignKey("attempts.id"), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),  # failed | succeeded
    #: A success: the amount the provider says it took, and its transaction id (the evidence).
    Column("amount", BigInteger),
    Column("evidence", String(64)),
    Column("reason", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("decision_reason", Text),
    RESOLUTIONS.check_constraint(),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("payment_id", ForeignKey("payments.id"), nullable=False, index=True),
    Column("attempt_id", ForeignKey("attempts.id"), nullable=False),
    Column("client_id", ForeignKey("api_clients.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    #: Our reference towards the provider (VNPAY vnp_RequestId); unique per refund.
    Column("provider_reference", String(64), nullable=False, unique=True),
    Column("provider_transaction_id", String(64)),
    Column("failure_code", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # -- the janitor (gateway/services/polling.py): a pending refund is asked about again.
    Column("next_query_at", UTCDateTime),
    Column("query_count", Integer, nullable=False, server_default="0"),
    #: How much of the refund concerns each receipt of the payment, by receipt kind (``all``,
    #: ``fee``, ``charge``; ``postal`` for lines on no receipt): docs/receipts.md, "Refunds".
    #: NULL for a payment without receipts, and for refunds made before it was recorded.
    Column("receipt_shares", JSON),
    #: When the janitor handed it to finance: still pending past its channel's refund horizon.
    Column("flagged_at", UTCDateTime),
    REFUNDS.check_constraint(),
)

#: Finance's word on a refund made by hand or handed over at its horizon, with maker-checker
#: (gateway.services.resolutions): the shape of ``attempt_resolutions``, the evidence being the
#: bank's or terminal's reference of the refund; ``superseded`` when the provider's word came
#: first.
refund_resolutions = Table(
    "refund_resolutions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("refund_id", ForeignKey("refunds.id"), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),  # failed | succeeded
    Column("evidence", String(64)),
    Column("reason", Text),
    Column("status", String(16), nullable=False),
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("decision_reason", Text),
    REFUND_RESOLUTIONS.check_constraint(),
)

pos_terminals = Table(
    "pos_terminals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    #: The terminal's id at the POS cloud (printed on the device).
    Column("terminal_id", String(32), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    #: The one sale the terminal is running, if any (a terminal does one thing at a time).
    Column("active_attempt_id", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("client_id", ForeignKey("api_clients.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("events", JSON, nullable=False),  # event types, or ["*"]
    Column("secret", String(64), nullable=False),
    #: During a rotation the old secret signs too, until ``previous_secret_expires_at``.
    Column("previous_secret", String(64)),
    Column("previous_secret_expires_at", UTCDateTime),
    Column("disabled_at", UTCDateTime),
    Column("disabled_reason", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
)

outbox_events = Table(
    "outbox_events",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("type", String(64), nullable=False),
    #: The API client the event is about (owner of the payment); its endpoints receive it.
    Column("client_id", ForeignKey("api_clients.id"), nullable=False),
    #: What the event is about: a payment, or a postal order (exactly one of the two).
    Column("payment_id", ForeignKey("payments.id")),
    Column("postal_order_id", ForeignKey("postal_orders.id")),
    Column("sequence", Integer, nullable=False),
    Column("body", Text, nullable=False),  # the exact JSON bytes every delivery sends
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_outbox_events_payment", "payment_id", "sequence"),
    Index("ix_outbox_events_postal_order", "postal_order_id", "sequence"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", ForeignKey("outbox_events.id"), nullable=False),
    Column("endpoint_id", ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("status", String(16), nullable=False),  # pending | delivering | succeeded | failed
    Column("attempt_count", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    #: A claimed delivery belongs to one worker until this time (then it may be reclaimed).
    Column("locked_until", UTCDateTime),
    Column("last_status_code", Integer),
    Column("last_error", String(255)),
    Column("delivered_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("event_id", "endpoint_id", name="uq_deliveries_event_endpoint"),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_endpoint", "endpoint_id", "id"),
    DELIVERIES.check_constraint(),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer),
    Column("error", String(255)),
    Column("duration_ms", Integer, nullable=False),
)

provider_events = Table(
    "provider_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("provider", String(32), nullable=False),
    Column("event_key", String(128), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("payload", Text, nullable=False),  # the raw verified body, as received
    Column("outcome", String(24), nullable=False),
    Column("reason", String(64)),
    Column("payment_id", ForeignKey("payments.id")),
    Column("amount", BigInteger),
    UniqueConstraint("provider", "event_key", name="uq_provider_events_provider_key"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("client_id", ForeignKey("api_clients.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# -- reconciliation ----------------------------------------------------------------------------

statement_imports = Table(
    "statement_imports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("source", String(16), nullable=False),  # gateway | vnpay | pos | bank | treasury | cod
    Column("format", String(32), nullable=False),
    Column("account", String(34)),
    Column("filename", String(255)),
    #: SHA-256 of the file's bytes: a file is accepted once; re-uploading answers this import.
    Column("file_hash", String(64), nullable=False, unique=True),
    Column("size", Integer, nullable=False),
    Column("status", String(16), nullable=False),  # accepted | quarantined
    Column("reason", String(255)),  # why quarantined
    Column("line_count", Integer, nullable=False),
    Column("error_count", Integer, nullable=False),
    Column("row_errors", JSON, nullable=False),
    Column("control", JSON, nullable=False),
    Column("period_start", Date),
    Column("period_end", Date),
    #: Lines that repeat a line of an earlier accepted file (``statement_lines.duplicate_of``).
    Column("overlapping", Integer, nullable=False, server_default="0"),
    Column("imported_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    IMPORTS.check_constraint(),
)

statement_lines = Table(
    "statement_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("import_id", ForeignKey("statement_imports.id"), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("direction", String(6), nullable=False),
    Column("booking_date", Date, nullable=False),
    Column("value_date", Date),
    Column("reference", String(64)),
    Column("provider_txn_id", String(64)),
    Column("end_to_end_id", String(64)),
    Column("text", Text, nullable=False),
    Column("account", String(34)),
    Column("status", String(16)),
    Column("fee_kind", String(8)),
    Column("agency_code", String(32)),
    Column("document_no", String(64)),
    #: The line of an earlier accepted file (same source and account) this one repeats, as an
    #: intraday and an end-of-day export do: stored for the record, never counted again.
    Column("duplicate_of", ForeignKey("statement_lines.id")),
    Index("ix_statement_lines_source_date", "source", "booking_date"),
)

#: A bank export layout saved for a collection account: an upload for the account that names
#: neither ``bank_profile`` nor ``mapping`` is read with it.
bank_mappings = Table(
    "bank_mappings",
    metadata,
    Column("account", String(34), primary_key=True),
    Column("mapping", JSON, nullable=False),  # ColumnMapping keys → values
    Column("updated_by", String(64), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

recon_runs = Table(
    "recon_runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("business_date", Date, nullable=False),
    Column("rule_version", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # current | superseded
    Column("inputs", JSON, nullable=False),  # import ids and the ledger window used
    Column("summary", JSON, nullable=False),  # counts and VND sums per status and source
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("superseded_by", String(32)),
    Index("ix_recon_runs_date", "business_date", "status"),
    RUNS.check_constraint(),
)

recon_matches = Table(
    "recon_matches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", ForeignKey("recon_runs.id"), nullable=False, index=True),
    Column("source", String(16), nullable=False),
    Column("rule", String(32), nullable=False),
    #: The ledger side: ``payment:<id>``, ``refund:<id>`` or ``item:<payment>:<n>``.
    Column("internal_key", String(64), nullable=False),
    Column("line_id", ForeignKey("statement_lines.id"), nullable=False),
    #: Counterpart's amount − ours (signed VND): 0 unless matched ``amount_within_tolerance``.
    Column("difference", BigInteger, nullable=False, server_default="0"),
    #: The agency of the ledger side (as for an exception, :mod:`reconciliation.scope`);
    #: ``None`` when no single agency is found, or for a match stored before 0011.
    Column("agency_id", ForeignKey("agencies.id")),
    #: Our amount (VND), counted in the run's matched figures; ``None`` before 0011.
    Column("amount", BigInteger),
)

recon_exceptions = Table(
    "recon_exceptions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("run_id", ForeignKey("recon_runs.id"), nullable=False, index=True),
    Column("business_date", Date, nullable=False),
    Column("source", String(16), nullable=False),
    Column("type", String(32), nullable=False),
    #: open → resolved (by a maker, awaiting approval) → approved (by a checker); superseded
    #: when a re-run replaces the run that raised it.
    Column("status", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("internal_keys", JSON, nullable=False),
    Column("line_ids", JSON, nullable=False),
    Column("candidates", JSON, nullable=False),
    #: Identifies "the same exception" across re-runs, so a decision carries over.
    Column("fingerprint", String(64), nullable=False),
    #: The agency the difference belongs to (the ledger side's payment, else the statement
    #: line's collection account or treasury agency code); ``None`` when no single agency is
    #: found: then only deployment-wide staff see it.
    Column("agency_id", ForeignKey("agencies.id")),
    #: The decided exception of an earlier run of the day about the same difference whose
    #: lines changed: this one is open again and shows that decision (reconciliation.runs).
    Column("previous_id", String(32)),
    Column("resolution", String(24)),  # manual_match | write_off | refund_requested
    Column("resolution_reason", Text),
    Column("resolved_by", String(64)),
    Column("resolved_at", UTCDateTime),
    Column("approved_by", String(64)),
    Column("approved_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_recon_exceptions_day", "business_date", "status", "type"),
    EXCEPTIONS.check_constraint(),
)

day_closes = Table(
    "day_closes",
    metadata,
    Column("business_date", Date, primary_key=True),
    Column("run_id", ForeignKey("recon_runs.id"), nullable=False),
    Column("closed_by", String(64), nullable=False),
    Column("closed_at", UTCDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(64), nullable=False),  # staff user or API client id
    Column("action", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("object_id", String(64), nullable=False),
    Column("details", JSON, nullable=False),
    Index("ix_audit_log_object", "object_type", "object_id"),
)

# -- staff console ------------------------------------------------------------------------------

staff_users = Table(
    "staff_users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(255), nullable=False),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(255), nullable=False),  # scrypt, with its parameters
    Column("person", String(64)),  # as api_clients.person
    Column("all_agencies", Boolean, nullable=False, server_default=false()),  # as api_clients
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled_at", UTCDateTime),
)

staff_user_agencies = Table(
    "staff_user_agencies",
    metadata,
    Column("user_id", ForeignKey("staff_users.id"), primary_key=True),
    Column("agency_id", ForeignKey("agencies.id"), primary_key=True),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    #: SHA-256 of the session cookie's value; the cookie itself is never stored.
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", ForeignKey("staff_users.id"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

#: Failed console sign-ins per subject — ``user:<username>`` or ``address:<ip>`` — for the
#: back-off and lock-out of :mod:`gateway.services.login_throttle`. A row exists only while
#: a subject has failures to remember; a successful sign-in or an unlock removes it.
login_throttles = Table(
    "login_throttles",
    metadata,
    Column("subject", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    #: Tries before this time are refused without looking at the password.
    Column("blocked_until", UTCDateTime),
    #: A user locked out after too many failures; only an administrator lifts it.
    Column("locked_at", UTCDateTime),
)

# -- postal (bưu chính công ích) ----------------------------------------------------------------

post_offices = Table(
    "post_offices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("code", String(16), nullable=False, unique=True),  # the carrier's office code
    Column("name", String(255), nullable=False),
    Column("province_code", String(2)),
    Column("created_at", UTCDateTime, nullable=False),
)

#: The post office that serves an agency's postal orders (one per agency).
agency_post_offices = Table(
    "agency_post_offices",
    metadata,
    Column("agency_id", ForeignKey("agencies.id"), primary_key=True),
    Column("post_office_id", ForeignKey("post_offices.id"), nullable=False),
)

#: Which post offices a ``postal_operator`` API client may see and report on.
api_client_post_offices = Table(
    "api_client_post_offices",
    metadata,
    Column("client_id", ForeignKey("api_clients.id"), primary_key=True),
    Column("post_office_id", ForeignKey("post_offices.id"), primary_key=True),
)

#: Which post offices a ``postal_operator`` console user may see and report on.
staff_user_post_offices = Table(
    "staff_user_post_offices",
    metadata,
    Column("user_id", ForeignKey("staff_users.id"), primary_key=True),
    Column("post_office_id", ForeignKey("post_offices.id"), primary_key=True),
)

postal_orders = Table(
    "postal_orders",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("client_id", ForeignKey("api_clients.id"), nullable=False),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("post_office_id", ForeignKey("post_offices.id")),
    Column("dossier_code", String(64), nullable=False),
    Column("leg", String(8), nullable=False),  # pickup | delivery
    #: 1, 2, ... per dossier and leg: a returned result is sent again as a new attempt.
    Column("attempt", Integer, nullable=False),
    #: Our reference at the carrier (VNPost ``sale_order_code``): agency, dossier, leg, attempt.
    Column("client_reference", String(50), nullable=False, unique=True),
    Column("carrier", String(16), nullable=False),
    Column("service", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    #: When the event that set ``status`` happened (the rank/time guard compares with it).
    Column("status_at", UTCDateTime, nullable=False),
    Column("tracking_number", String(32), unique=True),  # the carrier's item code
    #: Names and ward/province codes in clear; phones and streets sealed (gateway.core.pii).
    Column("sender", JSON, nullable=False),
    Column("recipient", JSON, nullable=False),
    Column("weight_grams", Integer, nullable=False),
    Column("cod_amount", BigInteger),
    Column("cod_collected", BigInteger),
    Column("cod_collected_at", UTCDateTime),
    Column("payment_id", ForeignKey("payments.id")),
    Column("note", Text, nullable=False),
    Column("pickup_window_start", UTCDateTime),
    Column("pickup_window_end", UTCDateTime),
    #: Submission to the carrier: due time of the next try (or look-up), tries, last error.
    Column("submit_due_at", UTCDateTime),
    Column("submit_attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", String(255)),
    #: Why the order needs a person (gateway.core.postal.orders.REVIEW_REASONS): a carrier
    #: answer that could not be taken (status ``needs_review``), or a contradiction with a
    #: final status (``delivered_after_return``). Null when nothing is to be looked at.
    Column("review_reason", String(32)),
    #: Carrier sync: when the poller should next read the order from the carrier.
    Column("sync_due_at", UTCDateTime),
    #: requested → the carrier is being asked; refused → it would not cancel any more.
    Column("cancel_state", String(16)),
    Column("cancel_requested_at", UTCDateTime),
    Column("accepted_at", UTCDateTime),
    Column("accepted_by", String(64)),
    #: A pickup handed to the agency: the procedure's processing clock starts here.
    Column("handed_over_at", UTCDateTime),
    #: A delivery leg that came back: the portal may book a new attempt.
    Column("result_undelivered_at", UTCDateTime),
    Column("sequence", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "agency_id", "dossier_code", "leg", "attempt", name="uq_postal_orders_dossier_leg"
    ),
    Index("ix_postal_orders_agency_created", "agency_id", "created_at", "id"),
    Index("ix_postal_orders_dossier", "dossier_code"),
    Index("ix_postal_orders_office_updated", "post_office_id", "updated_at", "id"),
    Index("ix_postal_orders_submit_due", "status", "submit_due_at"),
    Index("ix_postal_orders_sync_due", "sync_due_at"),
    POSTAL_ORDERS.check_constraint(),
)

#: Everything that happened to an order, append-only: carrier pushes and reads, operator
#: reports. ``applied`` says whether the event moved the order (an older or lower-ranked one
#: is kept but does not).
postal_events = Table(
    "postal_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", ForeignKey("postal_orders.id"), nullable=False),
    #: ``vnpost`` (the carrier), ``operator:<client id>``, ``staff:<user id>`` or ``gateway``.
    Column("source", String(48), nullable=False),
    #: The source's id of the event (carrier: item|code|time; operator: their event id).
    Column("external_id", String(128), nullable=False),
    Column("carrier_code", Integer),
    Column("status", String(24), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("location", String(255), nullable=False),
    Column("note", Text, nullable=False),
    Column("applied", Boolean, nullable=False),
    UniqueConstraint("source", "external_id", name="uq_postal_events_source_external"),
    Index("ix_postal_events_order", "order_id", "id"),
    check_constraint("postal_events", "status", POSTAL_EVENT_STATUSES),
)

#: A handover of the dossier or the result between people (biên bản bàn giao).
postal_handovers = Table(
    "postal_handovers",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("order_id", ForeignKey("postal_orders.id"), nullable=False, index=True),
    Column("recorded_by", String(64), nullable=False),  # operator client or staff user
    #: The reporter's own id of the handover, so a resent report is recognised.
    Column("external_id", String(64), nullable=False),
    #: collected (postman takes it) | delivered (postman hands it over)
    Column("kind", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("documents", JSON, nullable=False),  # [{"item", "original", "count"}]
    Column("seal_number", String(32)),
    Column("counterpart_name", String(255), nullable=False),
    Column("counterpart_role", String(32), nullable=False),
    Column("id_type", String(16)),
    Column("id_number_masked", String(32)),
    Column("id_number_sealed", Text),
    Column("proof_reference", String(255)),
    Column("cod_collected", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("recorded_by", "external_id", name="uq_postal_handovers_reporter_external"),
)


# -- citizen notifications (Zalo ZNS, SMS) ------------------------------------------------------

#: Events waiting for the notification consumer: written in the transaction of the change (by
#: :func:`gateway.core.outbox.emit` for the event types that can notify a citizen, and by the
#: creation of a payment), claimed and deleted by the consumer once it decided what to send.
notification_intake = Table(
    "notification_intake",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    #: The outbox event id, or ``created:<payment id>`` for a new bill.
    Column("source_key", String(64), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("payment_id", ForeignKey("payments.id")),
    Column("postal_order_id", ForeignKey("postal_orders.id")),
    #: A postal order's status as the event left it (what the citizen is told about).
    Column("subject_status", String(24)),
    Column("created_at", UTCDateTime, nullable=False),
)

#: One message to a citizen about one event on one channel (at most one: the unique key).
notifications = Table(
    "notifications",
    metadata,
    Column("id", String(32), primary_key=True),  # also the provider's tracking id
    #: The event it tells about (``source_key`` of the intake, or ``expiring:<payment id>``).
    Column("source_key", String(64), nullable=False),
    Column("channel", String(8), nullable=False),  # zns | sms
    #: payment_created | payment_paid | payment_expiring | payment_expired | postal_* ...
    Column("kind", String(32), nullable=False),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("payment_id", ForeignKey("payments.id")),
    Column("postal_order_id", ForeignKey("postal_orders.id")),
    #: The number as given, sealed (gateway.core.pii, field ``notification.phone``); masked.
    Column("phone", Text, nullable=False),
    Column("phone_masked", String(24), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(64)),
    #: What is sent: ZNS ``{"template_id", "template_data"}`` or SMS ``{"text", "segments"}``.
    Column("content", JSON, nullable=False),
    Column("provider_message_id", String(64)),
    Column("attempt_count", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    #: A claimed notification belongs to one worker until this time.
    Column("locked_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    #: When the event it tells about happened (a reminder: when it is due), and the order in
    #: which the events were taken (the intake row's id): one subject's messages keep it.
    Column("event_at", UTCDateTime, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("source_key", "channel", name="uq_notifications_source_channel"),
    Index("ix_notifications_due", "status", "next_attempt_at"),
    Index("ix_notifications_payment", "payment_id"),
    Index("ix_notifications_postal_order", "postal_order_id"),
    Index("ix_notifications_provider_message", "channel", "provider_message_id"),
    NOTIFICATIONS.check_constraint(),
)

#: Numbers whose owner asked not to be told (by any agency): HMAC-SHA256 of the E.164 number
#: under ``notifications.lookup_key``, so the number itself is not stored.
notification_opt_outs = Table(
    "notification_opt_outs",
    metadata,
    Column("phone_hash", String(64), primary_key=True),
    Column("phone_masked", String(24), nullable=False),
    Column("recorded_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# -- e-receipts (biên lai điện tử, NĐ 254/2026 Điều 22–29) ---------------------------------------

#: Blocks of receipt numbers an agency may use, per template, symbol and point of collection
#: (``online``, ``counter``, ``postal``): disjoint within (tax code, template, symbol) and used
#: in ascending order (NĐ 254 Điều 25.5). ``next_number`` is the next one to give; a range is
#: used up when it passes ``last_number``. Row-locked while a number is taken (PostgreSQL).
receipt_ranges = Table(
    "receipt_ranges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("tax_code", String(14), nullable=False),
    Column("template_code", String(5), nullable=False),
    Column("symbol", String(8), nullable=False),
    Column("point", String(8), nullable=False),
    Column("first_number", Integer, nullable=False),
    Column("last_number", Integer, nullable=False),
    Column("next_number", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_receipt_ranges_lookup", "agency_id", "template_code", "symbol", "point"),
    CheckConstraint(
        "first_number >= 1 AND first_number <= last_number AND last_number <= 99999999",
        name="ck_receipt_ranges_bounds",
    ),
    CheckConstraint(
        "next_number >= first_number AND next_number <= last_number + 1",
        name="ck_receipt_ranges_next",
    ),
)

#: An agreement by which an agency lets the gateway operator issue its receipts as its
#: delegate (NĐ 254/2026 Điều 4.6 and Điều 25, spec §8): the template, symbol and numbers it
#: covers, its term, the day both tax offices were notified (the delegate may issue from 3 days
#: later) and an early end. Who recorded or ended it is in ``audit_log``.
receipt_delegations = Table(
    "receipt_delegations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    #: The agreement's own number (số hợp đồng / văn bản ủy nhiệm), unique per agency.
    Column("agreement_number", String(64), nullable=False),
    Column("signed_on", Date, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date),  # inclusive; null: no end date
    Column("tax_code", String(14), nullable=False),
    Column("template_code", String(5), nullable=False),
    Column("symbol", String(8), nullable=False),
    Column("first_number", Integer, nullable=False),
    Column("last_number", Integer, nullable=False),
    #: The later of the days the delegating agency's and the delegate's tax offices were told.
    Column("notified_on", Date, nullable=False),
    #: Ended early (by written agreement): from this day on the agreement is not in force.
    Column("ended_on", Date),
    Column("end_reason", Text),
    Column("recorded_by", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("agency_id", "agreement_number", name="uq_receipt_delegations_number"),
    Index("ix_receipt_delegations_lookup", "agency_id", "symbol"),
    CheckConstraint(
        "first_number >= 1 AND first_number <= last_number AND last_number <= 99999999",
        name="ck_receipt_delegations_bounds",
    ),
    CheckConstraint(
        "valid_until IS NULL OR valid_until >= valid_from", name="ck_receipt_delegations_term"
    ),
)

#: One receipt of a paid payment (one per payment, or one for its phí and one for its lệ phí
#: lines). ``symbol``/``number``/``issued_at``/``xml_sealed`` are empty while ``pending``.
#: The payer's ID number and the signed XML (which carries it) are sealed like other personal
#: data (gateway.core.pii); the view token is kept as its SHA-256 (to find the receipt) and
#: sealed (to write the link again).
receipts = Table(
    "receipts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("payment_id", ForeignKey("payments.id"), nullable=False, index=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("tax_code", String(14), nullable=False),
    #: The collecting agency as the receipt names it (its legal name and address then).
    Column("agency_name", String(255), nullable=False),
    Column("agency_address", String(255)),
    Column("template_code", String(5), nullable=False),
    Column("symbol", String(8)),
    Column("number", Integer),
    Column("point", String(8), nullable=False),
    Column("kind", String(8), nullable=False),  # all | fee (phí) | charge (lệ phí)
    Column("status", String(16), nullable=False),
    #: Why a ``pending`` receipt waits (``no_symbol_for_year``, ``range_exhausted``, …).
    Column("pending_reason", String(32)),
    Column("paid_at", UTCDateTime, nullable=False),
    Column("issued_at", UTCDateTime),
    Column("items", JSON, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("amount_in_words", Text, nullable=False),
    Column("payer", JSON, nullable=False),
    Column("channel", String(16), nullable=False),
    Column("transaction_reference", String(64)),
    Column("replaces", ForeignKey("receipts.id")),
    Column("xml_sealed", Text),
    Column("view_token_hash", String(64), nullable=False, unique=True),
    Column("view_token_sealed", Text, nullable=False),
    Column("provider", String(16), nullable=False),
    Column("external_key", String(64)),
    #: Issued by the gateway operator as the agency's delegate (NĐ 254/2026 Điều 4.6): the
    #: agreement that covered it and the delegate as the receipt names it then; null otherwise.
    Column("delegation_id", ForeignKey("receipt_delegations.id")),
    Column("delegate_name", String(255)),
    Column("delegate_address", String(255)),
    Column("delegate_tax_code", String(14)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint(
        "tax_code", "template_code", "symbol", "number", name="uq_receipts_tax_code_number"
    ),
    Index("ix_receipts_agency_created", "agency_id", "created_at", "id"),
    Index("ix_receipts_status_created", "status", "created_at"),
    RECEIPTS.check_constraint(),
)

#: The same-day summary of one agency's receipts of one business day to the tax authority
#: (form 01/TH-BLĐT), signed; a day has revisions (a new one after a rejection, or an explicit
#: correction of an accepted one). The signed document carries no personal data (receipt
#: numbers, fee names, amounts), so it is kept as it is. ``message_uuid`` makes the message id:
#: a timeout sends the same message again. ``outage_started_at``/``outage_ended_at``: the first
#: try that found no answer and the answer that ended it (NĐ 254 Điều 27).
receipt_summaries = Table(
    "receipt_summaries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("tax_code", String(14), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("correction_of", ForeignKey("receipt_summaries.id")),
    Column("status", String(16), nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("signed_xml", Text, nullable=False),
    Column("message_uuid", String(32), nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", UTCDateTime),
    Column("last_error", String(32)),
    Column("reasons", JSON),
    Column("reference", String(128)),
    Column("outage_started_at", UTCDateTime),
    Column("outage_ended_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    #: The claim of the one process sending it now (a lease): set by a conditional UPDATE
    #: before the send, cleared when its answer is recorded (receipts/transmission.py).
    Column("locked_until", UTCDateTime),
    UniqueConstraint(
        "agency_id", "business_date", "revision", name="uq_receipt_summaries_agency_day"
    ),
    Index("ix_receipt_summaries_status_next", "status", "next_try_at"),
    Index("ix_receipt_summaries_day", "business_date", "agency_id"),
    RECEIPT_SUMMARIES.check_constraint(),
)


#: A correction of an issued receipt (TT 91/2026 Điều 20): ``notify`` (an error in the payer's
#: name or address or the amount in words: a notice, form 04/SS-CTĐT, no new receipt) or
#: ``replace`` (any other error: a replacement receipt, ``replacement_id``). Proposed by one
#: person (``proposed_by``), approved or rejected by another (``decided_by``). ``fields`` holds
#: the corrected values (an address sealed); ``notice`` the 04/SS-CTĐT data once approved.
receipt_corrections = Table(
    "receipt_corrections",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("receipt_id", ForeignKey("receipts.id"), nullable=False, index=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("fields", JSON, nullable=False),
    Column("proposed_by", String(64), nullable=False),
    Column("proposed_at", UTCDateTime, nullable=False),
    Column("decided_by", String(64)),
    Column("decided_at", UTCDateTime),
    Column("decision_reason", Text),
    Column("replacement_id", ForeignKey("receipts.id")),
    Column("notice", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("kind IN ('notify', 'replace')", name="ck_receipt_corrections_kind"),
    CORRECTIONS.check_constraint(),
)


#: The notice of a receipt error (form 04/SS-CTĐT) sent to the tax authority as its own signed
#: message, one per approved ``notify`` correction (unique ``correction_id``), recorded in the
#: approval's transaction. ``signed_xml``/``message_*`` are set at its first send and kept so a
#: send without an answer is repeated unchanged; ``locked_until`` is the sender's claim.
receipt_tax_notices = Table(
    "receipt_tax_notices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("correction_id", ForeignKey("receipt_corrections.id"), nullable=False, unique=True),
    Column("receipt_id", ForeignKey("receipts.id"), nullable=False, index=True),
    Column("agency_id", ForeignKey("agencies.id"), nullable=False),
    Column("tax_code", String(14), nullable=False),
    Column("status", String(16), nullable=False),
    Column("signed_xml", Text),
    Column("message_uuid", String(32)),
    Column("message_id", String(64)),
    Column("attempts", Integer, nullable=False),
    Column("next_try_at", UTCDateTime),
    Column("locked_until", UTCDateTime),
    Column("last_error", String(32)),
    Column("reasons", JSON),
    Column("reference", String(128)),
    # A rejected or failed notice dismissed by finance (migration 0026): who, when, why.
    Column("dismissed_by", String(64)),
    Column("dismissed_at", UTCDateTime),
    Column("dismissal_reason", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_receipt_tax_notices_status_next", "status", "next_try_at"),
    TAX_NOTICES.check_constraint(),
)
