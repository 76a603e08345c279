"""Mark a return-trip PATCH as in flight before it is sent.

A PATCH whose answer is lost (timeout, reset, kill) may have landed. The marker makes the next try
read the incident first and send only what is still different, so the work note is never written
twice.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(
            sa.Column("return_in_flight", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_column("return_in_flight")
