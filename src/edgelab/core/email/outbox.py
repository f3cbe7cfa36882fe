"""E-mail: rendering templates and queueing every message in the outbox table.

Backends (`core.email.backend`): `resend` queues a message `pending` and a job sends it through
Resend; `log` stores it with status `logged` and logs that it did (never its body: a sign-in
link in a log is a session for whoever reads the log), and `edgelab email outbox` shows it
(that is how a developer reads a sign-in link locally). A body holding a secret carries the
secret's expiry and is blanked once it has passed. A message that is not `essential` to a
suppressed address (`core.email.suppression`: it bounced or complained) is stored `suppressed`,
with the reason in `last_error`, and never sent.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.email.backend import email_backend
from edgelab.core.email.models import EmailSuppression, OutboxEmail
from edgelab.core.email.suppression import suppression_of, why_suppressed

if TYPE_CHECKING:
    from jinja2 import Environment
from edgelab.core.jobs import enqueue
from edgelab.core.settings import Settings

log = logging.getLogger("edgelab.email")


@dataclass(frozen=True)
class EmailTemplate:
    """A message kind a product sends: `<package>/templates/<name>.html` and `.txt`, one subject.

    Each product keeps its own templates beside its code (accounts: sign-in links and receipts;
    betting: alerts; sentinel: nudges); `name` is what the outbox row records.
    """

    package: str
    name: str
    subject: str


@lru_cache(maxsize=16)
def _templates(package: str) -> Environment:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )


def render(template: EmailTemplate, context: dict[str, Any]) -> tuple[str, str]:
    """The message's HTML (escaped) and plain-text bodies."""
    env = _templates(template.package)
    html = env.get_template(f"{template.name}.html").render(**context)
    text = env.get_template(f"{template.name}.txt").render(**context)
    return html, text


def backend(settings: Settings) -> str:
    """The outbox row's `backend`: `resend`, or `outbox` for the `log` backend."""
    return "resend" if email_backend(settings) == "resend" else "outbox"


async def queue_email(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str,
    template: EmailTemplate,
    context: dict[str, Any],
    secret_expires_at: dt.datetime | None = None,
    essential: bool = False,
) -> OutboxEmail:
    """Queue one message. `secret_expires_at`: the body holds a secret (a sign-in link) valid
    until then; past it the body is blanked and the message, if still unsent, never goes.
    `essential`: sent even to a suppressed address (sign-in and address-change links, the
    only way its owner can confirm it again); any other message to one is stored `suppressed`
    and not sent."""
    html, text = render(template, context)
    kind = backend(settings)
    suppressed = None if essential else await suppression_of(session, to)
    message = OutboxEmail(
        to_address=to,
        subject=template.subject,
        template=template.name,
        html=html,
        text=text,
        status="pending" if kind == "resend" else "logged",
        backend=kind,
        attempts=0,
        idempotency_key=secrets.token_hex(16),
        secret_expires_at=secret_expires_at,
        essential=essential,
    )
    if suppressed is not None:
        message.status = "suppressed"
        message.last_error = why_suppressed(suppressed)
    session.add(message)
    await session.flush()
    if suppressed is not None:
        log.info("e-mail %s #%s not sent: %s is suppressed", template.name, message.id, to)
        return message
    if kind == "resend":
        enqueue("accounts.send_email", outbox_id=message.id)  # sent after the commit
    if kind == "outbox":  # the body may hold a sign-in link: never logged
        log.info(
            "e-mail %s #%s to %s kept in the outbox (EDGELAB_EMAIL_BACKEND=log); read it with "
            "`edgelab email outbox`",
            template.name,
            message.id,
            to,
        )
    return message


async def latest_outbox(session: AsyncSession, last: int) -> list[OutboxEmail]:
    rows = await session.execute(select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(last))
    return list(rows.scalars())


async def delete_messages_to(session: AsyncSession, address: str) -> int:
    """Forget every message to `address` and its suppression (account deletion: the outbox
    holds the address and what was said to it); returns how many messages went."""
    result = await session.execute(delete(OutboxEmail).where(OutboxEmail.to_address == address))
    await session.execute(
        delete(EmailSuppression).where(EmailSuppression.address == address.strip().lower())
    )
    return int(getattr(result, "rowcount", 0) or 0)
