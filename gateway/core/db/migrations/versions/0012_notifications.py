"""citizen notifications (Zalo ZNS, SMS): the intake, the notifications, the opt-outs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04

``notification_intake`` holds events waiting for the notification consumer (written with the
change, like the outbox's deliveries); ``notifications`` one message per event and channel
(unique ``(source_key, channel)``), its status through the ``notification`` machine;
``notification_opt_outs`` the numbers (as keyed hashes) whose owners asked not to be told.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from gateway.core.db.types import UTCDateTime
from gateway.core.statuses import NOTIFICATIONS

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_intake",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payment_id", sa.String(32), sa.ForeignKey("payments.id", name="fk_notification_intake_payment_id_payments")),
        sa.Column("postal_order_id", sa.String(32), sa.ForeignKey("postal_orders.id", name="fk_notification_intake_postal_order_id_postal_orders")),
        sa.Column("subject_status", sa.String(24)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_intake"),
        sa.UniqueConstraint("source_key", name="uq_notification_intake_source_key"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("source_key", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("agency_id", sa.Integer(), sa.ForeignKey("agencies.id", name="fk_notifications_agency_id_agencies"), nullable=False),
        sa.Column("payment_id", sa.String(32), sa.ForeignKey("payments.id", name="fk_notifications_payment_id_payments")),
        sa.Column("postal_order_id", sa.String(32), sa.ForeignKey("postal_orders.id", name="fk_notifications_postal_order_id_postal_orders")),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("phone_masked", sa.String(24), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("provider_message_id", sa.String(64)),
        sa.Column("attempt_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime()),
        sa.Column("locked_until", UTCDateTime()),
        sa.Column("sent_at", UTCDateTime()),
        sa.Column("delivered_at", UTCDateTime()),
        sa.Column("event_at", UTCDateTime(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("source_key", "channel", name="uq_notifications_source_channel"),
        NOTIFICATIONS.check_constraint(),
    )
    op.create_index("ix_notifications_due", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_payment", "notifications", ["payment_id"])
    op.create_index("ix_notifications_postal_order", "notifications", ["postal_order_id"])
    op.create_index(
        "ix_notifications_provider_message", "notifications", ["channel", "provider_message_id"]
    )
    op.create_table(
        "notification_opt_outs",
        sa.Column("phone_hash", sa.String(64), nullable=False),
        sa.Column("phone_masked", sa.String(24), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("phone_hash", name="pk_notification_opt_outs"),
    )


def downgrade() -> None:
    op.drop_table("notification_opt_outs")
    op.drop_index("ix_notifications_provider_message", table_name="notifications")
    op.drop_index("ix_notifications_postal_order", table_name="notifications")
    op.drop_index("ix_notifications_payment", table_name="notifications")
    op.drop_index("ix_notifications_due", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_intake")
