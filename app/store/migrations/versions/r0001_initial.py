"""Initial schema: queue items, links, audit events, cursors, engine lease.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "queue_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sys_id", sa.String(64), nullable=False),
        sa.Column("number", sa.String(40), nullable=False),
        sa.Column("short_description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(80), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("caller", sa.String(255), nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("sn_updated_on", sa.DateTime(), nullable=False),
        sa.Column("sn_mod_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_retry_at", sa.DateTime(), nullable=True),
        sa.Column("queued_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by", sa.String(40), nullable=True),
        sa.Column("drop_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_queue_item"),
        sa.UniqueConstraint("sys_id", name="uq_queue_item_sys_id"),
    )
    op.create_index("ix_queue_item_number", "queue_item", ["number"])

    op.create_table(
        "link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sys_id", sa.String(64), nullable=False),
        sa.Column("incident_number", sa.String(40), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.String(40), nullable=False),
        sa.Column("linked_at", sa.DateTime(), nullable=False),
        sa.Column("outbound_values", sa.JSON(), nullable=False),
        sa.Column("return_synced", sa.JSON(), nullable=False),
        sa.Column("writeback_state", sa.String(16), nullable=False),
        sa.Column("writeback_attempts", sa.Integer(), nullable=False),
        sa.Column("writeback_error", sa.Text(), nullable=True),
        sa.Column("writeback_next_at", sa.DateTime(), nullable=True),
        sa.Column("last_outbound_at", sa.DateTime(), nullable=True),
        sa.Column("last_return_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["sys_id"], ["queue_item.sys_id"], name="fk_link_sys_id_queue_item"),
        sa.PrimaryKeyConstraint("id", name="pk_link"),
        sa.UniqueConstraint("sys_id", name="uq_link_sys_id"),
        sa.UniqueConstraint("ticket_id", name="uq_link_ticket_id"),
    )
    op.create_index("ix_link_incident_number", "link", ["incident_number"])
    op.create_index("ix_link_ticket_number", "link", ["ticket_number"])

    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("sys_id", sa.String(64), nullable=True),
        sa.Column("incident_number", sa.String(40), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("ticket_number", sa.String(40), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("request_body", sa.Text(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_event"),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"])
    op.create_index("ix_audit_event_sys_id", "audit_event", ["sys_id"])
    op.create_index("ix_audit_event_ticket_id", "audit_event", ["ticket_id"])

    op.create_table(
        "sync_cursor",
        sa.Column("system", sa.String(32), nullable=False),
        sa.Column("watermark", sa.DateTime(), nullable=True),
        sa.Column("seen", sa.JSON(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("system", name="pk_sync_cursor"),
    )

    op.create_table(
        "engine_lease",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_engine_lease"),
    )


def downgrade() -> None:
    for table in ("engine_lease", "sync_cursor", "audit_event", "link", "queue_item"):
        op.drop_table(table)
