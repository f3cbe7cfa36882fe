"""Suppressed addresses: a hard bounce or a spam complaint stops optional mail to an address.

Resend's delivery webhooks (`core.email.events`) suppress an address when a message to it
bounces permanently (`bounce.type` "Permanent"), its reader marks it as spam, or Resend
refuses it because the address is on Resend's own suppression list (`email.suppressed`). Alerts,
receipts and nudges then skip it (`queue_email` records such a message as `suppressed` with the
reason, and `delivery.deliver` checks again just before sending); sign-in links and
address-change mail still go (`essential`), and signing in through one clears the suppression:
that is the owner confirming the address again. Addresses are compared lower-cased.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.clock import utcnow
from edgelab.core.email.models import EmailSuppression

REASONS = ("bounced", "complained", "suppressed")  # suppressed: on Resend's own list


def _key(address: str) -> str:
    return address.strip().lower()


async def suppression_of(session: AsyncSession, address: str) -> EmailSuppression | None:
    """The address's suppression, or None when mail may go to it."""
    return await session.get(EmailSuppression, _key(address))


async def suppressed_among(session: AsyncSession, addresses: list[str]) -> set[str]:
    """Which of `addresses` (as given) are suppressed."""
    by_key: dict[str, list[str]] = {}
    for address in addresses:
        by_key.setdefault(_key(address), []).append(address)
    found: set[str] = set()
    keys = sorted(by_key)
    for start in range(0, len(keys), 500):  # bounded IN lists on every backend
        rows = await session.execute(
            select(EmailSuppression.address).where(
                EmailSuppression.address.in_(keys[start : start + 500])
            )
        )
        for key in rows.scalars():
            found.update(by_key[key])
    return found


def why_suppressed(row: EmailSuppression) -> str:
    """The outbox's `last_error` for a message not sent because of `row`."""
    what = {
        "bounced": "bounced permanently",
        "complained": "was marked as spam",
        "suppressed": "was refused by Resend, whose suppression list holds the address,",
    }.get(row.reason, row.reason)
    return (
        f"not sent: the address is suppressed (a message to it {what} on "
        f"{row.created_at:%Y-%m-%d %H:%M} UTC); its owner's next sign-in by e-mailed link "
        "clears it"
    )[:2000]


async def suppress(
    session: AsyncSession,
    address: str,
    *,
    reason: str,
    detail: str | None,
    outbox_id: int | None,
) -> bool:
    """Suppress `address`; True when it was not suppressed before (a second bounce or a
    concurrent delivery keeps the first record: INSERT ... ON CONFLICT DO NOTHING)."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r}")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    result = await session.execute(
        insert(EmailSuppression)
        .values(
            address=_key(address),
            reason=reason,
            detail=(detail or None) and detail[:2000],
            outbox_id=outbox_id,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["address"])
        .returning(EmailSuppression.address)
    )
    return result.scalar_one_or_none() is not None


async def clear_suppression(session: AsyncSession, address: str) -> EmailSuppression | None:
    """Lift the address's suppression (its owner confirmed it); the row removed, or None."""
    row = await suppression_of(session, address)
    if row is None:
        return None
    await session.delete(row)
    await session.flush()
    return row
