"""A real SyncEngine wired to both simulators on loopback, for UI tests that drive the real MainWindow:
the shared harness (tests/support/sim_harness.py) plus a close() that also stops started engines."""

from __future__ import annotations

from dataclasses import dataclass

from sim_harness import SimHarness


@dataclass
class RealRig(SimHarness):
    """Both simulators (already serving) plus the engines built against them in one test."""

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()  # stops loops if started, then close() (idempotent)
        self.engines.clear()
