"""Desk power tools on the queue item: suspected duplicates and per-ticket overrides.

``duplicate_of`` names the incident (number) a waiting item looks like a repeat of, and
``duplicate_note`` says why (same caller or CI, how alike, how far apart); auto-push leaves such an
item for a person. ``overrides`` holds a person's values for a few ticket fields of this one ticket
(``{"priority": {"value": "High", "by": "anna", "at": "..."}}``), applied by the outbound mapping.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue_item") as batch:
        batch.add_column(sa.Column("duplicate_of", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("duplicate_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("overrides", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_item") as batch:
        for name in ("overrides", "duplicate_note", "duplicate_of"):
            batch.drop_column(name)
