"""live loop: loop_runs, one row per run of the odds and results jobs

What each run of the live loop called, spent and wrote, or why it failed
(`betting.live.models.LoopRun`); the loop reads its own state back from it.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "loop_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("credits_used", sa.Integer(), nullable=False),
        sa.Column("credits_remaining", sa.Integer(), nullable=True),
        sa.Column("requests_used", sa.Integer(), nullable=True),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loop_runs")),
    )
    with op.batch_alter_table("loop_runs", schema=None) as batch_op:
        batch_op.create_index("ix_loop_runs_job_started", ["job", "started_at"], unique=False)
        batch_op.create_index("ix_loop_runs_started_at", ["started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loop_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_loop_runs_started_at")
        batch_op.drop_index("ix_loop_runs_job_started")
    op.drop_table("loop_runs")
