"""odds snapshots: when a quote was last seen listed (its age is measured from there)

A book that keeps a price up keeps its `last_update`, so a quote listed unchanged by a later
fetch (or recorded snapshot) is not stored again; `seen_at` records that later sighting, and a
quote's age at a scoring moment is measured from it rather than from `captured_at`.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("odds_snapshots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("seen_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("odds_snapshots", schema=None) as batch_op:
        batch_op.drop_column("seen_at")
