"""bet-history import: imported bets in `user_bets`, and `bet_imports` between preview and confirm

`user_bets` gains `source` (`tracked` or `import`), `import_id`, `import_key` (unique per user:
a row uploaded again is not imported twice) and the file's own texts (`sport`, `event`,
`market_text`, `selection`, `result`); `outcome_id` and `game_id` become nullable (an imported
bet names no market of ours). `bet_imports` holds an uploaded CSV, its column mapping and, once
confirmed, its counts. Downgrading deletes the imported bets (they have no market).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-10 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import edgelab.core.db

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_bets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=8), server_default="tracked", nullable=False)
        )
        batch_op.add_column(sa.Column("import_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("import_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sport", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("event", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("market_text", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("selection", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("result", sa.String(length=12), nullable=True))
        batch_op.alter_column("outcome_id", existing_type=sa.String(length=160), nullable=True)
        batch_op.alter_column("game_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f("uq_user_bets_user_id_import_key"), ["user_id", "import_key"]
        )
    op.create_table(
        "bet_imports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("delimiter", sa.String(length=1), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("data_rows", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", edgelab.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bet_imports_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bet_imports")),
    )
    with op.batch_alter_table("bet_imports", schema=None) as batch_op:
        batch_op.create_index("ix_bet_imports_expires_at", ["expires_at"], unique=False)
        batch_op.create_index(
            "ix_bet_imports_user_created", ["user_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("bet_imports", schema=None) as batch_op:
        batch_op.drop_index("ix_bet_imports_user_created")
        batch_op.drop_index("ix_bet_imports_expires_at")
    op.drop_table("bet_imports")
    user_bets = sa.table("user_bets", sa.column("source", sa.String))
    op.execute(user_bets.delete().where(user_bets.c.source == "import"))
    with op.batch_alter_table("user_bets", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_user_bets_user_id_import_key"), type_="unique")
        batch_op.alter_column("game_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("outcome_id", existing_type=sa.String(length=160), nullable=False)
        batch_op.drop_column("result")
        batch_op.drop_column("selection")
        batch_op.drop_column("market_text")
        batch_op.drop_column("event")
        batch_op.drop_column("sport")
        batch_op.drop_column("import_key")
        batch_op.drop_column("import_id")
        batch_op.drop_column("source")
