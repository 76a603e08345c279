"""Single-engine guard: refusal, takeover of dead or silent holders, heartbeat, release."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from store_helpers import T0, IncidentFactory

from app.store import EngineAlreadyRunning, LeaseLost, QueueState, Store, pid_alive
from app.store import lease as lease_module


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_second_acquire_refused(store: Store) -> None:
    lease = store.acquire_engine_lease("Triage Sync GUI")
    with pytest.raises(EngineAlreadyRunning) as refused:
        store.acquire_engine_lease("headless run")
    message = str(refused.value)
    assert "Triage Sync GUI" in message and socket.gethostname() in message
    assert f"pid {os.getpid()}" in message and "Stop it first or use the running app" in message
    lease.release()
    store.acquire_engine_lease("headless run").release()


def test_short_commands_work_beside_engine(store: Store, make_incident: IncidentFactory) -> None:
    with store.acquire_engine_lease("engine"):
        other = Store.open(store.engine.url.render_as_string(hide_password=False))
        try:
            other.upsert_from_incident(make_incident(1), now=T0)
            assert other.approve(["INC0000001"], "cli", now=T0)[0].ok
            assert other.counts_by_state()[QueueState.APPROVED] == 1
            info = other.lease_info()
            assert info is not None and info.holder == "engine"
        finally:
            other.close()
    assert store.lease_info() is None


def test_dead_pid_on_this_host_taken_over_at_once(store: Store) -> None:
    dead = _dead_pid()
    assert not pid_alive(dead)
    lease_module.acquire(store.engine, "killed engine", pid=dead)
    lease = store.acquire_engine_lease("new engine")
    assert lease.pid == os.getpid()
    event = store.list_audit(direction="system", limit=1)[0]
    assert event.kind == "recovery" and "killed engine" in event.summary and "gone" in event.summary


def test_dead_pid_on_other_host_is_not_trusted(store: Store) -> None:
    lease_module.acquire(store.engine, "remote engine", pid=_dead_pid(), hostname="other-host")
    with pytest.raises(EngineAlreadyRunning, match="other-host"):
        store.acquire_engine_lease("new engine")


def test_silent_holder_taken_over_after_timeout(store: Store) -> None:
    lease_module.acquire(store.engine, "remote engine", hostname="other-host", now=T0)
    with pytest.raises(EngineAlreadyRunning):
        store.acquire_engine_lease("mine", now=T0 + timedelta(seconds=59))
    mine = store.acquire_engine_lease("mine", now=T0 + timedelta(seconds=61))
    assert mine.started_at == T0 + timedelta(seconds=61)


def test_heartbeat_keeps_lease_alive(store: Store) -> None:
    first = lease_module.acquire(store.engine, "remote engine", hostname="other-host", now=T0)
    first.refresh(now=T0 + timedelta(seconds=50))
    with pytest.raises(EngineAlreadyRunning):
        store.acquire_engine_lease("mine", now=T0 + timedelta(seconds=100))
    info = store.lease_info()
    assert info is not None and info.heartbeat_at == T0 + timedelta(seconds=50)


def test_taken_over_lease_refresh_raises_and_release_is_harmless(store: Store) -> None:
    old = lease_module.acquire(store.engine, "old", hostname="other-host", now=T0)
    new = store.acquire_engine_lease("new", now=T0 + timedelta(minutes=5))
    with pytest.raises(LeaseLost):
        old.refresh(now=T0 + timedelta(minutes=6))
    old.release()
    info = store.lease_info()
    assert info is not None and info.holder == "new"
    new.release()
    new.release()  # idempotent
    assert store.lease_info() is None


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(0)
    assert not pid_alive(_dead_pid())
