"""recalibration: model update jobs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Integer(), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("metrics_before", sa.JSON(), nullable=True),
        sa.Column("metrics_after", sa.JSON(), nullable=True),
        sa.Column("calibration", sa.JSON(), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["model_fits.version"],
            name=op.f("fk_model_jobs_model_version_model_fits"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_jobs")),
        sa.UniqueConstraint("active", name=op.f("uq_model_jobs_active")),
    )
    with op.batch_alter_table("model_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_jobs_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_jobs_created_at"))
    op.drop_table("model_jobs")
