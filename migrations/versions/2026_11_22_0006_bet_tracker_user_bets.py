"""bet tracker user bets

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 05:27:05.486109
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_bets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("outcome_id", sa.String(length=160), nullable=False),
        sa.Column("game_id", sa.String(length=64), nullable=False),
        sa.Column("market_type", sa.String(length=16), nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("line", sa.Float(), nullable=True),
        sa.Column("odds_decimal", sa.Float(), nullable=False),
        sa.Column("stake_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("bookmaker", sa.String(length=64), nullable=True),
        sa.Column("placed_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("payout_minor", sa.BigInteger(), nullable=True),
        sa.Column("settled_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closing_odds_decimal", sa.Float(), nullable=True),
        sa.Column("p_close_fair", sa.Float(), nullable=True),
        sa.Column("clv", sa.Float(), nullable=True),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["game_id"], ["games.id"], name=op.f("fk_user_bets_game_id_games"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["outcome_id"],
            ["outcomes.id"],
            name=op.f("fk_user_bets_outcome_id_outcomes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_bets_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_bets")),
        sa.UniqueConstraint(
            "user_id", "external_id", name=op.f("uq_user_bets_user_id_external_id")
        ),
    )
    with op.batch_alter_table("user_bets", schema=None) as batch_op:
        batch_op.create_index("ix_user_bets_status_game", ["status", "game_id"], unique=False)
        batch_op.create_index("ix_user_bets_user_placed", ["user_id", "placed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("user_bets", schema=None) as batch_op:
        batch_op.drop_index("ix_user_bets_user_placed")
        batch_op.drop_index("ix_user_bets_status_game")

    op.drop_table("user_bets")
