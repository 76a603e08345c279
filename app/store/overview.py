"""Reads and writes for the Overview tab: narrow audit ranges and the periodic engine samples.

Why a table of samples: the queue size, the Autotask budget and the return-trip lag are levels,
not events, so the audit trail cannot tell them after the fact; the engine writes one small row
every few minutes (``overview_sample``, revision 0008) and rows older than :data:`KEEP` go in the
same transaction, so the table stays a few thousand rows whatever the uptime.

Every read is bounded by a time range on an indexed column (``audit_event.at``,
``overview_sample.at``). Audit rows are counted by the database per time bucket and (direction,
kind, outcome): a busy week is ~100,000 rows, which as Python objects took seconds to read; as
counts it is a few hundred rows (benchmarks/overview_read.py). Bodies are never read.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Integer, cast, delete, func
from sqlalchemy import select as sql_select
from sqlmodel import Field, Session, SQLModel, col, select

from app.domain.overview import AuditPoint, SamplePoint
from app.store.db import IMMEDIATE
from app.store.models import AuditEvent
from app.store.types import UTCDateTime, require_utc

KEEP = timedelta(days=8)  # the longest chart (7 days) plus a margin


class OverviewSample(SQLModel, table=True):
    """One engine sample of the levels the Overview tab draws (revision 0008)."""

    __tablename__ = "overview_sample"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    queue_waiting: int = 0
    budget_used: int = 0
    budget_limit: int = 0
    tenant_count: int | None = None
    tenant_limit: int | None = None
    return_lag_seconds: float | None = None
    poll_failures: int = 0


class OverviewStore:
    """Mixed into :class:`app.store.Store` (which provides ``engine``)."""

    engine: Engine

    def audit_counts(self, since: datetime, until: datetime, bucket: timedelta) -> list[AuditPoint]:
        """Audit rows with ``since <= at < until``, counted per ``bucket`` (from ``since``) and
        (direction, kind, outcome); each point's ``at`` is its bucket's start."""
        since = require_utc(since, "since")
        seconds = bucket.total_seconds()
        offset = since.timestamp()
        at = col(AuditEvent.at)
        if self.engine.dialect.name == "sqlite":  # naive UTC text; no floor(): rows are >= since
            index: Any = cast((cast(func.strftime("%s", at), Integer) - offset) / seconds, Integer)
        else:  # PostgreSQL: a timestamp without time zone holds UTC
            index = cast(func.floor((func.extract("epoch", at) - offset) / seconds), Integer)
        index = index.label("bucket")
        columns = (col(AuditEvent.direction), col(AuditEvent.kind), col(AuditEvent.outcome))
        query = (
            sql_select(index, *columns, func.count())
            .where(at >= since)
            .where(at < require_utc(until, "until"))
            .group_by(index, *columns)
            .order_by(index)
        )
        with Session(self.engine) as session:
            return [
                AuditPoint(
                    at=since + bucket * int(number),
                    direction=str(direction),
                    kind=kind,
                    outcome=str(outcome),
                    count=int(count),
                )
                for number, direction, kind, outcome, count in session.execute(query).all()
            ]

    def add_overview_sample(self, sample: SamplePoint) -> None:
        """Store one sample and forget the ones older than :data:`KEEP` (one transaction)."""
        at = require_utc(sample.at, "at")
        with Session(self.engine) as session:
            session.connection(execution_options={IMMEDIATE: True})
            session.add(
                OverviewSample(
                    at=at,
                    queue_waiting=sample.queue_waiting,
                    budget_used=sample.budget_used,
                    budget_limit=sample.budget_limit,
                    tenant_count=sample.tenant_count,
                    tenant_limit=sample.tenant_limit,
                    return_lag_seconds=sample.return_lag_seconds,
                    poll_failures=sample.poll_failures,
                )
            )
            session.execute(delete(OverviewSample).where(col(OverviewSample.at) < at - KEEP))
            session.commit()

    def overview_samples(self, since: datetime, until: datetime) -> list[SamplePoint]:
        """Samples with ``since <= at < until``, oldest first."""
        query = (
            select(OverviewSample)
            .where(col(OverviewSample.at) >= require_utc(since, "since"))
            .where(col(OverviewSample.at) < require_utc(until, "until"))
            .order_by(col(OverviewSample.at))
        )
        with Session(self.engine) as session:
            return [
                SamplePoint(
                    at=row.at,
                    queue_waiting=row.queue_waiting,
                    budget_used=row.budget_used,
                    budget_limit=row.budget_limit,
                    tenant_count=row.tenant_count,
                    tenant_limit=row.tenant_limit,
                    return_lag_seconds=row.return_lag_seconds,
                    poll_failures=row.poll_failures,
                )
                for row in session.exec(query).all()
            ]
