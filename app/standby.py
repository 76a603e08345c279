"""``triage-sync run --standby``: wait beside a running engine, take over once it is gone.

The standby holds no lease while it waits, so it never competes with a live engine. It tries to
take the lease when the lease changes (the holder stopped cleanly: the change feed says so at
once), when the holder's process on this host is gone (checked locally, no query), and when the
holder's heartbeat would be stale (:data:`app.store.lease.DEFAULT_LEASE_TIMEOUT`). The take-over
itself is the lease's own rule, so two standbys never both win; the new engine's start searches
Autotask for every push the old one left unfinished before it creates anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from datetime import UTC, datetime

from app.engine.engine import SyncEngine
from app.store import EngineAlreadyRunning, EngineLease
from app.store.changes import ChangeFeed
from app.store.lease import DEFAULT_LEASE_TIMEOUT, pid_alive

log = logging.getLogger(__name__)

PID_CHECK_SECONDS = 0.5
MAX_WAIT_SECONDS = 60.0


def _seconds_until_stale(lease: EngineLease, now: datetime) -> float:
    due = lease.heartbeat_at + DEFAULT_LEASE_TIMEOUT
    return min(MAX_WAIT_SECONDS, max(0.2, (due - now).total_seconds() + 0.5))


async def _holder_gone_here(lease: EngineLease) -> None:
    """Returns once the holder's process on this host has exited (never for another host)."""
    if lease.hostname != socket.gethostname():
        await asyncio.Event().wait()
    while pid_alive(lease.pid):
        await asyncio.sleep(PID_CHECK_SECONDS)


async def wait_for_lease(engine: SyncEngine, stop: asyncio.Event) -> bool:
    """Take the engine lease as soon as it may be taken; False when ``stop`` came first."""
    feed = ChangeFeed(engine.store.engine)
    await feed.start()
    announced: str | None = None
    try:
        while not stop.is_set():
            try:
                await engine.acquire_lease()
            except EngineAlreadyRunning as exc:
                lease = exc.current
            else:
                log.info("standby: this process runs the engine now")
                return True
            if announced != lease.token:
                announced = lease.token
                age = int((datetime.now(UTC) - lease.heartbeat_at).total_seconds())
                log.info(
                    "standby: %s on %s (pid %s) runs the engine, heartbeat %s s ago; "
                    "taking over once it stops or its heartbeat lapses",
                    lease.holder or "an engine",
                    lease.hostname,
                    lease.pid,
                    age,
                )
            waits = [
                asyncio.ensure_future(feed.wait({"lease"}, foreign_only=False)),
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(_holder_gone_here(lease)),
            ]
            try:
                await asyncio.wait(
                    waits,
                    timeout=_seconds_until_stale(lease, datetime.now(UTC)),
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                for waiting in waits:
                    waiting.cancel()
                for waiting in waits:
                    with contextlib.suppress(asyncio.CancelledError):
                        await waiting
        return False
    finally:
        await feed.close()
