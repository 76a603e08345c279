"""What each long gap of the desk-stall benchmark was (a diagnostic, not a benchmark figure).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m benchmarks.deskgaps 100000 [5000]

Runs the ``deskstall`` scenario of benchmarks/desk.py in this process and, for every gap of the
GUI thread's 1 ms timer over 14 ms, prints:

- ``cpu``: the GUI thread's own CPU time in the gap (painting, Python on the GUI thread);
- ``waiting for a core``: time it was runnable but the OS ran other threads (Linux schedstat);
- ``blocked``: the rest: the GUI thread asleep, almost always waiting for the interpreter lock
  that a worker thread holds (a garbage collection, a long C call, a lost hand-over);
- the garbage collections of each generation during the gap (``gc.get_stats``: a ``gc.callbacks``
  hook runs Python inside every collection and lets other threads in there, hiding the stall);
- the asyncio callbacks over 2 ms on the GUI thread's loop.

How the fourth pass in docs/performance.md used it: a gap with "blocked" and young collections in
it pointed at big new containers; "blocked" without collections at a long C call or a hand-over
lost to a thread that lets the lock go and retakes it at every row.
"""

from __future__ import annotations

import asyncio.events
import gc
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import desk

GAP_SECONDS = 0.014
SLOW_CALLBACK_SECONDS = 0.002


def _schedstat() -> tuple[float, float]:
    """(CPU seconds, seconds waiting for a core) of the calling thread; zeros where unknown."""
    path = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
    try:
        ran, waited, _slices = (int(field) for field in path.read_text().split())
    except (OSError, ValueError):
        return 0.0, 0.0
    return ran / 1e9, waited / 1e9


class GapProbe(desk.StallProbe):
    """The benchmark's probe, also noting what each long gap was made of."""

    gaps_seen: list[dict[str, Any]] = []

    def __init__(self) -> None:
        super().__init__()
        self._sched = _schedstat()
        self._collections = [generation["collections"] for generation in gc.get_stats()]

    def _tick(self) -> None:
        now = time.perf_counter()
        sched = _schedstat()
        collections = [generation["collections"] for generation in gc.get_stats()]
        gap = now - self._last if self._last else 0.0
        if gap > GAP_SECONDS:
            cpu, waited = sched[0] - self._sched[0], sched[1] - self._sched[1]
            self.gaps_seen.append(
                {
                    "at": now,
                    "gap_ms": round(gap * 1000, 1),
                    "cpu_ms": round(cpu * 1000, 1),
                    "waiting_for_a_core_ms": round(waited * 1000, 1),
                    "blocked_ms": round((gap - cpu - waited) * 1000, 1),
                    "collections_by_generation": [
                        now_count - then
                        for now_count, then in zip(collections, self._collections, strict=True)
                    ],
                    "slow_callbacks": [],
                }
            )
        self._sched, self._collections = sched, collections
        super()._tick()


def _time_callbacks(slow: list[tuple[float, float, str]]) -> None:
    """Note every asyncio callback over 2 ms (the engine's coroutines run on the GUI thread)."""
    run = asyncio.events.Handle._run

    def timed(handle: asyncio.events.Handle) -> None:
        began = time.perf_counter()
        try:
            run(handle)
        finally:
            ended = time.perf_counter()
            if ended - began > SLOW_CALLBACK_SECONDS:
                slow.append((began, ended, repr(handle)[:160]))

    asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]


def main(rows: int, incidents: int) -> None:
    slow: list[tuple[float, float, str]] = []
    _time_callbacks(slow)
    desk.StallProbe = GapProbe  # type: ignore[misc]  # the scenario makes its probes by this name
    figures = desk.with_temp_home(lambda: desk._desk_stall(rows, incidents))
    print(json.dumps({key: value for key, value in figures.items() if not key.startswith("idle_")}))
    for gap in GapProbe.gaps_seen:
        ended = gap.pop("at")
        began = ended - gap["gap_ms"] / 1000
        gap["slow_callbacks"] = [
            f"{(end - start) * 1000:.1f} ms {label}"
            for start, end, label in slow
            if end > began and start < ended
        ]
        print(json.dumps(gap))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 5000)
    sys.stdout.flush()
    import os

    os._exit(0)  # skip interpreter teardown of Qt objects, as benchmarks/desk.py does
