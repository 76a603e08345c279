"""The engine's side of the Overview tab: a periodic sample of the levels, and the overview read.

Counts (pushes, failures) come from the audit trail the pipelines already write. The queue size,
the Autotask budget and the return-trip lag are levels, so every :data:`SAMPLE_SECONDS` of engine
time one sample goes to the store (one small insert; old samples are dropped with it). The lag is
measured by the return trip for each update it applies (the tenant's time now minus the ticket's
``lastActivityDate``) and the worst since the last sample is kept.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from app.domain.overview import Overview, SamplePoint, build_overview, window_range
from app.engine.context import EngineContext
from app.store import QueueState

SAMPLE_SECONDS = 300.0
log = logging.getLogger(__name__)
WAITING = (QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING, QueueState.FAILED)


class OverviewSampler:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._next_at: datetime | None = None  # the first cycle samples at once
        self._worst_lag: float | None = None

    def note_lags(self, lags: list[float]) -> None:
        """Return-trip lags (seconds) of updates just applied; the worst is kept for the sample."""
        if lags:
            self._worst_lag = max([*lags, *([self._worst_lag] if self._worst_lag is not None else [])])

    async def maybe_sample(self) -> bool:
        """Write a sample when one is due (called every push cycle); True when it did."""
        ctx = self.ctx
        now = ctx.clock()
        if self._next_at is not None and now < self._next_at:
            return False
        self._next_at = now + timedelta(seconds=SAMPLE_SECONDS)
        try:
            counts = await ctx.db(ctx.store.counts_by_state)
        except Exception:
            log.exception("overview sample skipped")
            return False
        budget = ctx.pacing.state()
        sample = SamplePoint(
            at=now,
            queue_waiting=sum(counts.get(state, 0) for state in WAITING),
            budget_used=budget.used,
            budget_limit=budget.limit,
            tenant_count=budget.tenant_count,
            tenant_limit=budget.tenant_limit,
            return_lag_seconds=self._worst_lag,
        )
        try:
            await ctx.db(ctx.store.add_overview_sample, sample)
        except Exception:  # a chart sample is never worth stopping the push loop for
            log.exception("overview sample not stored")
            return False
        self._worst_lag = None
        return True


async def read_overview(ctx: EngineContext, window: str) -> Overview:
    """The Overview tab's charts: two bounded, indexed reads, then pure aggregation."""
    now = ctx.clock()
    start, end, _bucket = window_range(window, now)
    audit = await ctx.db(ctx.store.audit_points, start, end)
    samples = await ctx.db(ctx.store.overview_samples, start, end)
    return build_overview(window, now, audit, samples)
