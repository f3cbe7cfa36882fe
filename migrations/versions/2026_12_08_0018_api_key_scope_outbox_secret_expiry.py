"""api keys: a scope, `read` (GET only) or `write`; outbox: when a body's secret expires

Keys made before this revision become `read`: a key that leaked keeps reading but can no longer
change anything; its owner makes a `write` key (signed in) where a script needs one.

`email_outbox.secret_expires_at`: a message whose body holds a secret (a sign-in link) has its
body blanked once the secret has expired. Sign-in mails written before this revision get one
(their links lived at most a day: those over a day old are blanked at once, the others a day
after the upgrade).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 09:00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DAY = dt.timedelta(days=1)
REDACTED = "[removed: this message held a sign-in link that has expired]"


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scope", sa.String(length=8), server_default="read", nullable=False)
        )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "secret_expires_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.create_index(
            batch_op.f("ix_email_outbox_secret_expires_at"), ["secret_expires_at"], unique=False
        )
    # sign-in mails written before: a link lives at most a day (EDGELAB_MAGIC_LINK_TTL_MINUTES
    # <= 1440), so those older than a day are blanked now (and never sent) and the others get
    # an expiry a day from now, for the redaction job
    now = dt.datetime.now(dt.UTC)
    outbox = sa.table(
        "email_outbox",
        sa.column("template", sa.String),
        sa.column("status", sa.String),
        sa.column("html", sa.Text),
        sa.column("text", sa.Text),
        sa.column("created_at", edgelab.core.db.UTCDateTime(timezone=True)),
        sa.column("secret_expires_at", edgelab.core.db.UTCDateTime(timezone=True)),
    )
    old = sa.and_(outbox.c.template == "magic_link", outbox.c.created_at <= now - DAY)
    op.execute(outbox.update().where(old, outbox.c.status == "pending").values(status="failed"))
    op.execute(outbox.update().where(old).values(html=REDACTED, text=REDACTED))
    op.execute(
        outbox.update()
        .where(outbox.c.template == "magic_link", outbox.c.created_at > now - DAY)
        .values(secret_expires_at=now + DAY)
    )


def downgrade() -> None:
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_outbox_secret_expires_at"))
        batch_op.drop_column("secret_expires_at")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("scope")
