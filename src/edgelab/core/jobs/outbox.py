"""The job outbox: jobs kept in the database until the broker (Redis) has them.

With the Redis broker, a unit of work that writes (a request other than GET/HEAD/OPTIONS, a job
with a session) adds a `job_outbox` row per enqueued job in its own transaction, so the job is
committed with the work or not at all. After the commit the row is claimed (deleted) and the job
sent, one short transaction per job: a send that fails rolls the delete back and the row waits.
A relay in every process with a Redis `Jobs` sends what waits once Redis answers (at once when
this process saw the failure, else on a sweep every `relay_sweep_seconds`).

Exactly once, under an outage: the row's id is the job's task id, and whoever sends a row deletes
it in the transaction around the send, on PostgreSQL under a row lock (`FOR UPDATE SKIP LOCKED`:
two relays, or a relay and the after-commit send, never take the same row) and on SQLite under
the one write lock (there a send is cut off after `relay.LOCKED_SEND_SECONDS`, so a hanging
Redis does not hold every writer). A process dying between a successful send and its commit, or
a send cut off after Redis took it, leaves the row, so the job may be sent once more later:
tasks must be idempotent anyway (a worker that dies mid-job has its job delivered again,
`runner`).

Imported lazily by `runner` (this module needs `core.db`, which imports the job buffer).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from sqlalchemy import String, Text, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from edgelab.core import clock
from edgelab.core.db import Base, UTCDateTime

RELAY_BATCH = 100


class JobOutboxEntry(Base):
    """A job committed with its unit of work and not yet handed to the broker."""

    __tablename__ = "job_outbox"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # the job's task id
    name: Mapped[str] = mapped_column(String(80))  # `product.event`
    payload: Mapped[str] = mapped_column(Text)  # JSON, checked when enqueued
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


def new_entry(name: str, payload: dict[str, Any]) -> JobOutboxEntry:
    return JobOutboxEntry(
        id=uuid.uuid4().hex,
        name=name,
        payload=json.dumps(payload, allow_nan=False),
        created_at=clock.real_utcnow(),
    )


async def claim(session: AsyncSession, entry_id: str) -> bool:
    """Delete the row in `session`'s transaction; False when someone else already sent it."""
    result = await session.execute(delete(JobOutboxEntry).where(JobOutboxEntry.id == entry_id))
    return bool(getattr(result, "rowcount", 0))


async def any_waiting(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(exists().where(JobOutboxEntry.id.is_not(None)))))


async def claim_batch(session: AsyncSession) -> list[JobOutboxEntry]:
    """The oldest waiting rows, locked for this transaction (skipping rows others hold)."""
    query = (
        select(JobOutboxEntry)
        .order_by(JobOutboxEntry.created_at, JobOutboxEntry.id)
        .limit(RELAY_BATCH)
        .with_for_update(skip_locked=True)
    )
    return list((await session.scalars(query)).all())


async def waiting_count(session: AsyncSession) -> int:
    from sqlalchemy import func

    return int(await session.scalar(select(func.count()).select_from(JobOutboxEntry)) or 0)
