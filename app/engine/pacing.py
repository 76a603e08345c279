"""Pacing across cycles and processes: "not before" holds and the tenant's threshold reading.

- **Holds.** A Retry-After from either system is a "not before" for that system and kind of call
  (``poll``, ``push``, ``writeback``, ``return``). Every loop asks :meth:`Pacing.held` before
  that kind of call, so a ServiceNow poll or a return-trip PATCH answered 429 with
  ``Retry-After: 120`` is not sent again on the very next cycle. Holds are kept in the store, so a
  ``run --once`` started from cron honours them too. Our own budget's waits are not holds: the
  budget recomputes them from the reading, which a new ThresholdInformation read corrects.
- **Threshold.** The tenant's ThresholdInformation reading is kept in the store and loaded by a
  new process, so ``run --once`` starts from it instead of asking again. :meth:`refresh_threshold`
  reads it again when the budget says it is due (about every minute above 90 %); that read is
  never held back by the budget.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from app.connectors.errors import ConnectorError, RateLimited
from app.domain.records import parse_iso_time
from app.engine.events import BudgetChanged
from app.engine.views import BudgetState, HoldView

if TYPE_CHECKING:
    from app.engine.context import EngineContext
    from app.store import EngineState, Store

log = logging.getLogger(__name__)

HoldKind = Literal["poll", "push", "writeback", "return"]
HOLD_PREFIX = "hold."
THRESHOLD_KEY = "autotask.threshold"


def _hold_key(system: str, kind: str) -> str:
    return f"{HOLD_PREFIX}{system}.{kind}"


def _stored_hold(row: EngineState) -> HoldView | None:
    try:
        system, kind = row.key[len(HOLD_PREFIX) :].split(".", 1)
        until = parse_iso_time(str(row.value["until"]))
    except (KeyError, ValueError):
        return None
    return HoldView(system, kind, until, str(row.value.get("reason", "")))


def stored_state(store: Store, now: datetime) -> BudgetState | None:
    """What ``triage-sync status`` shows without an engine: the tenant's last reading (as it was
    read) and the holds still running; None when the store has neither."""
    holds = tuple(
        hold
        for row in store.states_with_prefix(HOLD_PREFIX)
        if (hold := _stored_hold(row)) is not None and hold.until > now
    )
    reading = store.get_state(THRESHOLD_KEY)
    if reading is None and not holds:
        return None
    values = reading.value if reading is not None else {}

    def number(key: str) -> int | None:
        value = values.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return BudgetState(
        used=number("ours") or 0,
        limit=0,
        remaining=0,
        tenant_count=number("currentTimeframeRequestCount"),
        tenant_limit=number("externalRequestThreshold"),
        holds=holds,
        reading_at=reading.updated_at if reading is not None else None,
    )


class Pacing:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._holds: dict[tuple[str, str], HoldView] = {}
        self._reading_at: datetime | None = None
        self._threshold_lock = asyncio.Lock()
        self._loaded = False

    # ---- store -----------------------------------------------------------------------------------

    async def load(self) -> None:
        """Once per engine: the holds and the threshold reading a previous process left."""
        if self._loaded:
            return
        self._loaded = True
        ctx = self.ctx
        now = ctx.clock()
        for row in await ctx.db(ctx.store.states_with_prefix, HOLD_PREFIX):
            hold = _stored_hold(row)
            if hold is not None and hold.until > now:
                self._holds[(hold.system, hold.kind)] = hold
            else:
                await ctx.db(ctx.store.delete_state, row.key)
        stored = await ctx.db(ctx.store.get_state, THRESHOLD_KEY)
        budget = ctx.autotask.budget
        if stored is not None and budget is not None:
            age = max(0.0, (now - stored.updated_at).total_seconds())
            budget.update_from_threshold(stored.value, age=age)
            self._reading_at = stored.updated_at
        self.publish()

    # ---- holds -----------------------------------------------------------------------------------

    def held(self, system: str, kind: str) -> HoldView | None:
        """The hold on this system and kind of call, while it lasts."""
        hold = self._holds.get((system, kind))
        if hold is None:
            return None
        if hold.until <= self.ctx.clock():
            del self._holds[(system, kind)]
            return None
        return hold

    async def hold_for(self, kind: HoldKind, error: ConnectorError) -> HoldView | None:
        """Remember a server's Retry-After as a "not before" for ``error.system`` and ``kind``."""
        if not isinstance(error, RateLimited) or error.retry_after is None or error.status is None:
            return None  # no Retry-After, or our own budget's pacing (recomputed from the reading)
        system = error.system
        until = self.ctx.clock() + timedelta(seconds=error.retry_after)
        current = self.held(system, kind)
        if current is not None and current.until >= until:
            return current
        hold = HoldView(system, kind, until, f"Retry-After {error.retry_after:.0f} s")
        self._holds[(system, kind)] = hold
        await self.ctx.db(
            self.ctx.store.put_state,
            _hold_key(system, kind),
            {"until": until.isoformat(), "reason": hold.reason},
            now=self.ctx.clock(),
        )
        log.warning("%s", hold.describe())
        self.publish()
        return hold

    def holds(self) -> tuple[HoldView, ...]:
        active = [self.held(system, kind) for system, kind in list(self._holds)]
        return tuple(hold for hold in active if hold is not None)

    # ---- the tenant's threshold ------------------------------------------------------------------

    async def refresh_threshold(self) -> None:
        """Read ThresholdInformation when the budget says the reading is due; keep it in the store.
        One request, never held back by the budget; a failure only means pacing by the old one."""
        budget = self.ctx.autotask.budget
        if budget is None or self.ctx.is_paused("autotask") or not budget.threshold_due():
            return
        async with self._threshold_lock:
            if not budget.threshold_due():
                return
            try:
                info = await self.ctx.autotask.threshold()
            except ConnectorError as error:
                log.warning("Autotask ThresholdInformation unavailable: %s", error)
                return
            now = self.ctx.clock()
            self._reading_at = now
            reading = {
                "externalRequestThreshold": info.get("externalRequestThreshold"),
                "currentTimeframeRequestCount": info.get("currentTimeframeRequestCount"),
                "ours": budget.used(),
            }
            await self.ctx.db(self.ctx.store.put_state, THRESHOLD_KEY, reading, now=now)
        self.publish()

    # ---- the view ----------------------------------------------------------------------------------

    def state(self) -> BudgetState:
        budget = self.ctx.autotask.budget
        holds = self.holds()
        if budget is None:
            return BudgetState(used=0, limit=0, remaining=0, holds=holds)
        snapshot = budget.state()
        return BudgetState(
            used=snapshot.used,
            limit=snapshot.allowance,
            remaining=snapshot.remaining,
            tenant_count=snapshot.tenant_count,
            tenant_limit=snapshot.tenant_limit,
            delay_seconds=snapshot.delay,
            holds=holds,
            reading_at=self._reading_at,
            as_of=self.ctx.clock(),
        )

    def publish(self) -> None:
        state = self.state()
        self.ctx.bus.publish(
            BudgetChanged(used=state.used, limit=state.limit, remaining=state.remaining, state=state)
        )
