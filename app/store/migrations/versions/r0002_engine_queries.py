"""Indexes for the engine's hot queries, and when a queue decision was made.

- ``queue_item(state, next_retry_at)``: items_to_push / stuck_pushing run every cycle.
- ``link(writeback_state, writeback_next_at)``: writebacks_due runs every cycle.
- ``audit_event(direction, id)``: the activity view pages one direction newest first.
- ``queue_item.decided_at``: the queue view shows "approved by user at 10:42".

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue_item") as batch:
        batch.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
    op.create_index("ix_queue_item_state_next_retry", "queue_item", ["state", "next_retry_at"])
    op.create_index("ix_link_writeback_due", "link", ["writeback_state", "writeback_next_at"])
    op.create_index("ix_audit_event_direction_id", "audit_event", ["direction", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_event_direction_id", table_name="audit_event")
    op.drop_index("ix_link_writeback_due", table_name="link")
    op.drop_index("ix_queue_item_state_next_retry", table_name="queue_item")
    with op.batch_alter_table("queue_item") as batch:
        batch.drop_column("decided_at")
