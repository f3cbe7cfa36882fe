"""Inbound webhooks: verify, record once, enqueue, answer fast.

Every verified delivery from an external service lands in `webhook_events`, unique on
`(source, external_id)` (the provider's event id). A redelivery of the same event inserts
nothing and is answered 200 without any other change; the first one enqueues a job that
processes the stored payload in its own unit of work. Processing must itself be idempotent
(a job can run twice after a worker dies), which `claim_event` helps with: only one run moves
an event from `received` to `processing`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core.clock import utcnow
from edgelab.core.db import Base, UTCDateTime

STATUSES = ("received", "processing", "processed", "ignored", "failed")


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(20))  # "paddle", ...
    external_id: Mapped[str] = mapped_column(String(100))  # the provider's event id
    event_type: Mapped[str] = mapped_column(String(80), index=True)
    occurred_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="received", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(200))  # what processing did, for operators
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Recorded:
    id: int
    created: bool  # False: a redelivery of an event already stored


async def record_once(
    session: AsyncSession,
    *,
    source: str,
    external_id: str,
    event_type: str,
    occurred_at: dt.datetime | None,
    payload: dict[str, Any],
) -> Recorded:
    """Store the event unless `(source, external_id)` exists; says which happened.

    INSERT ... ON CONFLICT DO NOTHING, so two concurrent deliveries of one event store one row
    and exactly one of them sees `created=True`.
    """
    values = {
        "source": source,
        "external_id": external_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "received_at": utcnow(),
        "payload": payload,
        "status": "received",
        "attempts": 0,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(WebhookEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(WebhookEvent.id)
    )
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    if new_id is not None:
        return Recorded(int(new_id), True)
    existing = await session.execute(
        select(WebhookEvent.id).where(
            WebhookEvent.source == source, WebhookEvent.external_id == external_id
        )
    )
    return Recorded(int(existing.scalar_one()), False)


async def claim_event(session: AsyncSession, event_id: int) -> WebhookEvent | None:
    """Move a `received` (or earlier `failed`) event to `processing`; None when another run
    already did or it is finished. The first statement is a write, so on SQLite the job takes
    the write lock up front (waiting its turn) instead of failing to upgrade a read."""
    result = await session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id == event_id, WebhookEvent.status.in_(("received", "failed")))
        .values(status="processing", attempts=WebhookEvent.attempts + 1)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return await session.get(WebhookEvent, event_id, populate_existing=True)


def finish_event(event: WebhookEvent, status: str, outcome: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown webhook event status {status!r}")
    event.status = status
    event.outcome = outcome[:200]
    event.last_error = None if status != "failed" else event.last_error
    event.processed_at = utcnow()


async def unprocessed_events(
    session: AsyncSession, source: str, *, older_than: dt.datetime, limit: int = 500
) -> list[int]:
    """Events still `received` or `failed` (a lost job, a crash): the sweep re-enqueues them."""
    rows = await session.execute(
        select(WebhookEvent.id)
        .where(
            WebhookEvent.source == source,
            WebhookEvent.status.in_(("received", "failed")),
            WebhookEvent.received_at < older_than,
        )
        .order_by(WebhookEvent.id)
        .limit(limit)
    )
    return [int(r) for r in rows.scalars()]
