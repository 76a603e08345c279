"""Team desks: soft claims, desk requests, and a row version on queue items.

- ``desk_claim``: "Anna is reviewing" (item, desk name, expiry); claims expire on their own.
- ``desk_request``: live reads a credential-less desk asks of the engine, with the answer.
- ``queue_item.version``: compare-and-set on every item change, so two desks deciding one item at
  once cannot both win.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue_item") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "desk_claim",
        sa.Column("sys_id", sa.String(length=64), nullable=False),
        sa.Column("desk", sa.String(length=40), nullable=False),
        sa.Column("claimed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sys_id", "desk", name="pk_desk_claim"),
    )
    op.create_index("ix_desk_claim_expires_at", "desk_claim", ["expires_at"])
    op.create_table(
        "desk_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("asked_by", sa.String(length=40), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_desk_request"),
    )
    op.create_index("ix_desk_request_pending", "desk_request", ["answered_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_desk_request_pending", table_name="desk_request")
    op.drop_table("desk_request")
    op.drop_index("ix_desk_claim_expires_at", table_name="desk_claim")
    op.drop_table("desk_claim")
    with op.batch_alter_table("queue_item") as batch:
        batch.drop_column("version")
