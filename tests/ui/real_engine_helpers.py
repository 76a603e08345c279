"""A real SyncEngine wired to both simulators on loopback, for UI tests that drive the real MainWindow:
the shared harness (tests/support/sim_harness.py) plus a close() that also stops started engines."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import qasync
from sim_harness import SimHarness

SCENARIO_TIMEOUT = 15.0  # a hang fails one test instead of the whole run


@dataclass
class RealRig(SimHarness):
    """Both simulators (already serving) plus the engines built against them in one test."""

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()  # stops loops if started, then close() (idempotent)
        self.engines.clear()


def run(
    loop: qasync.QEventLoop,
    rig: RealRig,
    scenario: Coroutine[Any, Any, None],
    timeout: float = SCENARIO_TIMEOUT,
) -> None:
    """Run one scenario, then stop its engines and let short tasks end *while the loop runs*.

    pytest-qt calls ``processEvents()`` between test phases, outside ``run_until_complete``: a
    qasync task step that runs then finds no running loop (``asyncio.to_thread`` raises). So no
    engine loop or engine-spawned task (e.g. the auto-push audit write) may outlive the scenario.
    """

    async def guarded() -> None:
        try:
            await asyncio.wait_for(scenario, timeout)
        finally:
            await rig.close()
            current = asyncio.current_task()
            others = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
            if others:
                await asyncio.wait(others, timeout=2)

    loop.run_until_complete(guarded())
