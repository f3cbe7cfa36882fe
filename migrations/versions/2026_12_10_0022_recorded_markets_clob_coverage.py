"""prediction markets: recorded markets, and the CLOB range each outcome's history covers

`prediction_markets` gains `recorded_at` (set when the market comes from a shipped recording of
Polymarket's answers, `edgelab import polymarket-recording`: when it was recorded; null for live
ingests) and `recording` (which recording). `prediction_outcomes` gains `clob_from_ts` and
`clob_to_ts` (unix seconds): the one contiguous range the CLOB's price history has been fetched
for, so a chart asks the CLOB only for the part of its window not fetched yet.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-10 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("prediction_markets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recorded_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("recording", sa.String(length=200), nullable=True))
    with op.batch_alter_table("prediction_outcomes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("clob_from_ts", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("clob_to_ts", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prediction_outcomes", schema=None) as batch_op:
        batch_op.drop_column("clob_to_ts")
        batch_op.drop_column("clob_from_ts")
    with op.batch_alter_table("prediction_markets", schema=None) as batch_op:
        batch_op.drop_column("recording")
        batch_op.drop_column("recorded_at")
