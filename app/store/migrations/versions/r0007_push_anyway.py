"""A queue item a person pushed although the trigger does not select it ("Push anyway").

The reason is kept with the item (and the audit); a forced item is never dropped by the next poll
for not matching the trigger: the person's decision stands.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue_item") as batch:
        batch.add_column(sa.Column("forced_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queue_item") as batch:
        batch.drop_column("forced_reason")
