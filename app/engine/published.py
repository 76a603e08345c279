"""What the engine shows attached desks: health of both systems, the budget, auto-push.

These live in the engine's memory; a desk in another process reads them from the store. The
engine writes one small JSON object (``engine_state`` key :data:`STATUS_KEY`) when they change,
at most once per :data:`MIN_INTERVAL_SECONDS`; the write wakes the desks through the change feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from app.engine.events import (
    AutoPushChanged,
    BudgetChanged,
    EngineEvent,
    HealthChanged,
    PollFailed,
    PollFinished,
)
from app.engine.views import BudgetState, HealthLevel, HealthState, HoldView

if TYPE_CHECKING:
    from app.engine.events import SystemName

log = logging.getLogger(__name__)

STATUS_KEY = "engine.status"
MIN_INTERVAL_SECONDS = 1.0
STOP_GRACE_SECONDS = 10.0
SYSTEMS: tuple[SystemName, ...] = ("servicenow", "autotask")


@dataclass(frozen=True)
class PublishedStatus:
    """The engine's view of both systems as a desk shows it."""

    health: dict[SystemName, HealthState] = field(
        default_factory=lambda: {"servicenow": HealthState(), "autotask": HealthState()}
    )
    budget: BudgetState = field(default_factory=lambda: BudgetState(0, 0, 0))
    auto_push: bool = False
    at: datetime | None = None


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def encode(status: PublishedStatus) -> dict[str, Any]:
    health = {
        system: {
            "level": state.level,
            "message": state.message,
            "last_success": _when(state.last_success),
            "last_failure": _when(state.last_failure),
            "next_poll": _when(state.next_poll),
            "last_reconciled": _when(state.last_reconciled),
            "reconcile_found": list(state.reconcile_found),
        }
        for system, state in status.health.items()
    }
    budget = status.budget
    return {
        "health": health,
        "budget": {
            "used": budget.used,
            "limit": budget.limit,
            "remaining": budget.remaining,
            "tenant_count": budget.tenant_count,
            "tenant_limit": budget.tenant_limit,
            "delay_seconds": budget.delay_seconds,
            "holds": [
                {"system": h.system, "kind": h.kind, "until": _when(h.until), "reason": h.reason}
                for h in budget.holds
            ],
            "reading_at": _when(budget.reading_at),
            "as_of": _when(budget.as_of),
        },
        "auto_push": status.auto_push,
        "at": _when(status.at),
    }


def decode(value: dict[str, Any]) -> PublishedStatus:
    """Tolerant: a missing or odd field gives the default (a newer engine may write more)."""
    health: dict[SystemName, HealthState] = {}
    raw_health = value.get("health") if isinstance(value.get("health"), dict) else {}
    for system in SYSTEMS:
        raw = raw_health.get(system) if isinstance(raw_health, dict) else None
        if not isinstance(raw, dict):
            health[system] = HealthState()
            continue
        health[system] = HealthState(
            level=cast(HealthLevel, str(raw.get("level") or "unknown")),
            message=str(raw.get("message") or ""),
            last_success=_parse(raw.get("last_success")),
            last_failure=_parse(raw.get("last_failure")),
            next_poll=_parse(raw.get("next_poll")),
            last_reconciled=_parse(raw.get("last_reconciled")),
            reconcile_found=tuple(str(n) for n in raw.get("reconcile_found") or ()),
        )
    raw_budget = value.get("budget") if isinstance(value.get("budget"), dict) else {}
    assert isinstance(raw_budget, dict)
    holds = tuple(
        HoldView(str(h.get("system", "")), str(h.get("kind", "")), until, str(h.get("reason", "")))
        for h in raw_budget.get("holds") or ()
        if isinstance(h, dict) and (until := _parse(h.get("until"))) is not None
    )

    def number(key: str) -> int:
        raw = raw_budget.get(key)
        return int(raw) if isinstance(raw, int | float) else 0

    def optional(key: str) -> int | None:
        raw = raw_budget.get(key)
        return int(raw) if isinstance(raw, int | float) else None

    budget = BudgetState(
        used=number("used"),
        limit=number("limit"),
        remaining=number("remaining"),
        tenant_count=optional("tenant_count"),
        tenant_limit=optional("tenant_limit"),
        delay_seconds=float(raw_budget.get("delay_seconds") or 0.0),
        holds=holds,
        reading_at=_parse(raw_budget.get("reading_at")),
        as_of=_parse(raw_budget.get("as_of")),
    )
    return PublishedStatus(health, budget, bool(value.get("auto_push")), _parse(value.get("at")))


class StatusPublisher:
    """Subscribed to the engine's bus; writes the status when it changed (debounced)."""

    WATCHED = (HealthChanged, BudgetChanged, AutoPushChanged, PollFinished, PollFailed)

    def __init__(
        self,
        snapshot: Callable[[], PublishedStatus],
        write: Callable[[dict[str, Any]], Any],
    ) -> None:
        self._snapshot = snapshot
        self._write = write  # an awaitable-returning store write (runs in a worker thread)
        self._dirty = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, self.WATCHED):
            self._dirty.set()

    def start(self) -> None:
        self._stopping.clear()
        self._dirty.set()  # the first status goes out at start: desks see who polls and when
        self._task = asyncio.get_running_loop().create_task(self._run(), name="publish-status")

    async def stop(self) -> None:
        """Stop after a write in progress (its worker thread must not outlive the store)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._dirty.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self._dirty.wait()
            self._dirty.clear()
            if self._stopping.is_set():
                return
            try:
                await self._write(encode(self._snapshot()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a desk sees older status; syncing goes on
                log.warning("engine status not published: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), MIN_INTERVAL_SECONDS)
