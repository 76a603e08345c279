"""The ids that ServiceNow notifications name, on their way to a re-read: bounded, de-duplicated,
paused with ServiceNow's credentials, and within a read budget (docs/security.md).

The receiver thread :meth:`IncidentIdQueue.offer`\\ s ids; one drain task on the engine loop re-reads
them through :meth:`SyncEngine.ingest_incident_ids`:

- an id already waiting is not queued twice; beyond ``max_pending`` ids the offer is refused (the
  receiver answers 503) and the regular poll and reconciliation pass catch up;
- while ServiceNow is paused after refused credentials nothing is read (each re-read would be one
  more Basic login with a known-bad password: an account-lockout risk); the waiting ids are dropped
  and left to the poll that runs when the pause ends;
- at most ``reads_per_minute`` ids are read in any 60 seconds; the rest wait their turn.

:class:`RateLimitedLog` keeps a flood from rotating the log away: one line per kind per minute, with
the number of repeats it held back.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from app.engine.engine import SyncEngine

log = logging.getLogger(__name__)

BATCH = 50  # ids per ingest call
WINDOW_SECONDS = 60.0

Offer = Literal["queued", "duplicate", "full", "closed"]


class RateLimitedLog:
    """At most one record per ``key`` per ``interval`` seconds; thread-safe."""

    def __init__(
        self, logger: logging.Logger, interval: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, key: str, message: str, *args: object) -> None:
        now = self.clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                self._held[key] = self._held.get(key, 0) + 1
                return
            self._last[key] = now
            held = self._held.pop(key, 0)
        if held:
            message += " (%d more like this in the last minute)"
            args = (*args, held)
        self.logger.warning(message, *args)


class IncidentIdQueue:
    def __init__(
        self,
        engine: SyncEngine,
        loop: asyncio.AbstractEventLoop,
        *,
        max_pending: int = 500,
        reads_per_minute: int = 120,
        warnings: RateLimitedLog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.loop = loop
        self.max_pending = max_pending
        self.reads_per_minute = reads_per_minute
        self.warnings = warnings or RateLimitedLog(log)
        self.clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, None] = {}
        self._reads: deque[float] = deque()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._closed = False
        self.waiting_for_budget = False

    # ---- receiver thread ------------------------------------------------------------------------

    def offer(self, sys_id: str) -> Offer:
        with self._lock:
            if self._closed:
                return "closed"
            if sys_id in self._pending:
                return "duplicate"
            if len(self._pending) >= self.max_pending:
                return "full"
            self._pending[sys_id] = None
        try:
            self.loop.call_soon_threadsafe(self._kick)
        except RuntimeError:  # the engine loop is closed: the next poll catches up
            return "closed"
        return "queued"

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def idle(self) -> bool:
        task = self._task
        return task is None or task.done()

    def close(self) -> None:
        """Stop draining (thread-safe); waiting ids are left to the poll."""
        with self._lock:
            self._closed = True
            self._pending.clear()
        task = self._task
        if task is not None and not task.done():
            try:
                self.loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass

    # ---- engine loop ----------------------------------------------------------------------------

    def _kick(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._drain(), name="webhook-rereads")

    def _allowance(self) -> int:
        now = self.clock()
        while self._reads and now - self._reads[0] >= WINDOW_SECONDS:
            self._reads.popleft()
        return max(0, self.reads_per_minute - len(self._reads))

    def _take(self, count: int) -> list[str]:
        with self._lock:
            batch = list(self._pending)[:count]
            for sys_id in batch:
                del self._pending[sys_id]
        return batch

    async def _drain(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            if not self.pending():
                return
            if self.engine.ctx.is_paused("servicenow"):
                with self._lock:
                    dropped = len(self._pending)
                    self._pending.clear()
                self.warnings.warning(
                    "paused",
                    "webhook: ServiceNow is paused after refused credentials; %d notified incident(s) "
                    "not re-read (the poll catches up once the credentials are fixed)",
                    dropped,
                )
                return
            allowance = self._allowance()
            if allowance == 0:
                self.waiting_for_budget = True
                delay = WINDOW_SECONDS - (self.clock() - self._reads[0])
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.05, delay))
                except TimeoutError:
                    pass
                continue
            self.waiting_for_budget = False
            batch = self._take(min(allowance, BATCH))
            now = self.clock()
            self._reads.extend(now for _ in batch)
            try:
                await self.engine.ingest_incident_ids(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # not fatal: the regular poll still finds the change
                self.warnings.warning(
                    "reread-failed",
                    "webhook: re-reading %d notified incident(s) failed (%s: %s)",
                    len(batch),
                    type(exc).__name__,
                    exc,
                )
