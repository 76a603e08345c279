"""Team mode measurements (``benchmarks/run.py team``): an engine and attached desks on one store.

  approval -> create   a desk approves; time until the engine starts that push (the create request
                       follows at once, after the pre-create search) and until the ticket exists
  desk -> desk         a desk approves; time until another desk's event bus shows the change
  idle load            20 attached desks and the engine, idle: connections held and statements sent
                       to the database per second (LISTEN/NOTIFY: only heartbeat-driven lease reads)

Each runs on SQLite (a file) and on PostgreSQL (a throwaway schema on the server named by
TRIAGE_SYNC_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from app.engine.desk import AttachedDesk
from app.engine.events import EngineEvent, ItemQueued, ItemUpdated, PushStarted, PushSucceeded
from app.store import Store
from app.store.changes import SQLITE_POLL_SECONDS

if TYPE_CHECKING:
    from run import Rig

IT = {"category": "hardware", "active": "true"}
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def pg_schema() -> Iterator[str]:
    base = make_url(os.environ.get("TRIAGE_SYNC_TEST_DATABASE_URL", PG_DEFAULT)).set(
        drivername="postgresql+psycopg"
    )
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


async def _until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.002)


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max_ms": 1000 * ordered[-1],
    }


async def latency(rig: Rig, url: str, backend: str, approvals: int) -> dict[str, Any]:
    """Approval on desk A -> push started / ticket created by the engine, and -> seen on desk B."""
    incidents = [rig.sn.create_incident(**IT, short_description=f"Team bench {n}") for n in range(approvals)]
    engine = rig.engine(db=url)
    started: dict[str, float] = {}
    created: dict[str, float] = {}

    def on_engine(event: EngineEvent) -> None:
        if isinstance(event, PushStarted):
            started.setdefault(event.number, time.perf_counter())
        elif isinstance(event, PushSucceeded):
            created.setdefault(event.number, time.perf_counter())

    engine.bus.subscribe(on_engine)
    await engine.start()
    queued = {i["number"] for i in incidents}
    store = Store.open(url)
    await _until(lambda: {item.number for item in store.list_items()} >= queued, 60)
    store.close()
    desk_a = AttachedDesk(engine.config, Store.open(url), name="a")
    desk_b = AttachedDesk(engine.config, Store.open(url), name="b")
    await desk_a.start()
    await desk_b.start()
    seen: dict[str, float] = {}

    def on_b(event: EngineEvent) -> None:
        if isinstance(event, ItemQueued | ItemUpdated) and event.row.state != "pending":
            seen.setdefault(event.row.number, time.perf_counter())

    desk_b.bus.subscribe(on_b)
    to_push: list[float] = []
    to_ticket: list[float] = []
    to_desk: list[float] = []
    try:
        for incident in incidents:
            number = incident["number"]
            t0 = time.perf_counter()
            [result] = await desk_a.approve([number], by="a")
            assert result.ok, result.message
            await _until(lambda n=number: n in started and n in created and n in seen)  # type: ignore[misc]
            to_push.append(started[number] - t0)
            to_ticket.append(created[number] - t0)
            to_desk.append(seen[number] - t0)
    finally:
        await desk_a.close()
        await desk_b.close()
        await engine.stop()
    push, ticket, desk = _stats(to_push), _stats(to_ticket), _stats(to_desk)
    return {
        "backend": backend,
        "approvals": approvals,
        "approve_to_push_started_median_ms": push["median_ms"],
        "approve_to_push_started_max_ms": push["max_ms"],
        "approve_to_ticket_created_median_ms": ticket["median_ms"],
        "desk_to_desk_median_ms": desk["median_ms"],
        "desk_to_desk_p95_ms": desk["p95_ms"],
        "desk_to_desk_max_ms": desk["max_ms"],
    }


async def idle_load(rig: Rig, url: str, backend: str, desks: int, seconds: float) -> dict[str, Any]:
    """``desks`` attached desks beside an idle engine: connections and statements per second."""
    engine = rig.engine(db=url)
    await engine.start()
    opened = [AttachedDesk(engine.config, Store.open(url), name=f"desk-{n}") for n in range(desks)]
    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    for desk in opened:
        await desk.start()
        event.listen(desk.store.engine, "before_cursor_execute", count)
    engine_statements = [0]
    event.listen(
        engine.store.engine,
        "before_cursor_execute",
        lambda *_a: engine_statements.__setitem__(0, engine_statements[0] + 1),
    )
    try:
        await engine.poll_now()
        await asyncio.sleep(2.0)  # let the start-up and first-poll traffic settle before measuring
        statements[0] = engine_statements[0] = 0
        await asyncio.sleep(seconds)
        desk_queries = statements[0]
        engine_queries = engine_statements[0]
        pooled = sum(d.store.engine.pool.checkedin() + d.store.engine.pool.checkedout() for d in opened)
        listeners = sum(1 for d in opened if d.changes.connected)
    finally:
        for desk in opened:
            await desk.close()
        await engine.stop()
    return {
        "backend": backend,
        "desks": desks,
        "seconds": seconds,
        "desk_connections": pooled + listeners,
        "desk_queries_per_s": desk_queries / seconds,
        "per_desk_queries_per_min": 60 * desk_queries / seconds / desks,
        "engine_queries_per_s": engine_queries / seconds,
        "sqlite_change_checks_per_s": desks / SQLITE_POLL_SECONDS if backend == "sqlite" else 0,
    }


def measure(
    rig_factory: Callable[[], Rig], approvals: int, desks: int, seconds: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for backend in ("sqlite", "postgresql"):
        for work in ("latency", "idle"):
            with rig_factory() as rig:
                if backend == "sqlite":
                    url = rig.db
                    rows.append(_run(rig, url, backend, work, approvals, desks, seconds))
                else:
                    with pg_schema() as url:
                        rows.append(_run(rig, url, backend, work, approvals, desks, seconds))
    return rows


def _run(
    rig: Rig, url: str, backend: str, work: str, approvals: int, desks: int, seconds: float
) -> dict[str, Any]:
    if work == "latency":
        return asyncio.run(latency(rig, url, backend, approvals))
    return asyncio.run(idle_load(rig, url, backend, desks, seconds))
