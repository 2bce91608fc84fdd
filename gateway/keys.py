"""Typed keys for everything stored on the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from config import Settings
from gateway.core.db import Database
from gateway.core.ids import Clock
from gateway.observability import Metrics
from gateway.services.attempts import AttemptService
from gateway.services.bank_credits import BankCreditService
from gateway.services.clients import PrincipalCache
from gateway.services.notifications.receipts import ReceiptReceiver
from gateway.services.notifications.views import NotificationViews
from gateway.services.notifications.worker import NotificationWorker
from gateway.services.payments import PaymentService
from gateway.services.polling import Poller
from gateway.services.postal.carrier import CarrierSync
from gateway.services.postal.operators import OperatorService
from gateway.services.postal.orders import PostalOrderService
from gateway.services.postal.pushes import PushReceiver
from gateway.services.provider_callbacks import ProviderCallbacks
from gateway.services.refunds import RefundService
from gateway.services.staff import StaffService
from gateway.services.terminals import TerminalService
from gateway.services.wallet_callbacks import WalletCallbacks
from gateway.services.wiring import Services
from reconciliation.imports import ImportService
from reconciliation.ledger_lookup import LedgerLookup
from reconciliation.report import ReportService
from reconciliation.runs import RunService
from reconciliation.workflow import Workflow
from webhooks.delivery import DeliveryWorker
from webhooks.endpoints import EndpointService
from webhooks.events import EventService

SETTINGS = web.AppKey("settings", Settings)
#: Every service, as :func:`gateway.services.wiring.build_services` built them.
SERVICES = web.AppKey("services", Services)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
DATABASE = web.AppKey("database", Database)
METRICS = web.AppKey("metrics", Metrics)
PAYMENTS = web.AppKey("payments", PaymentService)
BANK_CREDITS = web.AppKey("bank_credits", BankCreditService)
ENDPOINTS = web.AppKey("webhook_endpoints", EndpointService)
EVENTS = web.AppKey("events", EventService)
DELIVERY = web.AppKey("delivery_worker", DeliveryWorker)
ATTEMPTS = web.AppKey("attempts", AttemptService)
REFUNDS = web.AppKey("refunds", RefundService)
TERMINALS = web.AppKey("terminals", TerminalService)
CALLBACKS = web.AppKey("provider_callbacks", ProviderCallbacks)
WALLET_CALLBACKS = web.AppKey("wallet_callbacks", WalletCallbacks)
POLLER = web.AppKey("poller", Poller)
IMPORTS = web.AppKey("statement_imports", ImportService)
RECON_RUNS = web.AppKey("recon_runs", RunService)
WORKFLOW = web.AppKey("recon_workflow", Workflow)
REPORTS = web.AppKey("recon_reports", ReportService)
LEDGER = web.AppKey("recon_ledger_lookup", LedgerLookup)
STAFF = web.AppKey("staff", StaffService)
PRINCIPALS = web.AppKey("principals", PrincipalCache)
POSTAL_ORDERS = web.AppKey("postal_orders", PostalOrderService)
CARRIER_SYNC = web.AppKey("carrier_sync", CarrierSync)
OPERATORS = web.AppKey("postal_operators", OperatorService)
VNPOST_PUSHES = web.AppKey("vnpost_pushes", PushReceiver)
NOTIFICATIONS = web.AppKey("notifications", NotificationWorker)
NOTIFICATION_VIEWS = web.AppKey("notification_views", NotificationViews)
NOTIFICATION_RECEIPTS = web.AppKey("notification_receipts", ReceiptReceiver)
