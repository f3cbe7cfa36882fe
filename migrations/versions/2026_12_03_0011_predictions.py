"""predictions: Polymarket markets, outcomes, price snapshots and ingest runs

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prediction_ingest_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("fetched", sa.Integer(), nullable=False),
        sa.Column("written", sa.Integer(), nullable=False),
        sa.Column("snapshots", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_ingest_runs")),
    )
    op.create_table(
        "prediction_markets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("condition_id", sa.String(length=80), nullable=True),
        sa.Column("slug", sa.String(length=300), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=True),
        sa.Column("event_id", sa.String(length=40), nullable=True),
        sa.Column("event_slug", sa.String(length=300), nullable=True),
        sa.Column("event_title", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("tag_slugs", sa.String(length=2000), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=True),
        sa.Column("start_date", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_date", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("game_start_time", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("volume", sa.Float(), nullable=True),
        sa.Column("volume_24h", sa.Float(), nullable=True),
        sa.Column("liquidity", sa.Float(), nullable=True),
        sa.Column("best_bid", sa.Float(), nullable=True),
        sa.Column("best_ask", sa.Float(), nullable=True),
        sa.Column("spread", sa.Float(), nullable=True),
        sa.Column("last_trade_price", sa.Float(), nullable=True),
        sa.Column("tick_size", sa.Float(), nullable=True),
        sa.Column("price_change_24h", sa.Float(), nullable=True),
        sa.Column("resolution_status", sa.String(length=40), nullable=True),
        sa.Column("resolved_outcome", sa.String(length=200), nullable=True),
        sa.Column("upstream_updated_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("fetched_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_markets")),
        sa.UniqueConstraint("condition_id", name=op.f("uq_prediction_markets_condition_id")),
    )
    with op.batch_alter_table("prediction_markets", schema=None) as batch_op:
        batch_op.create_index("ix_prediction_markets_end_date", ["end_date"], unique=False)
        batch_op.create_index("ix_prediction_markets_liquidity", ["liquidity"], unique=False)
        batch_op.create_index(batch_op.f("ix_prediction_markets_slug"), ["slug"], unique=False)
        batch_op.create_index("ix_prediction_markets_state", ["active", "closed"], unique=False)
        batch_op.create_index("ix_prediction_markets_volume", ["volume"], unique=False)
        batch_op.create_index("ix_prediction_markets_volume_24h", ["volume_24h"], unique=False)

    op.create_table(
        "prediction_outcomes",
        sa.Column("token_id", sa.String(length=100), nullable=False),
        sa.Column("market_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("price", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["market_id"],
            ["prediction_markets.id"],
            name=op.f("fk_prediction_outcomes_market_id_prediction_markets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_prediction_outcomes")),
        sa.UniqueConstraint(
            "market_id", "position", name=op.f("uq_prediction_outcomes_market_id_position")
        ),
    )
    with op.batch_alter_table("prediction_outcomes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prediction_outcomes_market_id"), ["market_id"], unique=False
        )

    op.create_table(
        "prediction_price_snapshots",
        sa.Column("token_id", sa.String(length=100), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["prediction_outcomes.token_id"],
            name=op.f("fk_prediction_price_snapshots_token_id_prediction_outcomes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", "ts", name=op.f("pk_prediction_price_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("prediction_price_snapshots")
    with op.batch_alter_table("prediction_outcomes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_outcomes_market_id"))

    op.drop_table("prediction_outcomes")
    with op.batch_alter_table("prediction_markets", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_markets_volume_24h")
        batch_op.drop_index("ix_prediction_markets_volume")
        batch_op.drop_index("ix_prediction_markets_state")
        batch_op.drop_index(batch_op.f("ix_prediction_markets_slug"))
        batch_op.drop_index("ix_prediction_markets_liquidity")
        batch_op.drop_index("ix_prediction_markets_end_date")

    op.drop_table("prediction_markets")
    op.drop_table("prediction_ingest_runs")
