"""chess: engine review jobs

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chess_review_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=50), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("games_total", sa.Integer(), nullable=False),
        sa.Column("games_done", sa.Integer(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("games", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chess_review_jobs")),
    )
    op.create_index(
        op.f("ix_chess_review_jobs_created_at"), "chess_review_jobs", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_chess_review_jobs_requested_by"),
        "chess_review_jobs",
        ["requested_by"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_chess_review_jobs_requested_by"), table_name="chess_review_jobs")
    op.drop_index(op.f("ix_chess_review_jobs_created_at"), table_name="chess_review_jobs")
    op.drop_table("chess_review_jobs")
