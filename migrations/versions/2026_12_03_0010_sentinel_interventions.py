"""sentinel: interventions, and users.restricted_until for enforced time-outs

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sentinel_interventions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("player_pk", sa.Integer(), nullable=False),
        sa.Column("player_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("intervention_type", sa.String(length=10), nullable=False),
        sa.Column("analyst_id", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("duration_hours", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=40), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("effects", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["player_pk"],
            ["sentinel_players.pk"],
            name=op.f("fk_sentinel_interventions_player_pk_sentinel_players"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentinel_interventions")),
    )
    with op.batch_alter_table("sentinel_interventions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sentinel_interventions_player_created", ["player_pk", "created_at"], unique=False
        )
        batch_op.create_index("ix_sentinel_interventions_updated", ["updated_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_sentinel_interventions_user_id"), ["user_id"], unique=False
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("restricted_until", edgelab.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("restricted_until")
    with op.batch_alter_table("sentinel_interventions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sentinel_interventions_user_id"))
        batch_op.drop_index("ix_sentinel_interventions_updated")
        batch_op.drop_index("ix_sentinel_interventions_player_created")
    op.drop_table("sentinel_interventions")
