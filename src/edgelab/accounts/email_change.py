"""Changing an account's e-mail address: a link to the new address, a notice to the old one.

`POST /me/email` (a signed-in session) e-mails a single-use link to the new address and a notice
to the current one; nothing changes until the link is used (`POST /auth/verify-email`), which
proves the new mailbox is the requester's. Using it moves the account, ends every session and
pending sign-in link of the old address (the credential changed), lifts a suppression of the
new address (it just received mail), tells the old address it happened and signs in.

API keys are kept, and listed in that notice: a key belongs to the account, not to an address,
and can neither manage keys nor change the account (`core.auth.require_session`), so revoking
them would only break the owner's scripts on every honest change; against someone who took a
session, revoking would not help either (the new session can mint keys again). The notice lets
an owner who did not make the change see which keys exist and have them revoked.

The token is consumed by a conditional UPDATE, as sign-in links are, so two presentations
cannot both succeed. A newer request, or `DELETE /me/email`, ends the pending ones. 409
`user_exists` when the address belongs to another account, checked again when the link is used
(and kept by the unique index).
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from edgelab.accounts import errors
from edgelab.accounts.models import ApiKey, EmailChange, MagicLink, RefreshToken
from edgelab.accounts.service import active_user, audit, normalize_email, user_by_email
from edgelab.accounts.sign_in import TokenPair, confirm_address, issue_session
from edgelab.accounts.tokens import hash_secret, new_secret
from edgelab.core.auth import Principal, UnauthorizedError
from edgelab.core.clock import real_utcnow as utcnow  # expiry: the real clock
from edgelab.core.email import outbox as email
from edgelab.core.email.outbox import EmailTemplate
from edgelab.core.errors import ConflictError
from edgelab.core.settings import Settings

VERIFY_MAIL = EmailTemplate(
    "edgelab.accounts", "email_change_verify", "Confirm your new edgelab address"
)
NOTICE_MAIL = EmailTemplate(
    "edgelab.accounts", "email_change_notice", "Your edgelab address may change"
)
CHANGED_MAIL = EmailTemplate(
    "edgelab.accounts", "email_changed_notice", "Your edgelab address was changed"
)


def _taken(address: str) -> ConflictError:
    return ConflictError(
        f"The address {address} belongs to another account.", code=errors.USER_EXISTS
    )


async def _end_pending(session: AsyncSession, user_id: str) -> int:
    """Close every unused change link of the user (without applying it); how many."""
    result = await session.execute(
        update(EmailChange)
        .where(EmailChange.user_id == user_id, EmailChange.used_at.is_(None))
        .values(used_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def request_email_change(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    address: str,
    *,
    ip: str | None,
) -> None:
    user = await active_user(session, principal.id)
    new_email = normalize_email(address)
    if new_email == user.email:
        raise ConflictError("The account already has this address.", code=errors.EMAIL_UNCHANGED)
    if await user_by_email(session, new_email) is not None:
        raise _taken(new_email)
    assert user.email is not None  # an active user has an address
    await _end_pending(session, user.id)
    token = new_secret()
    ttl = settings.email_change_ttl_minutes
    expires_at = utcnow() + dt.timedelta(minutes=ttl)
    session.add(
        EmailChange(
            user_id=user.id,
            old_email=user.email,
            new_email=new_email,
            token_hash=hash_secret(token),
            expires_at=expires_at,
        )
    )
    base = settings.app_base_url.rstrip("/")
    context = {"old_email": user.email, "new_email": new_email, "minutes": ttl}
    await email.queue_email(
        session,
        settings,
        to=new_email,
        template=VERIFY_MAIL,
        context={**context, "link": f"{base}/app/verify-email?token={quote(token)}"},
        secret_expires_at=expires_at,
        essential=True,  # the way to confirm an address, suppressed or not
    )
    await email.queue_email(
        session,
        settings,
        to=user.email,
        template=NOTICE_MAIL,
        context={**context, "signin_link": f"{base}/app/signin"},
        essential=True,  # a security notice
    )
    await audit(session, "email_change_requested", user_id=user.id, ip=ip, new_email=new_email)
    await session.flush()


async def cancel_email_change(
    session: AsyncSession, principal: Principal, *, ip: str | None
) -> int:
    """End the pending change links; how many there were."""
    user = await active_user(session, principal.id)
    ended = await _end_pending(session, user.id)
    if ended:
        await audit(session, "email_change_cancelled", user_id=user.id, ip=ip)
    return ended


def _invalid() -> UnauthorizedError:
    return UnauthorizedError(
        "This address-change link is invalid, used or expired: ask for a new one.",
        code=errors.INVALID_EMAIL_CHANGE_LINK,
        persist_changes=True,
    )


async def _consume(session: AsyncSession, change: EmailChange) -> bool:
    """Mark the link used, atomically (see `sign_in._consume`): True for the one caller whose
    conditional UPDATE changed the row."""
    now = utcnow()
    result = await session.execute(
        update(EmailChange)
        .where(
            EmailChange.id == change.id,
            EmailChange.used_at.is_(None),
            EmailChange.expires_at > now,
        )
        .values(used_at=now, applied_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    set_committed_value(change, "used_at", now)
    set_committed_value(change, "applied_at", now)
    return True


async def confirm_email_change(
    session: AsyncSession, settings: Settings, token: str, *, ip: str | None
) -> TokenPair:
    change = (
        await session.execute(
            select(EmailChange).where(EmailChange.token_hash == hash_secret(token))
        )
    ).scalar_one_or_none()
    if change is None or change.used_at is not None or change.expires_at <= utcnow():
        reason = "unknown" if change is None else ("used" if change.used_at else "expired")
        await audit(
            session,
            "email_change_failed",
            user_id=change.user_id if change else None,
            ip=ip,
            success=False,
            reason=reason,
        )
        raise _invalid()
    user = await active_user(session, change.user_id)
    if user.email != change.old_email:  # the address changed since: this link is stale
        raise _invalid()
    other = await user_by_email(session, change.new_email)
    if other is not None and other.id != user.id:
        raise _taken(change.new_email)  # someone signed up with it meanwhile: link kept
    if not await _consume(session, change):
        await audit(session, "email_change_failed", user_id=user.id, ip=ip, success=False)
        raise _invalid()  # a concurrent presentation won
    user.email = change.new_email
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent sign-up won the unique index
        raise _taken(change.new_email) from exc
    now = utcnow()
    await session.execute(  # every session of the account ends: its credential changed
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(  # sign-in links sent to the old address sign in no more
        delete(MagicLink).where(MagicLink.user_id == user.id, MagicLink.used_at.is_(None))
    )
    await audit(
        session,
        "email_changed",
        user_id=user.id,
        ip=ip,
        old_email=change.old_email,
        new_email=change.new_email,
    )
    await _tell_old_address(session, settings, user.id, change, now)
    await confirm_address(session, user, ip=ip)
    user.last_sign_in_at = now
    return await issue_session(session, settings, user)


async def _tell_old_address(
    session: AsyncSession, settings: Settings, user_id: str, change: EmailChange, now: dt.datetime
) -> None:
    """The owner at the old address learns the change happened, with the API keys that still
    work (essential: a security notice goes even to a suppressed address)."""
    keys = (
        await session.execute(
            select(ApiKey)
            .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at)
        )
    ).scalars()
    listed = [
        {
            "name": k.name,
            "prefix": k.prefix,
            "scope": k.scope,
            "created_at": f"{k.created_at:%Y-%m-%d %H:%M}",
        }
        for k in keys
    ]
    await email.queue_email(
        session,
        settings,
        to=change.old_email,
        template=CHANGED_MAIL,
        context={
            "old_email": change.old_email,
            "new_email": change.new_email,
            "changed_at": f"{now:%Y-%m-%d %H:%M}",
            "api_keys": listed,
        },
        essential=True,
    )
