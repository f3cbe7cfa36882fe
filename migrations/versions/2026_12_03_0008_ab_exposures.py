"""a/b testing: arm assignments and exposures

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ab_exposures",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("experiment", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("arm", sa.String(length=1), nullable=False),
        sa.Column("algorithm", sa.String(length=1), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("outcome_id", sa.String(length=160), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("slate_date", sa.Date(), nullable=True),
        sa.Column("shown_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_ab_exposures_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ab_exposures")),
    )
    with op.batch_alter_table("ab_exposures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ab_exposures_user_outcome_shown", ["user_id", "outcome_id", "shown_at"]
        )
        batch_op.create_index("ix_ab_exposures_experiment_arm", ["experiment", "arm"])


def downgrade() -> None:
    with op.batch_alter_table("ab_exposures", schema=None) as batch_op:
        batch_op.drop_index("ix_ab_exposures_experiment_arm")
        batch_op.drop_index("ix_ab_exposures_user_outcome_shown")

    op.drop_table("ab_exposures")
