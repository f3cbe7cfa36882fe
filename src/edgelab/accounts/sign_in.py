"""Sign-in: magic links by e-mail, rotating refresh tokens, sign-out.

Services flush, never commit (the request or CLI command owns the unit of work). Every
security-relevant outcome writes an audit event.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from edgelab.accounts import errors
from edgelab.accounts.models import MagicLink, RefreshToken, User
from edgelab.accounts.service import active_user, audit, create_user, user_by_email
from edgelab.accounts.tokens import hash_secret, new_id, new_secret
from edgelab.core.auth import UnauthorizedError, issue_access_token
from edgelab.core.clock import real_utcnow as utcnow  # expiry: the real clock
from edgelab.core.email import outbox as email
from edgelab.core.email.outbox import EmailTemplate
from edgelab.core.email.suppression import clear_suppression
from edgelab.core.errors import ConflictError
from edgelab.core.settings import Settings

MAGIC_LINK_MAIL = EmailTemplate("edgelab.accounts", "magic_link", "Your edgelab sign-in link")


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


async def request_magic_link(
    session: AsyncSession, settings: Settings, address: str, *, ip: str | None
) -> None:
    """E-mail a single-use sign-in link; an unknown address gets an account (sign-up).

    The caller always answers 202 whatever happens here, so nobody can tell which addresses
    have accounts.
    """
    user = await user_by_email(session, address) or await _sign_up(session, address)
    token = new_secret()
    ttl = settings.magic_link_ttl_minutes
    expires_at = utcnow() + dt.timedelta(minutes=ttl)
    session.add(MagicLink(user_id=user.id, token_hash=hash_secret(token), expires_at=expires_at))
    link = f"{settings.app_base_url.rstrip('/')}/app/verify?token={quote(token)}"
    assert user.email is not None
    await email.queue_email(
        session,
        settings,
        to=user.email,
        template=MAGIC_LINK_MAIL,
        context={"link": link, "minutes": ttl},
        secret_expires_at=expires_at,  # the body is blanked once the link has expired
        essential=True,  # even to a suppressed address: signing in through it clears that
    )
    await audit(session, "magic_link_requested", user_id=user.id, ip=ip)


async def _sign_up(session: AsyncSession, address: str) -> User:
    """A new account, or the one a concurrent first request for the same address just made
    (its insert won the unique index; the link goes to that account, still answering 202)."""
    try:
        return await create_user(session, address)
    except ConflictError:
        user = await user_by_email(session, address)
        if user is None:  # pragma: no cover - the winner's row is committed by now
            raise
        return user


async def _consume(
    session: AsyncSession, secret: MagicLink | RefreshToken, *conditions: ColumnElement[bool]
) -> bool:
    """Mark a single-use secret used, atomically: True for the one caller whose conditional
    UPDATE changed the row. Reading `used_at` first and setting it later lets two concurrent
    presentations both pass on PostgreSQL (each reads it unset before either commits); here
    the second UPDATE waits for the first's row lock, re-reads `used_at IS NULL` as false and
    changes nothing, so its caller is refused like a reused secret."""
    table = type(secret)
    now = utcnow()
    result = await session.execute(
        update(table)
        .where(table.id == secret.id, table.used_at.is_(None), *conditions)
        .values(used_at=now)
        .execution_options(synchronize_session=False)  # the row count decides, not memory
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    set_committed_value(secret, "used_at", now)
    return True


async def issue_session(
    session: AsyncSession, settings: Settings, user: User, family_id: str | None = None
) -> TokenPair:
    refresh = new_secret()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or new_id("fam"),
            token_hash=hash_secret(refresh),
            expires_at=utcnow() + dt.timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    await session.flush()
    return TokenPair(
        issue_access_token(settings, user.id), refresh, settings.access_token_ttl_seconds
    )


async def verify_magic_link(
    session: AsyncSession, settings: Settings, token: str, *, ip: str | None
) -> TokenPair:
    link = (
        await session.execute(select(MagicLink).where(MagicLink.token_hash == hash_secret(token)))
    ).scalar_one_or_none()
    reason = None
    if link is None or link.used_at is not None or link.expires_at <= utcnow():
        reason = "unknown" if link is None else ("used" if link.used_at else "expired")
    elif not await _consume(session, link):
        reason = "used"  # a concurrent presentation of the same link won
    if reason is not None:
        await audit(
            session,
            "sign_in_failed",
            user_id=link.user_id if link else None,
            ip=ip,
            success=False,
            reason=reason,
        )
        raise UnauthorizedError(
            "This sign-in link is invalid, used or expired: ask for a new one.",
            code=errors.INVALID_SIGN_IN_LINK,
            persist_changes=True,
        )
    assert link is not None
    user = await active_user(session, link.user_id)
    user.last_sign_in_at = utcnow()
    await audit(session, "sign_in", user_id=user.id, ip=ip)
    await confirm_address(session, user, ip=ip)
    return await issue_session(session, settings, user)


async def confirm_address(session: AsyncSession, user: User, *, ip: str | None) -> None:
    """The user just used a link e-mailed to their address, so it receives mail: lift its
    suppression (a hard bounce or complaint), so alerts and receipts go to it again."""
    if user.email is None:
        return
    lifted = await clear_suppression(session, user.email)
    if lifted is not None:
        await audit(
            session,
            "email_suppression_cleared",
            user_id=user.id,
            ip=ip,
            reason=lifted.reason,
            since=lifted.created_at.isoformat(),
        )


async def rotate_refresh_token(
    session: AsyncSession, settings: Settings, token: str, *, ip: str | None
) -> TokenPair:
    """A new pair for a valid refresh token; presenting a used one revokes its whole family.

    Reuse means the token was copied: both the thief's and the owner's sessions end.
    """
    row = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == hash_secret(token))
        )
    ).scalar_one_or_none()
    if row is None:
        raise UnauthorizedError("Unknown refresh token.", code=errors.INVALID_REFRESH_TOKEN)
    if row.expires_at <= utcnow() and row.used_at is None and row.revoked_at is None:
        raise UnauthorizedError(
            "The refresh token has expired: sign in again.", code=errors.REFRESH_TOKEN_EXPIRED
        )
    # used, revoked, or used by a concurrent presentation that won the conditional UPDATE:
    # all are reuse (whoever raced the owner holds a copy), so the family ends
    if (
        row.used_at is not None
        or row.revoked_at is not None
        or not await _consume(session, row, RefreshToken.revoked_at.is_(None))
    ):
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        await audit(session, "refresh_token_reused", user_id=row.user_id, ip=ip, success=False)
        raise UnauthorizedError(
            "This refresh token was already used: sign in again.",
            code=errors.REFRESH_TOKEN_REUSED,
            persist_changes=True,
        )
    user = await active_user(session, row.user_id)
    return await issue_session(session, settings, user, family_id=row.family_id)


async def logout(session: AsyncSession, token: str) -> None:
    row = (
        await session.execute(
            select(RefreshToken).where(RefreshToken.token_hash == hash_secret(token))
        )
    ).scalar_one_or_none()
    if row is not None:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
