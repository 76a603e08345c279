"""Single-engine guard: one row says which process runs the engine for this database.

Two engines on one database would both push the same approved item (a duplicate ticket) and race
on cursors. Short commands (approve, reject, status, list) never take the lease: they are plain
transactions and work beside a running engine.

The lease is stale, and can be taken over, when its heartbeat is older than the timeout, or at
once when it belongs to this host and its process is gone (a killed engine restarts immediately).
"""

from __future__ import annotations

import os
import socket
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col

from app.store.db import IMMEDIATE
from app.store.errors import StoreError
from app.store.models import AuditDirection, AuditEvent, AuditOutcome, EngineLease
from app.store.types import require_utc

DEFAULT_LEASE_TIMEOUT = timedelta(seconds=60)


class EngineAlreadyRunning(StoreError):
    """Another live engine holds the lease for this database."""

    def __init__(self, current: EngineLease) -> None:
        self.current = current
        super().__init__(
            f"the sync engine is already running for this database: {current.holder or 'unnamed'} "
            f"on host {current.hostname}, pid {current.pid}, since "
            f"{current.started_at:%Y-%m-%d %H:%M:%S} UTC (last heartbeat "
            f"{current.heartbeat_at:%H:%M:%S} UTC). Stop it first or use the running app."
        )


class LeaseLost(StoreError):
    """Our lease was taken over (our heartbeat went stale): this engine must stop at once."""


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host. Errs on the side of 'alive'."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return True
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)  # signal 0: existence check only (never on Windows: it would terminate)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True
    return True


def stale_reason(lease: EngineLease, now: datetime, timeout: timedelta, hostname: str) -> str | None:
    """Why a lease may be taken over, or None when its holder must be presumed alive."""
    age = now - lease.heartbeat_at
    if age > timeout:
        return f"no heartbeat for {int(age.total_seconds())} s"
    if lease.hostname == hostname and not pid_alive(lease.pid):
        return f"process {lease.pid} on this host is gone"
    return None


@dataclass
class Lease:
    """Our hold on the engine lease. Call refresh() well within the timeout; release() on stop."""

    engine: Engine
    token: str
    holder: str
    pid: int
    hostname: str
    started_at: datetime
    heartbeat_at: datetime
    released: bool = False

    def refresh(self, now: datetime | None = None) -> None:
        """Heartbeat. Raises LeaseLost when another engine took the lease over meanwhile."""
        moment = require_utc(now or datetime.now(UTC), "now")
        with Session(self.engine) as session:
            session.connection(execution_options={IMMEDIATE: True})
            result = session.execute(
                update(EngineLease).where(col(EngineLease.token) == self.token).values(heartbeat_at=moment)
            )
            session.commit()
        if getattr(result, "rowcount", 1) == 0:
            self.released = True
            raise LeaseLost(
                "another engine took over the lease (this one missed its heartbeats); stopping this engine"
            )
        self.heartbeat_at = moment

    def release(self) -> None:
        """Give the lease up (idempotent; never removes a lease someone else took over)."""
        if self.released:
            return
        with Session(self.engine) as session:
            session.connection(execution_options={IMMEDIATE: True})
            session.execute(delete(EngineLease).where(col(EngineLease.token) == self.token))
            session.commit()
        self.released = True

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def acquire(
    engine: Engine,
    holder: str,
    *,
    timeout: timedelta = DEFAULT_LEASE_TIMEOUT,
    now: datetime | None = None,
    hostname: str | None = None,
    pid: int | None = None,
) -> Lease:
    """Take the lease, or raise EngineAlreadyRunning naming the live holder."""
    moment = require_utc(now or datetime.now(UTC), "now")
    host = hostname or socket.gethostname()
    our_pid = os.getpid() if pid is None else pid
    token = uuid.uuid4().hex
    with Session(engine, expire_on_commit=False) as session:
        session.connection(execution_options={IMMEDIATE: True})  # two starters serialise here
        current = session.get(EngineLease, 1)
        if current is not None:
            reason = stale_reason(current, moment, timeout, host)
            if reason is None:
                session.expunge(current)
                raise EngineAlreadyRunning(current)
            session.add(
                AuditEvent(
                    at=moment,
                    direction=AuditDirection.SYSTEM,
                    kind="recovery",
                    outcome=AuditOutcome.OK,
                    summary=(
                        f"Took over the engine lease from {current.holder or 'unnamed'} "
                        f"(host {current.hostname}, pid {current.pid}): {reason}"
                    ),
                )
            )
            session.delete(current)
            session.flush()
        session.add(
            EngineLease(
                id=1,
                token=token,
                holder=holder,
                pid=our_pid,
                hostname=host,
                started_at=moment,
                heartbeat_at=moment,
            )
        )
        session.commit()
    return Lease(
        engine=engine,
        token=token,
        holder=holder,
        pid=our_pid,
        hostname=host,
        started_at=moment,
        heartbeat_at=moment,
    )
