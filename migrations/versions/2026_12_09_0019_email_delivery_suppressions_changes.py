"""e-mail: delivery status from Resend's webhooks, suppressed addresses, address changes

`email_outbox` gains `essential` (sent even to a suppressed address: sign-in and address-change
links), what Resend's delivery webhooks last said (`delivery_status`, `delivery_event_at`,
`delivery_detail`) and an index on `provider_id` (Resend's email id, how a webhook finds its
row). `email_suppressions` holds the addresses that bounced permanently or complained;
`email_changes` the address-change links (`POST /me/email`).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-09 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("essential", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("delivery_status", sa.String(length=12), nullable=True))
        batch_op.add_column(
            sa.Column(
                "delivery_event_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(sa.Column("delivery_detail", sa.Text(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_email_outbox_provider_id"), ["provider_id"], unique=False
        )
    # sign-in mails already queued stay essential (a suppression must not hold them back)
    outbox = sa.table(
        "email_outbox", sa.column("template", sa.String), sa.column("essential", sa.Boolean)
    )
    op.execute(outbox.update().where(outbox.c.template == "magic_link").values(essential=True))
    op.create_table(
        "email_suppressions",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_email_suppressions")),
    )
    op.create_table(
        "email_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("old_email", sa.String(length=320), nullable=False),
        sa.Column("new_email", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("applied_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_email_changes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_changes")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_changes_token_hash")),
    )
    with op.batch_alter_table("email_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_changes_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("email_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_changes_user_id"))
    op.drop_table("email_changes")
    op.drop_table("email_suppressions")
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_outbox_provider_id"))
        batch_op.drop_column("delivery_detail")
        batch_op.drop_column("delivery_event_at")
        batch_op.drop_column("delivery_status")
        batch_op.drop_column("essential")
