"""Triage Sync benchmarks against the loopback simulators (not tests: nothing here asserts timings).

    .venv/bin/python benchmarks/run.py                      # everything, defaults below
    .venv/bin/python benchmarks/run.py economy throughput --latency 0 50 200 --repeat 3
    .venv/bin/python benchmarks/run.py --quick              # smaller sizes, one latency
    .venv/bin/python -m benchmarks.run filter deskstall coldstart --sizes 1000 10000 100000

Measurements:
  economy      requests per auto-pushed ticket, per applied return-trip change, per idle cycle with
               N linked tickets, per (hourly) reconciliation pass with them; ratio to the floor
               (2 per ticket, 1 per change, shared poll pages)
  once         requests per system of `run --once --auto-push` from cron (a new engine each run, the
               same store): the first run on a fresh store, then idle runs (picklists and the
               tenant's threshold reading come from the store; floor: one query per system)
  throughput   time to auto-push N triggered incidents end to end; ratio to the lower bound
               requests x latency / concurrency
  stall        longest event-loop stall while the engine polls and queues N incidents
  queueview    QueueModel with N rows: load, sort and filter times, and the loop stall
  footprint    start-up time to a shown main window; resident memory with N links loaded
  overview     the Overview tab's read (indexed store reads + aggregation) with N audit rows in 7 days
  team         team mode (benchmarks/team.py): approval on a desk -> the engine's create, a change
               on one desk -> visible on another, store load of 20 idle attached desks
  impact       the Rules window's impact report (a priority value map edited) over N queued
               incidents and N linked tickets: the pure computation (the window runs it in slices)
  filter       the queue's text filter at each of --sizes rows (benchmarks/desk.py)
  deskstall    longest GUI-thread stall (1 ms QTimer, real window + engine) while a poll queues
               --stall-incidents into a queue of each of --sizes rows
  coldstart    a new `triage-sync` process to the first paint of its window, store of --sizes rows

Results go to benchmarks/results/<timestamp>.json (gitignored); the tables for docs/performance.md
are printed as Markdown. Medians of --repeat runs are quoted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(1, str(REPO / "benchmarks"))  # team.py, overview_read.py: also under `python -m`
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.config import parse_config  # noqa: E402
from app.connectors.autotask import AutotaskClient  # noqa: E402
from app.connectors.budget import RequestBudget  # noqa: E402
from app.connectors.servicenow import ServiceNowClient  # noqa: E402
from app.engine.backoff import Backoff  # noqa: E402
from app.engine.engine import SyncEngine  # noqa: E402
from app.secrets import Secret  # noqa: E402
from app.simulators.autotask import AutotaskSimSettings, AutotaskSimulator  # noqa: E402
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator  # noqa: E402
from app.store import Store  # noqa: E402

IT: dict[str, Any] = {"category": "hardware", "active": "true"}
RESULTS = REPO / "benchmarks" / "results"


class Rig:
    """Both simulators (fresh per run) with ``latency`` seconds added to every request."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.sn = ServiceNowSimulator(seed=5, settings=ServiceNowSimSettings())
        self.at = AutotaskSimulator(
            seed=5, settings=AutotaskSimSettings(latency=latency, hourly_threshold=10**9)
        )
        self.tmp = tempfile.TemporaryDirectory(prefix="triage-bench-")
        self.engines: list[SyncEngine] = []

    def __enter__(self) -> Rig:
        self.sn.start()
        self.at.start()
        if self.latency:
            self.sn.faults.inject("latency", count=None, seconds=self.latency)
        return self

    def __exit__(self, *exc: object) -> None:
        self.sn.stop()
        self.at.stop()
        self.tmp.cleanup()

    @property
    def db(self) -> str:
        return f"sqlite:///{self.tmp.name}/bench.sqlite3"

    def engine(self, db: str | None = None, **outbound: Any) -> SyncEngine:
        engine = bench_engine(self.sn.base_url, self.at.rest_base, db or self.db, **outbound)
        self.engines.append(engine)
        return engine

    def requests(self) -> int:
        return self.sn.requests.count() + self.at.requests.count()


def bench_engine(servicenow_url: str, autotask_url: str, db: str, **outbound: Any) -> SyncEngine:
    """An engine against simulators at these URLs (in this process or another), store at ``db``."""
    config = parse_config(
        {
            "servicenow": {"url": servicenow_url, "username": "demo.integration", "page_size": 500},
            "autotask": {
                "url": autotask_url,
                "username": "demo@example.com",
                "integration_code": "DEMO",
                "hourly_request_limit": 10**9,
                "budget_share": 1.0,
            },
            "store": {"url": db},
            "outbound": {"company_id": 174, "default_queue": "Level I Support", **outbound},
        },
        "bench.toml",
    )
    sn = ServiceNowClient(
        base_url=config.servicenow.url, username="demo.integration", password=Secret("demo")
    )
    at = AutotaskClient(
        username="demo@example.com",
        integration_code="DEMO",
        secret=Secret("demo"),
        base_url=config.autotask.url,
        budget=RequestBudget(hourly_limit=10**9, share=1.0),
    )
    return SyncEngine(config, Store.open(db), sn, at, holder="bench", backoff=Backoff(0.05, 0.2))


async def until_idle(engine: SyncEngine, budget: int = 200) -> int:
    cycles = 0
    for cycles in range(1, budget + 1):  # noqa: B007
        report = await engine.run_once(auto_push=True)
        if report.pushed == 0 and report.applied == 0 and report.ok and report.queued == 0:
            break
    return cycles


# ---- economy ------------------------------------------------------------------------------------


async def economy(latency: float, tickets: int, linked: int) -> dict[str, Any]:
    """Requests per pushed ticket / applied change from clean start to idle, and one idle cycle."""
    with Rig(latency) as rig:
        engine = rig.engine(auto_push=True)
        for n in range(tickets):
            rig.sn.create_incident(short_description=f"Economy {n}", **IT)
        start = rig.requests()
        await until_idle(engine)
        push_requests = rig.requests() - start
        # Return trip: every ticket changes once.
        for ticket in rig.at.tickets():
            rig.at.technician_update(ticket["id"], status="In Progress")
        start = rig.requests()
        await until_idle(engine)
        return_requests = rig.requests() - start
        await engine.close()
        idle = await idle_cycle(latency, linked)
    floor_push = 2 * tickets + 2  # create + write-back each, plus the shared poll page(s)
    floor_return = tickets + 1  # one PATCH each, plus the shared query page
    return {
        "latency_ms": latency * 1000,
        "tickets": tickets,
        "requests_per_pushed_ticket": push_requests / tickets,
        "push_ratio_to_floor": push_requests / floor_push,
        "requests_per_return_change": return_requests / tickets,
        "return_ratio_to_floor": return_requests / floor_return,
        **idle,
    }


async def idle_cycle(latency: float, linked: int) -> dict[str, Any]:
    """Requests of one idle cycle with ``linked`` links (seeded straight into store and simulator)."""
    from sqlmodel import Session

    from app.store import Link, QueueItem, QueueState, WritebackState

    with Rig(latency) as rig:
        engine = rig.engine(auto_push=True)
        now = datetime.now(UTC)
        ids = rig.at.seed_tickets(linked, externalID="seeded")
        with Session(engine.store.engine) as session:  # bulk: 10k store calls would dominate the run
            for n, _tid in enumerate(ids):
                sys_id = f"{n:032x}"
                session.add(
                    QueueItem(
                        sys_id=sys_id,
                        number=f"INC{n:07d}",
                        snapshot="{}",
                        sn_updated_on=now,
                        state=QueueState.PUSHED,
                        queued_at=now,
                        updated_at=now,
                    )
                )
            session.flush()
            for n, tid in enumerate(ids):
                sys_id = f"{n:032x}"
                session.add(
                    Link(
                        sys_id=sys_id,
                        incident_number=f"INC{n:07d}",
                        ticket_id=tid,
                        ticket_number=f"T{tid}",
                        linked_at=now,
                        writeback_state=WritebackState.DONE,
                        return_synced={"status": "New", "priority": "Medium"},
                    )
                )
            session.commit()
        # Idle means nothing changed inside the poll overlap (minutes: stamps are not commit times):
        # move both simulators' clocks past it, as time passing after the seeded burst would.
        past_overlap = engine.config.polling.overlap_minutes * 60 + 60
        rig.sn.clock.advance(past_overlap)
        rig.at.clock.advance(past_overlap)
        await engine.run_once()  # first cycle reads the backlog, sets both watermarks, schedules
        rig.sn.clock.advance(past_overlap)
        rig.at.clock.advance(past_overlap)
        start = rig.requests()
        began = time.perf_counter()
        await engine.run_once()
        seconds = time.perf_counter() - began
        idle = rig.requests() - start
        # The hourly reconciliation pass: the same idle cycle once it is due (engine clock + 1 h).
        later = datetime.now(UTC) + timedelta(minutes=engine.config.polling.reconcile_minutes + 1)
        engine.ctx.clock = lambda: later
        start = rig.requests()
        await engine.run_once()
        reconcile = rig.requests() - start - idle
        await engine.close()
    return {
        "linked": linked,
        "requests_per_idle_cycle": idle,
        "idle_cycle_seconds": seconds,
        "requests_per_reconciliation": reconcile,
    }


# ---- run --once from cron ---------------------------------------------------------------------


async def once(latency: float, runs: int = 3) -> dict[str, Any]:
    """``run --once --auto-push`` as cron starts it: a new engine (process) per run, one store."""
    measured: list[tuple[int, int, float]] = []
    with Rig(latency) as rig:
        for _ in range(runs):
            engine = rig.engine(auto_push=True)
            sn, at = rig.sn.requests.count(), rig.at.requests.count()
            began = time.perf_counter()
            report = await engine.run_once(auto_push=True)
            seconds = time.perf_counter() - began
            await engine.close()
            if not report.ok:
                raise RuntimeError(f"run --once failed: {report.failures}")
            measured.append((rig.sn.requests.count() - sn, rig.at.requests.count() - at, seconds))
    first, idle = measured[0], measured[1:]
    return {
        "latency_ms": latency * 1000,
        "first_run_servicenow": first[0],
        "first_run_autotask": first[1],
        "idle_run_servicenow": max(run[0] for run in idle),
        "idle_run_autotask": max(run[1] for run in idle),
        "idle_run_seconds": statistics.median(run[2] for run in idle),
    }


# ---- throughput ---------------------------------------------------------------------------------


async def throughput(latency: float, incidents: int) -> dict[str, Any]:
    with Rig(latency) as rig:
        engine = rig.engine(auto_push=True, push_concurrency=3)
        for n in range(incidents):
            rig.sn.create_incident(short_description=f"Throughput {n}", **IT)
        start = rig.requests()
        began = time.perf_counter()
        await until_idle(engine)
        seconds = time.perf_counter() - began
        requests = rig.requests() - start
        done = sum(1 for t in rig.at.tickets() if t["externalID"])
        await engine.close()
    bound = requests * latency / 3 if latency else None
    return {
        "latency_ms": latency * 1000,
        "incidents": incidents,
        "pushed": done,
        "seconds": seconds,
        "tickets_per_second": done / seconds,
        "requests": requests,
        "lower_bound_seconds": bound,
        "ratio_to_bound": (seconds / bound) if bound else None,
    }


# ---- responsiveness -----------------------------------------------------------------------------


async def with_stall_probe(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Run ``work`` while a 1 ms ticker measures the longest gap between its wake-ups."""
    worst = 0.0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            worst = max(worst, now - last - 0.001)
            last = now

    probe = asyncio.create_task(ticker())
    try:
        result = await work()
    finally:
        stop.set()
        await probe
    return worst, result


async def stall(incidents: int, backend: str = "sqlite") -> dict[str, Any]:
    """One cycle polls and queues ``incidents`` (500 a page): how long, the longest event-loop stall,
    and how many transactions the store committed meanwhile (``backend``: sqlite or postgresql)."""
    from contextlib import nullcontext

    from sqlalchemy import event
    from team import pg_schema

    with Rig(0.0) as rig, pg_schema() if backend == "postgresql" else nullcontext(rig.db) as db:
        engine = rig.engine(db, auto_push=False)
        for n in range(incidents):
            rig.sn.create_incident(short_description=f"Stall {n}", **IT)
        commits = 0

        def counted(_connection: Any) -> None:
            nonlocal commits
            commits += 1

        event.listen(engine.store.engine, "commit", counted)
        began = time.perf_counter()
        worst, report = await with_stall_probe(lambda: engine.run_once())
        seconds = time.perf_counter() - began
        await engine.close()
    return {
        "store": backend,
        "incidents": incidents,
        "queued": report.queued,
        "poll_seconds": seconds,
        "max_stall_ms": worst * 1000,
        "commits": commits,
    }


def queueview(rows: int) -> dict[str, Any]:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.ui.queue_model import COL_DESCRIPTION, COL_PRIORITY, QueueModel
    from benchmarks.desk import sample_rows

    app = QApplication.instance() or QApplication([])
    data = sample_rows(rows)
    model = QueueModel()
    timings: dict[str, float] = {}

    began = time.perf_counter()
    model.set_rows(data)
    app.processEvents()
    timings["load_ms"] = (time.perf_counter() - began) * 1000
    actions: list[tuple[str, Callable[[], None]]] = [
        ("sort_priority_ms", lambda: model.sort(COL_PRIORITY, Qt.SortOrder.DescendingOrder)),
        ("sort_description_ms", lambda: model.sort(COL_DESCRIPTION)),
        ("filter_text_ms", lambda: model.set_text("host 4242")),
        ("filter_clear_ms", lambda: model.set_text("")),
        ("filter_state_ms", lambda: model.set_states({"failed"})),
    ]
    for name, action in actions:
        began = time.perf_counter()
        action()
        app.processEvents()
        timings[name] = (time.perf_counter() - began) * 1000
    return {"rows": rows, **timings, "max_stall_ms": max(timings.values())}


# ---- footprint ----------------------------------------------------------------------------------

STARTUP_CHILD = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtWidgets import QApplication
app = QApplication([])
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "ui"))
from ui_fakes import FakeEngine
from app.ui.main_window import MainWindow
window = MainWindow(FakeEngine(), use_tray=False)
window.show()
app.processEvents()
print("shown", flush=True)
"""

RSS_CHILD = r"""
import os, resource, sys
sys.path.insert(0, sys.argv[1])
from app.engine.convert import link_row
from app.store import Store
def rss():
    # VmHWM (peak of this image) from /proc: ru_maxrss survives exec and would report the parent's.
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
store = Store.open(sys.argv[2])
assert store.count_links() == int(sys.argv[3])
view = [link_row(link) for link in store.list_links(limit=5000)]  # what the links view loads
print(rss(), flush=True)
everything = [link_row(link) for link in store.list_links()]  # `links list` without --limit
print(rss(), flush=True)
"""


def footprint(links: int) -> dict[str, Any]:
    began = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", STARTUP_CHILD, str(REPO)], capture_output=True, text=True, timeout=120
    )
    startup = time.perf_counter() - began
    shown = out.stdout.strip().endswith("shown")
    from sqlmodel import Session

    from app.store import Link, QueueItem, QueueState

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/rss.sqlite3"
        store = Store.open(url)
        now = datetime.now(UTC)
        with Session(store.engine) as session:
            for n in range(links):
                sys_id = f"{n:032x}"
                session.add(
                    QueueItem(
                        sys_id=sys_id,
                        number=f"INC{n:07d}",
                        snapshot="{}",
                        sn_updated_on=now,
                        state=QueueState.PUSHED,
                        queued_at=now,
                        updated_at=now,
                    )
                )
            session.flush()
            for n in range(links):
                sys_id = f"{n:032x}"
                session.add(
                    Link(
                        sys_id=sys_id,
                        incident_number=f"INC{n:07d}",
                        ticket_id=n + 1,
                        ticket_number=f"T2024.{n:06d}",
                        linked_at=now,
                        return_synced={"status": "New", "priority": "Medium"},
                    )
                )
            session.commit()
        store.close()
        rss = subprocess.run(
            [sys.executable, "-c", RSS_CHILD, str(REPO), url, str(links)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    lines = rss.stdout.strip().splitlines() if rss.returncode == 0 else []
    view_kib, all_kib = (int(lines[0]), int(lines[1])) if len(lines) >= 2 else (None, None)
    return {
        "startup_to_shown_window_s": startup if shown else None,
        "links": links,
        "rss_mib_store_open_links_view_5000": view_kib / 1024 if view_kib else None,
        "rss_mib_all_links_loaded": all_kib / 1024 if all_kib else None,
        "errors": (out.stderr[-300:] if not shown else "") + (rss.stderr[-300:] if rss.returncode else ""),
    }


def desk_benchmarks(args: argparse.Namespace, results: dict[str, Any]) -> list[str]:
    """The desktop app's figures per queue size (benchmarks/desk.py); Markdown tables."""
    from benchmarks import desk

    md: list[str] = []
    if "filter" in args.which:
        rows = [median_of([desk.filter_rows(size) for _ in range(args.repeat)]) for size in args.sizes]
        results["filter"] = rows
        keys = [
            "rows",
            "filter_word_ms",
            "filter_word_cpu_ms",
            "filter_every_row_ms",
            "filter_every_row_cpu_ms",
            "filter_clear_ms",
            "filter_state_ms",
            "filter_state_cpu_ms",
            "runs",
        ]
        md += ["### Queue filter", table(rows, keys)]
    if "deskstall" in args.which:
        rows = [
            median_of([desk.desk_stall(size, args.stall_incidents) for _ in range(args.repeat)])
            for size in args.sizes
        ]
        results["deskstall"] = rows
        keys = [
            "rows",
            "incidents",
            "queued",
            "until_shown_seconds",
            "max_stall_ms",
            "p99_stall_ms",
            "stalls_over_16ms",
            "max_gui_cpu_ms",
            "idle_max_stall_ms",
            "idle_p99_stall_ms",
            "idle_max_gui_cpu_ms",
            "runs",
        ]
        md += ["### GUI-thread stall while polling", table(rows, keys)]
    if "coldstart" in args.which:
        rows = [median_of([desk.cold_start(size) for _ in range(args.repeat)]) for size in args.sizes]
        results["coldstart"] = rows
        md += ["### Cold start", table(rows, ["rows", "first_paint_s", "queue_filled_s", "runs", "errors"])]
    return md


# ---- driver -------------------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key in runs[0]:
        values = [r[key] for r in runs]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            result[key] = statistics.median(values)
        else:
            result[key] = values[0]
    result["runs"] = len(runs)
    return result


def table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
        return "—" if value is None else str(value)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(row.get(k)) for k in keys) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "which",
        nargs="*",
        metavar="BENCHMARK",
        help="economy, once, throughput, stall, queueview, footprint, overview, team, impact, filter, "
        "deskstall, coldstart (default: all)",
    )
    parser.add_argument("--latency", nargs="+", type=float, default=[0, 50, 200], help="ms added per request")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; medians are reported")
    parser.add_argument("--tickets", type=int, default=100, help="economy: incidents pushed and changed")
    parser.add_argument("--linked", type=int, default=10_000, help="economy: links for the idle cycle")
    parser.add_argument("--incidents", type=int, default=1000, help="throughput: incidents to auto-push")
    parser.add_argument(
        "--incidents-slow",
        type=int,
        default=200,
        help="throughput at latency >= 200 ms (1,000 would take minutes per run)",
    )
    parser.add_argument("--stall-incidents", type=int, default=5000)
    parser.add_argument(
        "--stall-store",
        nargs="+",
        choices=["sqlite", "postgresql"],
        default=["sqlite"],
        help="stall: the store(s) the engine writes to (postgresql: a throwaway schema, see team.py)",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="queueview rows and footprint links")
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=int,
        default=[1000, 10_000, 100_000],
        help="filter/deskstall/coldstart: queue rows",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, latency 0 only, one run")
    parser.add_argument("--approvals", type=int, default=30, help="team: approvals timed one by one")
    parser.add_argument("--desks", type=int, default=20, help="team: idle attached desks")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="team: idle window measured")
    args = parser.parse_args()
    known = [
        "economy",
        "once",
        "throughput",
        "stall",
        "queueview",
        "footprint",
        "overview",
        "team",
        "impact",
        "filter",
        "deskstall",
        "coldstart",
    ]
    args.which = args.which or known
    unknown = set(args.which) - set(known)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; choose from {', '.join(known)}")
    if args.quick:
        args.latency, args.repeat, args.tickets, args.linked = [0], 1, 20, 500
        args.incidents, args.stall_incidents, args.rows = 100, 500, 5000
        args.approvals, args.idle_seconds = 10, 15.0
        args.sizes = [1000]
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "command": " ".join(sys.argv),
        "started": datetime.now(UTC).isoformat(),
    }
    md: list[str] = []
    if "economy" in args.which:
        rows = [
            median_of(
                [asyncio.run(economy(ms / 1000, args.tickets, args.linked)) for _ in range(args.repeat)]
            )
            for ms in args.latency
        ]
        results["economy"] = rows
        md += [
            "### API economy",
            table(
                rows,
                [
                    "latency_ms",
                    "tickets",
                    "requests_per_pushed_ticket",
                    "push_ratio_to_floor",
                    "requests_per_return_change",
                    "return_ratio_to_floor",
                    "linked",
                    "requests_per_idle_cycle",
                    "idle_cycle_seconds",
                    "requests_per_reconciliation",
                    "runs",
                ],
            ),
        ]
    if "once" in args.which:
        rows = [median_of([asyncio.run(once(ms / 1000)) for _ in range(args.repeat)]) for ms in args.latency]
        results["once"] = rows
        md += [
            "### run --once from cron",
            table(
                rows,
                [
                    "latency_ms",
                    "first_run_servicenow",
                    "first_run_autotask",
                    "idle_run_servicenow",
                    "idle_run_autotask",
                    "idle_run_seconds",
                    "runs",
                ],
            ),
        ]
    if "throughput" in args.which:
        rows = []
        for ms in args.latency:
            count = args.incidents if ms < 200 else args.incidents_slow
            rows.append(median_of([asyncio.run(throughput(ms / 1000, count)) for _ in range(args.repeat)]))
        results["throughput"] = rows
        md += [
            "### Throughput",
            table(
                rows,
                [
                    "latency_ms",
                    "incidents",
                    "pushed",
                    "seconds",
                    "tickets_per_second",
                    "requests",
                    "lower_bound_seconds",
                    "ratio_to_bound",
                    "runs",
                ],
            ),
        ]
    if "stall" in args.which:
        rows = [
            median_of([asyncio.run(stall(args.stall_incidents, backend)) for _ in range(args.repeat)])
            for backend in args.stall_store
        ]
        results["stall"] = rows
        md += [
            "### Event-loop stall while polling and queueing",
            table(rows, ["store", "incidents", "queued", "poll_seconds", "max_stall_ms", "commits", "runs"]),
        ]
    if "queueview" in args.which:
        rows = [median_of([queueview(args.rows) for _ in range(args.repeat)])]
        results["queueview"] = rows
        md += [
            "### Queue view",
            table(
                rows,
                [
                    "rows",
                    "load_ms",
                    "sort_priority_ms",
                    "sort_description_ms",
                    "filter_text_ms",
                    "filter_clear_ms",
                    "filter_state_ms",
                    "max_stall_ms",
                    "runs",
                ],
            ),
        ]
    if "footprint" in args.which:
        rows = [median_of([footprint(args.rows) for _ in range(args.repeat)])]
        results["footprint"] = rows
        md += [
            "### Footprint",
            table(
                rows,
                [
                    "startup_to_shown_window_s",
                    "links",
                    "rss_mib_store_open_links_view_5000",
                    "rss_mib_all_links_loaded",
                    "runs",
                ],
            ),
        ]
    if "overview" in args.which:
        from overview_read import overview_read  # benchmarks/ is on sys.path (the script's folder)

        rows = [median_of([overview_read(args.rows) for _ in range(args.repeat)])]
        results["overview"] = rows
        keys = ["audit_rows", "rows_24h", "read_24h_ms", "aggregate_24h_ms", "rows_7d", "read_7d_ms"]
        md += ["### Overview tab read", table(rows, [*keys, "aggregate_7d_ms", "runs"])]
    if "team" in args.which:
        from team import measure

        team_rows = measure(lambda: Rig(0.0), args.approvals, args.desks, args.idle_seconds)
        results["team"] = team_rows
        md += [
            "### Team mode",
            table(
                [r for r in team_rows if "approvals" in r],
                [
                    "backend",
                    "approvals",
                    "approve_to_push_started_median_ms",
                    "approve_to_push_started_max_ms",
                    "approve_to_ticket_created_median_ms",
                    "desk_to_desk_median_ms",
                    "desk_to_desk_p95_ms",
                    "desk_to_desk_max_ms",
                ],
            ),
            table(
                [r for r in team_rows if "desks" in r],
                [
                    "backend",
                    "desks",
                    "seconds",
                    "desk_connections",
                    "desk_queries_per_s",
                    "per_desk_queries_per_min",
                    "engine_queries_per_s",
                    "sqlite_change_checks_per_s",
                ],
            ),
        ]
    if "impact" in args.which:
        from rule_impact import impact  # benchmarks/ is on sys.path (the script's folder)

        sizes = [500] if args.quick else [1_000, 10_000]
        rows = [median_of([impact(size) for _ in range(args.repeat)]) for size in sizes]
        results["impact"] = rows
        md += ["### Rule-change impact", table(rows, ["queued_and_linked", "altered", "seconds", "runs"])]
    md += desk_benchmarks(args, results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    print("\n\n".join(md))
    print(f"\nresults: {out}")


if __name__ == "__main__":
    main()
