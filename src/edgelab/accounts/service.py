"""Accounts use cases: users, who is calling, API keys, profile and deletion, and what the other
products ask of an account (alert recipients, time-outs). Sign-in is `sign_in`.

Services flush, never commit (the request or CLI command owns the unit of work). Every
security-relevant outcome writes an audit event.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.accounts import errors
from edgelab.accounts.models import (
    ApiKey,
    AuditEvent,
    EmailChange,
    MagicLink,
    RefreshToken,
    User,
)
from edgelab.accounts.tokens import hash_secret, new_api_key, new_id
from edgelab.core.auth import API_KEY_SCOPES, ForbiddenError, Principal
from edgelab.core.clock import utcnow
from edgelab.core.email import outbox
from edgelab.core.email.suppression import suppressed_among, suppression_of
from edgelab.core.error_codes import PAID_SUBSCRIPTION_REQUIRED
from edgelab.core.errors import ConflictError, NotFoundError
from edgelab.core.resources import Resources

log = logging.getLogger("edgelab.accounts")


def normalize_email(address: str) -> str:
    return address.strip().lower()


async def audit(
    session: AsyncSession,
    event: str,
    *,
    user_id: str | None = None,
    ip: str | None = None,
    success: bool = True,
    **details: Any,
) -> None:
    session.add(AuditEvent(event=event, user_id=user_id, ip=ip, success=success, details=details))


async def user_by_email(session: AsyncSession, address: str) -> User | None:
    stmt = select(User).where(User.email == normalize_email(address), User.deleted_at.is_(None))
    return (await session.execute(stmt)).scalar_one_or_none()


async def create_user(
    session: AsyncSession, address: str, *, role: str = "user", tier: str = "free"
) -> User:
    if await user_by_email(session, address) is not None:
        raise ConflictError(
            f"A user with e-mail {normalize_email(address)} exists.", code=errors.USER_EXISTS
        )
    user = User(
        id=new_id("usr"),
        email=normalize_email(address),
        role=role,
        tier=tier,
        time_zone="America/New_York",
        alert_preferences={},
    )
    try:
        # a savepoint: a concurrent sign-up of the same address that committed first makes
        # this insert a unique violation, which must not spoil the caller's unit of work
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise ConflictError(
            f"A user with e-mail {normalize_email(address)} exists.", code=errors.USER_EXISTS
        ) from None
    return user


async def active_user(session: AsyncSession, user_id: str) -> User:
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotFoundError("No such user.", code=errors.USER_NOT_FOUND)
    return user


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Hold the user's row lock until this unit of work ends (PostgreSQL `FOR UPDATE`), so a
    per-user check-then-insert (the alert-rule cap) runs one request at a time: a concurrent
    one waits here, then counts what the first committed. (SQLite has one writer at a time.)"""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


# --- who is calling ------------------------------------------------------------------------

# an API key's `last_used_at` is "last used, to the minute": written only when the stored
# value is at least this old, so a key polling many times a second costs one write a minute
# (on SQLite every write waits for the database's one write lock)
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


async def resolve_principal(session: AsyncSession, kind: str, credential: str) -> Principal | None:
    """The resolver core.auth calls on every authenticated request (fresh role and tier)."""
    if kind == "user_id":
        user = await session.get(User, credential)
        if user is None or user.deleted_at is not None:
            return None
        return Principal(user.id, user.role, user.tier, "jwt", user.restricted_until)
    key = (
        await session.execute(
            select(ApiKey).where(
                ApiKey.key_hash == hash_secret(credential), ApiKey.revoked_at.is_(None)
            )
        )
    ).scalar_one_or_none()
    if key is None:
        return None
    user = await session.get(User, key.user_id)
    if user is None or user.deleted_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now  # at most one UPDATE a minute per key, not one per request
    return Principal(
        user.id, user.role, user.tier, "api_key", user.restricted_until, scope=key.scope
    )


# --- API keys -------------------------------------------------------------------------------


async def create_api_key(
    session: AsyncSession, principal: Principal, name: str, *, scope: str = "read"
) -> tuple[ApiKey, str]:
    if scope not in API_KEY_SCOPES:
        raise ValueError(f"unknown API key scope {scope!r}")
    if principal.tier != "paid":
        raise ForbiddenError(
            "API keys come with a paid subscription.", code=PAID_SUBSCRIPTION_REQUIRED
        )
    plaintext = new_api_key()
    key = ApiKey(
        id=new_id("key"),
        user_id=principal.id,
        name=name,
        prefix=plaintext[:10],
        key_hash=hash_secret(plaintext),
        scope=scope,
    )
    session.add(key)
    await session.flush()
    await audit(session, "api_key_created", user_id=principal.id, key_id=key.id, scope=scope)
    return key, plaintext


async def list_api_keys(session: AsyncSession, principal: Principal) -> list[ApiKey]:
    rows = await session.execute(
        select(ApiKey).where(ApiKey.user_id == principal.id).order_by(ApiKey.created_at, ApiKey.id)
    )
    return list(rows.scalars())


async def revoke_api_key(session: AsyncSession, principal: Principal, key_id: str) -> None:
    key = await session.get(ApiKey, key_id)
    if key is None or key.user_id != principal.id:  # another user's key: not found, not 403
        raise NotFoundError(f"No API key with id '{key_id}'.", code=errors.API_KEY_NOT_FOUND)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await audit(session, "api_key_revoked", user_id=principal.id, key_id=key.id)


# --- profile --------------------------------------------------------------------------------


async def update_profile(
    session: AsyncSession, principal: Principal, changes: dict[str, Any]
) -> User:
    user = await active_user(session, principal.id)
    for name, value in changes.items():
        setattr(user, name, value)
    await session.flush()
    return user


async def delete_account(
    session: AsyncSession, resources: Resources, principal: Principal, *, ip: str | None
) -> None:
    """Anonymise: the row stays (audit and billing history refer to it), the person goes with
    the e-mails sent to them; then every product's registered eraser removes its data of the
    user (uploads, alert rules, tracked bets, A/B log, Sentinel's copy of the bets, chess
    reviews), all in this unit of work. Files go only after it commits (a job)."""
    user = await active_user(session, principal.id)
    if user.email is not None:  # its e-mails: the address, sign-in links, receipts, alerts
        await outbox.delete_messages_to(session, user.email)
    await _forget_address_changes(session, user)
    user.email = None
    user.display_name = None
    user.alert_preferences = {}
    user.deleted_at = utcnow()
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.execute(delete(MagicLink).where(MagicLink.user_id == user.id))
    for erase in resources.user_erasers:
        await erase(session, resources, user.id)
    await audit(session, "data_deleted", user_id=user.id, ip=ip)


async def email_suppression(session: AsyncSession, user: User) -> str | None:
    """Why optional mail no longer goes to the user's address (`bounced`, `complained`), or
    None (`core.email.suppression`)."""
    if user.email is None:
        return None
    row = await suppression_of(session, user.email)
    return row.reason if row is not None else None


async def _forget_address_changes(session: AsyncSession, user: User) -> None:
    """The addresses the account moved away from, with the e-mails sent to them (unless another
    account has that address now), and every address-change request (`email_change`)."""
    rows = await session.execute(
        select(EmailChange.old_email).where(
            EmailChange.user_id == user.id, EmailChange.applied_at.is_not(None)
        )
    )
    for address in sorted(set(rows.scalars())):
        if address != user.email and await user_by_email(session, address) is None:
            await outbox.delete_messages_to(session, address)
    await session.execute(delete(EmailChange).where(EmailChange.user_id == user.id))


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


# --- alerts (the betting product asks through these) ----------------------------------------


@dataclass(frozen=True)
class AlertRecipient:
    id: str
    email: str
    display_name: str | None
    time_zone: str


def alert_emails_on(preferences: dict[str, Any] | None) -> bool:
    """Alert e-mails are on unless `alert_preferences["email"]` is false (the unsubscribe link)."""
    return (preferences or {}).get("email", True) is not False


async def alert_recipients(session: AsyncSession, user_ids: list[str]) -> dict[str, AlertRecipient]:
    """Who of `user_ids` may be e-mailed alerts now: paid, not deleted, with an address that is
    not suppressed (it bounced or complained: `core.email.suppression`), not unsubscribed and
    not in a Sentinel time-out. Read fresh on every run, so a downgrade, an unsubscribe, a
    bounce or a time-out stops the next; the skipped suppressed ones are logged."""
    ids = sorted(set(user_ids))
    out: dict[str, AlertRecipient] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists on every backend
        rows = await session.execute(
            select(User).where(
                User.id.in_(ids[start : start + 500]),
                User.tier == "paid",
                User.deleted_at.is_(None),
                User.email.is_not(None),
                or_(User.restricted_until.is_(None), User.restricted_until <= utcnow()),
            )
        )
        for user in rows.scalars():
            if user.email is not None and alert_emails_on(user.alert_preferences):
                out[user.id] = AlertRecipient(
                    user.id, user.email, user.display_name, user.time_zone
                )
    suppressed = await suppressed_among(session, [r.email for r in out.values()])
    if suppressed:
        skipped = sorted(uid for uid, r in out.items() if r.email in suppressed)
        log.info(
            "alerts not e-mailed to %d suppressed address(es): users %s", len(skipped), skipped
        )
        out = {uid: r for uid, r in out.items() if r.email not in suppressed}
    return out


async def unsubscribe_from_alert_emails(session: AsyncSession, user_id: str) -> bool:
    """Turn alert e-mails off; False when the user no longer exists (nothing to turn off)."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return False
    user.alert_preferences = {**(user.alert_preferences or {}), "email": False}  # new dict: tracked
    await audit(session, "alerts_unsubscribed", user_id=user.id)
    await session.flush()
    return True


# --- responsible gambling (Sentinel decides, the platform enforces through these) -----------


async def restrict_user(
    session: AsyncSession,
    user_id: str,
    until: dt.datetime | None,
    *,
    by: str,
    **details: Any,
) -> bool:
    """Set (or, with None, lift) a time-out on an account: until `until`, paid feeds, alerts
    and bet tracking answer 403 `account_restricted` (`core.auth`). Audited. False when the
    user no longer exists (nothing to enforce)."""
    user = await session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        return False
    user.restricted_until = until
    await audit(
        session,
        "account_restricted" if until is not None else "account_restriction_lifted",
        user_id=user.id,
        by=by,
        restricted_until=until.isoformat() if until is not None else None,
        **details,
    )
    await session.flush()
    return True
