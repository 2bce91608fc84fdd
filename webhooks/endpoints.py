"""Webhook endpoints of an API client: register (secret shown once), list, delete, rotate.

During a rotation the previous secret keeps signing beside the new one until
``previous_secret_expires_at``, so a portal can switch its verifier without missing events.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import (
    api_client_agencies,
    api_clients,
    deliveries,
    webhook_endpoints,
)
from gateway.core.errors import FieldError, InvalidTransition, NotFound, ValidationFailed
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.outbox import EVENT_TYPES
from gateway.core.statuses import DELIVERIES, DeliveryStatus
from webhooks import signing
from webhooks.url_policy import UrlRejected, check_url, resolve_host

MAX_ENDPOINTS_PER_CLIENT = 20


def render(row: Row[Any], secret: str | None = None) -> dict[str, Any]:
    view = {
        "id": row.id,
        "url": row.url,
        "events": row.events,
        "status": "disabled" if row.disabled_at else "enabled",
        "disabled_reason": row.disabled_reason,
        "created_at": iso(row.created_at),
        "previous_secret_expires_at": iso(row.previous_secret_expires_at),
    }
    if secret is not None:
        view["secret"] = secret  # shown once, at creation or rotation
    return view


def current_secrets(row: Any, now: Any) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous one while its
    overlap lasts."""
    keys = [row.secret]
    if (
        row.previous_secret
        and row.previous_secret_expires_at
        and row.previous_secret_expires_at > now
    ):
        keys.append(row.previous_secret)
    return keys


class EndpointService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        allow_private: bool,
        secret_overlap: timedelta,
        resolve: Callable[[str], list[str]] = resolve_host,
    ) -> None:
        self.db = db
        self.clock = clock
        self.allow_private = allow_private
        self.secret_overlap = secret_overlap
        self.resolve = resolve

    async def validate(self, url: str, events: Sequence[str]) -> None:
        errors: list[FieldError] = []
        try:
            # DNS blocks: run it off the event loop.
            await asyncio.to_thread(
                check_url, url, allow_private=self.allow_private, resolve=self.resolve
            )
        except UrlRejected as exc:
            errors.append(FieldError("url", exc.code, exc.message))
        unknown = sorted(set(events) - set(EVENT_TYPES) - {"*"})
        if unknown:
            errors.append(
                FieldError("events", "unknown_event_type", f"unknown: {', '.join(unknown)}")
            )
        if errors:
            raise ValidationFailed(errors)

    async def create(
        self, conn: AsyncConnection, client_id: str, url: str, events: Sequence[str]
    ) -> str:
        """Insert an endpoint with a fresh secret; return its id."""
        count = len(
            (
                await conn.execute(
                    select(webhook_endpoints.c.id).where(
                        webhook_endpoints.c.client_id == client_id,
                        webhook_endpoints.c.disabled_at.is_(None),
                    )
                )
            ).all()
        )
        if count >= MAX_ENDPOINTS_PER_CLIENT:
            raise ValidationFailed(
                [FieldError("url", "too_many_endpoints", f"at most {MAX_ENDPOINTS_PER_CLIENT}")]
            )
        secret = signing.generate_secret(secrets.token_bytes(signing.SECRET_BYTES))
        endpoint_id = new_id("we")
        await conn.execute(
            insert(webhook_endpoints).values(
                id=endpoint_id,
                client_id=client_id,
                url=url,
                events=sorted(set(events)),
                secret=secret,
                created_at=self.clock(),
            )
        )
        return endpoint_id

    async def created_view(self, client_id: str, endpoint_id: str) -> dict[str, Any]:
        """The answer to a creation (also when replayed): the endpoint with its current secret
        while it is enabled, so a retried creation still tells its caller the secret."""
        async with self.db.read() as conn:
            row = await self._row(conn, client_id, endpoint_id)
        return render(row, None if row.disabled_at else row.secret)

    async def list(self, client_id: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(webhook_endpoints)
                    .where(
                        webhook_endpoints.c.client_id == client_id,
                        # deleted endpoints are gone for the client; disabled ones stay visible
                        webhook_endpoints.c.disabled_reason.is_distinct_from("deleted"),
                    )
                    .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
                )
            ).all()
        return [render(row) for row in rows]

    async def delete(self, client_id: str, endpoint_id: str) -> None:
        async with self.db.write() as conn:
            row = await self._row(conn, client_id, endpoint_id)
            if row.disabled_reason == "deleted":
                raise NotFound("webhook endpoint not found")
            await self.disable(conn, endpoint_id, "deleted")

    async def disable(self, conn: AsyncConnection, endpoint_id: str, reason: str) -> None:
        """Stop deliveries to an endpoint; pending ones are marked failed with the reason."""
        now = self.clock()
        await conn.execute(
            update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint_id)
            .values(disabled_at=now, disabled_reason=reason)
        )
        await DELIVERIES.move_all(
            conn,
            deliveries.c.endpoint_id == endpoint_id,
            [DeliveryStatus.PENDING, DeliveryStatus.DELIVERING],
            DeliveryStatus.FAILED,
            last_error=f"endpoint {reason}",
            updated_at=now,
            locked_until=None,
            next_attempt_at=None,
        )

    async def rotate(self, client_id: str, endpoint_id: str) -> dict[str, Any]:
        async with self.db.write() as conn:
            row = await self._row(conn, client_id, endpoint_id)
            if row.disabled_reason == "deleted":
                raise NotFound("webhook endpoint not found")
            if row.disabled_at is not None:
                raise InvalidTransition("disabled", "rotate-secret")
            secret = signing.generate_secret(secrets.token_bytes(signing.SECRET_BYTES))
            await conn.execute(
                update(webhook_endpoints)
                .where(webhook_endpoints.c.id == endpoint_id)
                .values(
                    secret=secret,
                    previous_secret=row.secret,
                    previous_secret_expires_at=self.clock() + self.secret_overlap,
                )
            )
            return render(await self._row(conn, client_id, endpoint_id), secret)

    # -- for finance staff (the console) -------------------------------------------------

    async def for_staff(
        self, agency_ids: frozenset[int], all_agencies: bool, endpoint_id: str | None = None
    ) -> Sequence[dict[str, Any]]:
        """The endpoints (not deleted) of the API clients whose agencies all lie in the staff
        member's ``agency_ids`` (deployment-wide: every client), by client then creation;
        each with ``client_id``, ``client_name`` and ``failed`` (its failed deliveries).
        ``endpoint_id``: that one only."""
        conditions = [webhook_endpoints.c.disabled_reason.is_distinct_from("deleted")]
        if endpoint_id is not None:
            conditions.append(webhook_endpoints.c.id == endpoint_id)
        if not all_agencies:
            links = api_client_agencies.c.client_id == webhook_endpoints.c.client_id
            conditions.append(exists().where(links))
            conditions.append(
                ~exists().where(links, api_client_agencies.c.agency_id.not_in(sorted(agency_ids)))
            )
        failed = (
            select(func.count())
            .where(
                deliveries.c.endpoint_id == webhook_endpoints.c.id,
                deliveries.c.status == DeliveryStatus.FAILED.value,
            )
            .scalar_subquery()
        )
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(webhook_endpoints, api_clients.c.name.label("client_name"), failed)
                    .join(api_clients, api_clients.c.id == webhook_endpoints.c.client_id)
                    .where(*conditions)
                    .order_by(
                        api_clients.c.name, webhook_endpoints.c.created_at, webhook_endpoints.c.id
                    )
                )
            ).all()
        return [
            {
                **render(row),
                "client_id": row.client_id,
                "client_name": row.client_name,
                "failed": row[-1],
            }
            for row in rows
        ]

    async def _row(self, conn: AsyncConnection, client_id: str, endpoint_id: str) -> Row[Any]:
        row = (
            await conn.execute(
                select(webhook_endpoints).where(
                    webhook_endpoints.c.id == endpoint_id,
                    webhook_endpoints.c.client_id == client_id,
                )
            )
        ).first()
        if row is None:
            raise NotFound("webhook endpoint not found")
        return row
