"""The engine's side of the Overview tab: a periodic sample of the levels, and the overview read.

Counts (pushes, failures) come from the audit trail the pipelines already write. The queue size,
the Autotask budget, the return-trip lag and failed polls are not audit rows, so every
:data:`SAMPLE_SECONDS` of engine time one sample goes to the store (one small insert; old samples
are dropped with it). The lag is measured by the return trip for each update it applies (the
tenant's time now minus the ticket's ``lastActivityDate``); the worst since the last sample is kept.
A read adds a "now" point (not stored) so the queue and budget lines end at the current values.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from app.domain.overview import Overview, SamplePoint, build_overview, window_range
from app.engine.context import EngineContext
from app.engine.events import EngineEvent, PollFailed
from app.engine.views import BudgetState
from app.store import QueueState, Store

log = logging.getLogger(__name__)
SAMPLE_SECONDS = 300.0
WAITING = (QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING, QueueState.FAILED)


async def levels_now(
    store: Store,
    budget: BudgetState,
    at: datetime,
    *,
    return_lag_seconds: float | None = None,
    poll_failures: int = 0,
) -> SamplePoint:
    """The queue and budget levels at ``at`` (the engine's sample, a desk's "now" point)."""
    counts = await asyncio.to_thread(store.counts_by_state)
    return SamplePoint(
        at=at,
        queue_waiting=sum(counts.get(state, 0) for state in WAITING),
        budget_used=budget.used,
        budget_limit=budget.limit,
        tenant_count=budget.tenant_count,
        tenant_limit=budget.tenant_limit,
        return_lag_seconds=return_lag_seconds,
        poll_failures=poll_failures,
    )


class OverviewSampler:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._next_at: datetime | None = None  # the first cycle samples at once
        self._worst_lag: float | None = None
        self._poll_failures = 0
        ctx.bus.subscribe(self._on_event)

    def _on_event(self, event: EngineEvent) -> None:
        if isinstance(event, PollFailed):
            self._poll_failures += 1

    def note_lags(self, lags: list[float]) -> None:
        """Return-trip lags (seconds) of updates just applied; the worst is kept for the sample."""
        if lags:
            self._worst_lag = max([*lags, *([self._worst_lag] if self._worst_lag is not None else [])])

    async def current(self) -> SamplePoint:
        """The levels now, and what happened since the last stored sample."""
        ctx = self.ctx
        return await levels_now(
            ctx.store,
            ctx.pacing.state(),
            ctx.clock(),
            return_lag_seconds=self._worst_lag,
            poll_failures=self._poll_failures,
        )

    async def maybe_sample(self) -> bool:
        """Write a sample when one is due (called every push cycle); True when it did."""
        now = self.ctx.clock()
        if self._next_at is not None and now < self._next_at:
            return False
        self._next_at = now + timedelta(seconds=SAMPLE_SECONDS)
        try:
            sample = await self.current()
            await self.ctx.db(self.ctx.store.add_overview_sample, sample)
        except Exception:  # a chart sample is never worth stopping the push loop for
            log.exception("overview sample not stored")
            return False
        self._worst_lag = None
        self._poll_failures -= sample.poll_failures  # failures that came in meanwhile stay counted
        return True

    async def overview(self, window: str) -> Overview:
        """The Overview tab's charts from the store and the current levels."""
        return await read_overview(self.ctx.store, window, self.ctx.clock(), await self.current())


async def read_overview(store: Store, window: str, now: datetime, current: SamplePoint) -> Overview:
    """Two bounded, indexed reads, the current levels, then pure aggregation; all store and
    aggregation work in a worker thread (off the GUI thread). Shared by the engine and an attached
    desk (which has no sampler: its "now" point comes from the engine's published status)."""
    start, end, bucket = window_range(window, now)
    audit = await asyncio.to_thread(store.audit_counts, start, end, bucket)
    samples = await asyncio.to_thread(store.overview_samples, start, end)
    # A week of samples is a few thousand points.
    return await asyncio.to_thread(build_overview, window, now, audit, [*samples, current])
