"""sentinel: players, bet and transaction logs, scores, scoring runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 05:55:32.656210
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sentinel_score_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mode", sa.String(length=12), nullable=False),
        sa.Column("trigger", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("started_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("players_scored", sa.Integer(), nullable=False),
        sa.Column("bets_read", sa.Integer(), nullable=False),
        sa.Column("transactions_read", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentinel_score_runs")),
    )
    op.create_table(
        "sentinel_players",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("player_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("gamalyze_score", sa.Float(), nullable=True),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("activity_version", sa.Integer(), nullable=False),
        sa.Column("scored_version", sa.Integer(), nullable=True),
        sa.Column("scored_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("composite", sa.Float(), nullable=True),
        sa.Column("risk_category", sa.String(length=8), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_sentinel_players_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_sentinel_players")),
        sa.UniqueConstraint("player_id", name=op.f("uq_sentinel_players_player_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_sentinel_players_user_id")),
    )
    with op.batch_alter_table("sentinel_players", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sentinel_players_category_score", ["risk_category", "composite"], unique=False
        )

    op.create_table(
        "sentinel_bets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("player_pk", sa.Integer(), nullable=False),
        sa.Column("placed_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settled_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sport", sa.String(length=40), nullable=False),
        sa.Column("market_type", sa.String(length=40), nullable=False),
        sa.Column("market_code", sa.Integer(), nullable=False),
        sa.Column("is_live", sa.Boolean(), nullable=False),
        sa.Column("stake_minor", sa.BigInteger(), nullable=False),
        sa.Column("payout_minor", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("odds_decimal", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=5), nullable=False),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["player_pk"],
            ["sentinel_players.pk"],
            name=op.f("fk_sentinel_bets_player_pk_sentinel_players"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentinel_bets")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_sentinel_bets_source_external_id")
        ),
    )
    with op.batch_alter_table("sentinel_bets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sentinel_bets_player_placed", ["player_pk", "placed_at"], unique=False
        )

    op.create_table(
        "sentinel_scores",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("player_pk", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("scored_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("as_of", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("composite", sa.Float(), nullable=False),
        sa.Column("risk_category", sa.String(length=8), nullable=False),
        sa.Column("loss_chase", sa.Float(), nullable=True),
        sa.Column("bet_escalation", sa.Float(), nullable=True),
        sa.Column("market_drift", sa.Float(), nullable=True),
        sa.Column("temporal_risk", sa.Float(), nullable=True),
        sa.Column("behavioural", sa.Float(), nullable=True),
        sa.Column("absent", sa.JSON(), nullable=False),
        sa.Column("top_features", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["player_pk"],
            ["sentinel_players.pk"],
            name=op.f("fk_sentinel_scores_player_pk_sentinel_players"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["sentinel_score_runs.id"],
            name=op.f("fk_sentinel_scores_run_id_sentinel_score_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentinel_scores")),
    )
    with op.batch_alter_table("sentinel_scores", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sentinel_scores_player_scored", ["player_pk", "scored_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_sentinel_scores_run_id"), ["run_id"], unique=False)

    op.create_table(
        "sentinel_transactions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("player_pk", sa.Integer(), nullable=False),
        sa.Column("occurred_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["player_pk"],
            ["sentinel_players.pk"],
            name=op.f("fk_sentinel_transactions_player_pk_sentinel_players"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sentinel_transactions")),
        sa.UniqueConstraint(
            "source", "external_id", name=op.f("uq_sentinel_transactions_source_external_id")
        ),
    )
    with op.batch_alter_table("sentinel_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sentinel_transactions_player_occurred", ["player_pk", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sentinel_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_sentinel_transactions_player_occurred")

    op.drop_table("sentinel_transactions")
    with op.batch_alter_table("sentinel_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sentinel_scores_run_id"))
        batch_op.drop_index("ix_sentinel_scores_player_scored")

    op.drop_table("sentinel_scores")
    with op.batch_alter_table("sentinel_bets", schema=None) as batch_op:
        batch_op.drop_index("ix_sentinel_bets_player_placed")

    op.drop_table("sentinel_bets")
    with op.batch_alter_table("sentinel_players", schema=None) as batch_op:
        batch_op.drop_index("ix_sentinel_players_category_score")

    op.drop_table("sentinel_players")
    op.drop_table("sentinel_score_runs")
