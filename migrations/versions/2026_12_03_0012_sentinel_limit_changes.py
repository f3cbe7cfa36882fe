"""sentinel: limit changes reported by operators

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sentinel_limit_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("player_pk", sa.Integer(), nullable=False),
        sa.Column("occurred_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("limit_type", sa.String(length=8), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["player_pk"],
            ["sentinel_players.pk"],
            name=op.f("fk_sentinel_limit_changes_player_pk_sentinel_players"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentinel_limit_changes")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_sentinel_limit_changes_source_external_id")
        ),
    )
    with op.batch_alter_table("sentinel_limit_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sentinel_limit_changes_player_occurred",
            ["player_pk", "occurred_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("sentinel_limit_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_sentinel_limit_changes_player_occurred")
    op.drop_table("sentinel_limit_changes")
