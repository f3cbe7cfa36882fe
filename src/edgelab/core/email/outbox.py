"""E-mail: rendering templates and queueing every message in the outbox table.

Backends: with `EDGELAB_RESEND_API_KEY` a message is queued `pending` and a job sends it through
Resend; without a key it is stored with status `logged` and written to the log, and
`edgelab email outbox` shows it (that is how a developer reads a sign-in link locally).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from edgelab.core.email.models import OutboxEmail

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
    return "resend" if settings.resend_api_key else "outbox"


async def queue_email(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str,
    template: EmailTemplate,
    context: dict[str, Any],
) -> OutboxEmail:
    html, text = render(template, context)
    kind = backend(settings)
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
    )
    session.add(message)
    await session.flush()
    if kind == "resend":
        enqueue("accounts.send_email", outbox_id=message.id)  # sent after the commit
    if kind == "outbox":
        log.info(
            "e-mail %s to %s kept in the outbox (no EDGELAB_RESEND_API_KEY):\n%s",
            template.name,
            to,
            text,
        )
    return message


async def latest_outbox(session: AsyncSession, last: int) -> list[OutboxEmail]:
    rows = await session.execute(select(OutboxEmail).order_by(OutboxEmail.id.desc()).limit(last))
    return list(rows.scalars())
