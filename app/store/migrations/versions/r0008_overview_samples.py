"""Periodic engine samples for the Overview tab: queue size, Autotask budget, return-trip lag.

These are levels, not events, so the audit trail cannot tell them afterwards; the engine writes
one row every few minutes and drops rows older than eight days.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "overview_sample",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("queue_waiting", sa.Integer(), nullable=False),
        sa.Column("budget_used", sa.Integer(), nullable=False),
        sa.Column("budget_limit", sa.Integer(), nullable=False),
        sa.Column("tenant_count", sa.Integer(), nullable=True),
        sa.Column("tenant_limit", sa.Integer(), nullable=True),
        sa.Column("return_lag_seconds", sa.Float(), nullable=True),
        sa.Column("poll_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overview_sample")),
    )
    op.create_index(op.f("ix_overview_sample_at"), "overview_sample", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_overview_sample_at"), table_name="overview_sample")
    op.drop_table("overview_sample")
