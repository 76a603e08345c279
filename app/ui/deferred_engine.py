"""The engine's stand-in while it is being built, so the window can show first.

Why: importing the engine (SQLAlchemy, alembic, httpx), opening the store and taking the lease take
a second or more on a 2-core machine; the window should not wait for them. ``DeferredEngine`` has
the configuration and an event bus at once; every call waits until :meth:`attach` hands over the
real engine (whose events are then forwarded to this bus), and the synchronous state reads answer
"not known yet" until then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from app.config import AppConfig
from app.engine.events import EventBus, SystemName
from app.engine.views import (
    ActionResult,
    AuditRow,
    BudgetState,
    DryRunReport,
    Explanation,
    HealthState,
    LinkRow,
    OverrideChoices,
    QueueRow,
)

if TYPE_CHECKING:
    from app.domain.impact import ImpactReport
    from app.domain.outbound import Preview
    from app.domain.overview import Overview
    from app.domain.records import Incident, TicketMetadata
    from app.engine.api import EngineAPI


class DeferredEngine:
    """An ``EngineAPI`` whose engine arrives later (see the module docstring)."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.bus = EventBus()
        self._engine: EngineAPI | None = None
        self._arrived = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    def attach(self, engine: EngineAPI) -> None:
        """The real engine (built, started): calls go to it, its events to this bus."""
        self._engine = engine
        self.config = engine.config
        self._unsubscribe = engine.bus.subscribe(self.bus.publish)
        self._arrived.set()

    @property
    def attached(self) -> EngineAPI | None:
        return self._engine

    async def _ready(self) -> EngineAPI:
        await self._arrived.wait()
        assert self._engine is not None
        return self._engine

    # --- life cycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        await (await self._ready()).start()

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.stop()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # --- state (answers at once: before the engine arrives, "nothing known yet") -------------------
    @property
    def auto_push(self) -> bool:
        return self._engine.auto_push if self._engine is not None else False

    def set_auto_push(self, enabled: bool) -> None:
        if self._engine is not None:
            self._engine.set_auto_push(enabled)

    def health(self, system: SystemName) -> HealthState:
        return self._engine.health(system) if self._engine is not None else HealthState()

    def budget(self) -> BudgetState:
        return self._engine.budget() if self._engine is not None else BudgetState(0, 0, 0)

    def record_url(self, system: SystemName, record_id: str) -> str | None:
        return self._engine.record_url(system, record_id) if self._engine is not None else None

    # --- everything else waits for the engine -------------------------------------------------------
    async def poll_now(self) -> None:
        await (await self._ready()).poll_now()

    async def list_queue(
        self, states: Sequence[str] | None = None, search: str | None = None
    ) -> list[QueueRow]:
        return await (await self._ready()).list_queue(states, search)

    async def list_links(self, search: str | None = None, limit: int | None = None) -> list[LinkRow]:
        return await (await self._ready()).list_links(search, limit)

    async def list_audit(
        self,
        *,
        direction: str | None = None,
        sys_id: str | None = None,
        ticket_id: int | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        engine = await self._ready()
        return await engine.list_audit(direction=direction, sys_id=sys_id, ticket_id=ticket_id, limit=limit)

    async def overview(self, window: str = "24h") -> Overview:
        return await (await self._ready()).overview(window)

    async def preview(self, key: str) -> Preview:
        return await (await self._ready()).preview(key)

    async def override_choices(self) -> OverrideChoices:
        return await (await self._ready()).override_choices()

    async def set_overrides(self, key: str, values: Mapping[str, str | None], by: str) -> ActionResult:
        return await (await self._ready()).set_overrides(key, values, by)

    async def clear_overrides(self, key: str, by: str) -> ActionResult:
        return await (await self._ready()).clear_overrides(key, by)

    async def approve(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        return await (await self._ready()).approve(keys, by, seen=seen)

    async def reject(
        self,
        keys: Sequence[str],
        by: str = "user",
        reason: str | None = None,
        *,
        seen: Mapping[str, str] | None = None,
    ) -> list[ActionResult]:
        return await (await self._ready()).reject(keys, by, reason, seen=seen)

    async def restore(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        return await (await self._ready()).restore(keys, by, seen=seen)

    async def retry(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        return await (await self._ready()).retry(keys, by, seen=seen)

    async def claim(self, key: str, desk: str) -> list[str]:
        return await (await self._ready()).claim(key, desk)

    async def release_claim(self, desk: str) -> None:
        if self._engine is not None:  # nothing claimed before the engine arrived
            await self._engine.release_claim(desk)

    async def reviewing(self) -> dict[str, tuple[str, ...]]:
        return await (await self._ready()).reviewing()

    async def reviewers(self, key: str, desk: str) -> list[str]:
        return await (await self._ready()).reviewers(key, desk)

    async def retry_return(self, ticket_id: int) -> None:
        await (await self._ready()).retry_return(ticket_id)

    async def explain(self, key: str) -> Explanation:
        return await (await self._ready()).explain(key)

    async def push_anyway(self, key: str, by: str, reason: str) -> ActionResult:
        return await (await self._ready()).push_anyway(key, by, reason)

    async def dry_run(self) -> DryRunReport:
        return await (await self._ready()).dry_run()

    async def test_connection(self, system: SystemName) -> str:
        return await (await self._ready()).test_connection(system)

    # --- rules ---------------------------------------------------------------------------------------
    async def picklists(self) -> TicketMetadata | None:
        return await (await self._ready()).picklists()

    async def sample_incident(self, key: str, *, fresh: bool) -> Incident | None:
        return await (await self._ready()).sample_incident(key, fresh=fresh)

    async def rules_impact(self, new: AppConfig) -> ImpactReport:
        return await (await self._ready()).rules_impact(new)

    async def apply_rules(self, new: AppConfig, by: str) -> tuple[str, ...]:
        return await (await self._ready()).apply_rules(new, by)

    def rules_read_only(self) -> str | None:
        return self._engine.rules_read_only() if self._engine is not None else None
