"""value scores: one row per outcome, model and moment (the best quote may repeat)

The market-derived value model scores each outcome at every moment its quotes changed, and
the best book's quote can stay the best over several moments: a score is identified by its
outcome, model version and calculation time, no longer by its snapshot.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 13:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("value_scores", schema=None) as batch_op:
        batch_op.drop_constraint("uq_value_scores_snapshot_id_model_version", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_value_scores_outcome_id_model_version_calc_time"),
            ["outcome_id", "model_version", "calc_time"],
        )


def downgrade() -> None:
    with op.batch_alter_table("value_scores", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_value_scores_outcome_id_model_version_calc_time"), type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_value_scores_snapshot_id_model_version", ["snapshot_id", "model_version"]
        )
