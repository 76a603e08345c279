"""The change feed's table (team mode): on SQLite each write transaction appends the topics it
touched here, so other processes learn what changed without scanning the tables they show.

PostgreSQL announces changes with NOTIFY instead; the table exists there too (empty) so both
backends keep one schema.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "store_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=96), nullable=False),
        sa.Column("at", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_change")),
    )


def downgrade() -> None:
    op.drop_table("store_change")
