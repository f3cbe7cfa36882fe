"""evaluation: stored reports, one per data fingerprint

The walk-forward evaluation is computed by a background job after imports and model updates
and served from here (`betting.evaluation.models.EvaluationReport`).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evaluation_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=96), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("seasons", sa.JSON(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("arrays", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_reports")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_evaluation_reports_fingerprint")),
    )
    with op.batch_alter_table("evaluation_reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evaluation_reports_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_evaluation_reports_finished_at"), ["finished_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("evaluation_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_reports_finished_at"))
        batch_op.drop_index(batch_op.f("ix_evaluation_reports_status"))
    op.drop_table("evaluation_reports")
