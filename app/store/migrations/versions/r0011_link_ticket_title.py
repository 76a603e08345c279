"""The ticket's title on each link, so Links shows status, priority AND title.

Stored when the ticket is created or adopted and refreshed from the tickets the return trip reads
(a technician may retitle it). Existing links start empty and fill in on the next return-trip read.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.add_column(sa.Column("ticket_title", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("link") as batch:
        batch.drop_column("ticket_title")
