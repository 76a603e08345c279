"""The reconciliation pass's schedule and last result, per system, on the poll cursor.

``covered_since`` is where the very first poll began reading: what the incremental path has been
responsible for since. ``reconcile_due_at`` is when the next pass runs (kept in the store so a
``run --once`` from cron keeps the same hourly rhythm); ``reconciled_at``, ``reconcile_found`` and
``reconcile_summary`` say when the last pass ran and what it found (shown by ``status``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_cursor") as batch:
        batch.add_column(sa.Column("covered_since", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reconcile_due_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reconciled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reconcile_found", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("reconcile_summary", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_cursor") as batch:
        for name in (
            "reconcile_summary",
            "reconcile_found",
            "reconciled_at",
            "reconcile_due_at",
            "covered_since",
        ):
            batch.drop_column(name)
