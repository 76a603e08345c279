"""The engine tests' harness is the shared one (tests/support/sim_harness.py), plus helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim_harness import FAST_BACKOFF, IT
from sim_harness import SimHarness as Harness

from app.engine.engine import SyncEngine

Shift = Callable[[float], None]  # moves the simulators' clock forward by some seconds

__all__ = ["FAST_BACKOFF", "IT", "Harness", "Shift", "pushed", "ticket_id"]


async def pushed(harness: Harness, count: int = 1, **fields: Any) -> tuple[SyncEngine, list[dict[str, Any]]]:
    """``count`` incidents auto-pushed and written back; returns the engine and the incidents."""
    incidents = [harness.incident(**fields) for _ in range(count)]
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok and report.pushed == count, report.failures
    return engine, incidents


def ticket_id(harness: Harness, sys_id: str) -> int:
    [ticket] = harness.tickets_for(sys_id)
    return int(ticket["id"])
