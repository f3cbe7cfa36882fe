"""chess review jobs: which process holds a job, its last sign of life, and attempts

A review queued or running in a process that died (SIGKILL, OOM, a lost host) is found by its
stale `heartbeat_at` and sent again, or failed after `EDGELAB_CHESS_REVIEW_MAX_ATTEMPTS`
(issue 16).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-10 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chess_review_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("worker", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("heartbeat_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("chess_review_jobs", schema=None) as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("heartbeat_at")
        batch_op.drop_column("worker")
