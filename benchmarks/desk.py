"""The desktop app's responsiveness at 1,000 / 10,000 / 100,000 queue rows (issue 14, "Never sluggish").

Not tests: nothing here asserts a timing. Run through the driver, e.g.

    .venv/bin/python -m benchmarks.run filter deskstall coldstart --sizes 1000 10000 100000

  filter     the queue's text filter (what the search box does 150 ms after the last keystroke):
             a selective word, a word every row matches, clearing it, the state filter
  deskstall  the longest gap of a 1 ms QTimer on the GUI thread (qasync loop, the real MainWindow,
             the real engine and store) while one cycle polls and queues 5,000 new incidents into a
             queue that already holds N rows, until the queue view shows them all
  coldstart  a new process (`triage-sync` with a config file, offscreen) from its start to the first
             paint of the main window, and to the queue showing the store's N rows
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.engine.views import QueueRow

REPO = Path(__file__).resolve().parents[1]
IT: dict[str, Any] = {"category": "hardware", "active": "true"}


def sample_rows(count: int) -> list[QueueRow]:
    from app.engine.views import QueueRow

    now = datetime.now(UTC)
    return [
        QueueRow(
            id=n,
            sys_id=f"{n:032x}",
            number=f"INC{n:07d}",
            short_description=f"Disk {n % 977} failing on host {n}",
            category=("hardware", "software", "network")[n % 3],
            priority=1 + n % 5,
            caller=f"User {n % 311}",
            state="pending" if n % 7 else "failed",
            attempts=n % 3,
            last_error=None,
            next_retry_at=None,
            queued_at=now - timedelta(seconds=n),
            updated_at=now,
            sn_updated_on=now,
        )
        for n in range(count)
    ]


def seed_queue(url: str, count: int) -> None:
    """``count`` pending queue items written straight into the store (one bulk insert)."""
    from sqlalchemy import insert

    from app.store import QueueItem, QueueState, Store

    store = Store.open(url)
    now = datetime.now(UTC)
    rows = [
        {
            "sys_id": f"seed{n:028x}",
            "number": f"INC9{n:06d}",
            "short_description": f"Disk {n % 977} failing on host {n}",
            "category": "hardware",
            "priority": 1 + n % 5,
            "caller": f"User {n % 311}",
            "snapshot": "{}",
            "sn_updated_on": now,
            "sn_mod_count": 0,
            "state": QueueState.PENDING,
            "attempts": 0,
            "queued_at": now - timedelta(seconds=n),
            "updated_at": now,
        }
        for n in range(count)
    ]
    stamp = now.isoformat()
    for row in rows:  # a snapshot the preview can read, as an ingested incident has
        row["snapshot"] = json.dumps(
            {
                "sys_id": row["sys_id"],
                "number": row["number"],
                "short_description": row["short_description"],
                "category": "hardware",
                "sys_updated_on": stamp,
            }
        )
    with store.engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(QueueItem), rows[start : start + 5000])
    store.close()


# ---- filter ---------------------------------------------------------------------------------------


def filter_rows(rows: int) -> dict[str, Any]:
    from PySide6.QtWidgets import QApplication

    from app.ui.queue_model import QueueModel

    app = QApplication.instance() or QApplication([])
    model = QueueModel()
    model.set_rows(sample_rows(rows))
    app.processEvents()
    timings: dict[str, float] = {}
    actions: list[tuple[str, Callable[[], None]]] = [
        ("filter_word_ms", lambda: model.set_text("host 4242")),
        ("filter_clear_ms", lambda: model.set_text("")),
        ("filter_every_row_ms", lambda: model.set_text("disk")),
        ("filter_clear_again_ms", lambda: model.set_text("")),
        ("filter_state_ms", lambda: model.set_states({"failed"})),
    ]
    for name, action in actions:
        began, cpu = time.perf_counter(), time.thread_time()
        action()
        app.processEvents()
        timings[name] = (time.perf_counter() - began) * 1000
        # CPU time of this (the GUI) thread: what the filter costs, whatever else the machine runs.
        timings[name.replace("_ms", "_cpu_ms")] = (time.thread_time() - cpu) * 1000
    return {"rows": rows, **timings}


# ---- stall on the GUI thread while polling ----------------------------------------------------------


class StallProbe:
    """A 1 ms QTimer on the GUI thread. Between two ticks it records the wall-clock gap beyond the
    interval and the CPU time the GUI thread itself spent (``time.thread_time``): on a loaded
    2-core machine the wall gap includes time the OS gave other processes; the CPU figure is the
    work this thread did without letting the timer in."""

    def __init__(self) -> None:
        from PySide6.QtCore import Qt, QTimer

        self.gaps: list[float] = []
        self.worst_cpu = 0.0
        self._last = 0.0
        self._last_cpu = 0.0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(1)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._last_cpu = time.thread_time()
        self._timer.start()

    def stop(self) -> dict[str, float]:
        self._timer.stop()
        self._tick()
        gaps = sorted(self.gaps)
        return {
            "max_stall_ms": gaps[-1] * 1000,
            "p99_stall_ms": gaps[int(len(gaps) * 0.99)] * 1000,
            "stalls_over_16ms": sum(1 for gap in gaps if gap > 0.016),
            "max_gui_cpu_ms": self.worst_cpu * 1000,
        }

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps.append(max(0.0, now - self._last - 0.001))
        self.worst_cpu = max(self.worst_cpu, cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu


def desk_stall(rows: int, incidents: int) -> dict[str, Any]:
    """In a fresh process (one QApplication, one window, one engine), see :func:`_desk_stall`."""
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.desk", "deskstall", str(rows), str(incidents)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    lines = [line for line in child.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"rows": rows, "incidents": incidents, "errors": child.stderr[-600:]}
    return dict(json.loads(lines[-1]))


class RemoteSimulators:
    """Both simulators in a child process, as ServiceNow and Autotask are in production: their
    threads must not compete for this process's GIL while the GUI thread is being measured."""

    def __init__(self, incidents: int) -> None:
        self.child = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.desk", "serve", str(incidents)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert self.child.stdout is not None
        urls = json.loads(self.child.stdout.readline())
        self.servicenow_url: str = urls["servicenow"]
        self.autotask_url: str = urls["autotask"]

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()  # the child stops when its stdin ends
        self.child.wait(timeout=30)


def _serve(incidents: int) -> None:
    from app.simulators.autotask import AutotaskSimSettings, AutotaskSimulator
    from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator

    servicenow = ServiceNowSimulator(seed=5, settings=ServiceNowSimSettings())
    autotask = AutotaskSimulator(seed=5, settings=AutotaskSimSettings(hourly_threshold=10**9))
    servicenow.start()
    autotask.start()
    for n in range(incidents):
        servicenow.create_incident(short_description=f"Stall {n}", **IT)
    urls = {"servicenow": servicenow.base_url, "autotask": autotask.rest_base}
    print(json.dumps(urls), flush=True)
    sys.stdin.read()
    servicenow.stop()
    autotask.stop()


def _desk_stall(rows: int, incidents: int) -> dict[str, Any]:
    import qasync

    from app.ui.app import create_application
    from app.ui.main_window import MainWindow
    from benchmarks.run import bench_engine

    try:
        from app.ui.app import Controller

        initial_load = Controller.initial_load  # the app's own first load (and what follows it)
    except AttributeError:  # an older checkout measured for the "before" figures

        async def initial_load(window: MainWindow) -> None:
            await window.load()

    app = create_application()  # as the desktop app sets it up (the interpreter's switch interval)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    simulators = RemoteSimulators(incidents)
    with tempfile.TemporaryDirectory(prefix="triage-desk-") as tmp:
        db = f"sqlite:///{tmp}/bench.sqlite3"
        seed_queue(db, rows)
        engine = bench_engine(simulators.servicenow_url, simulators.autotask_url, db, auto_push=False)
        window = MainWindow(engine, use_tray=False)
        window.resize(1280, 800)
        window.show()
        result: dict[str, Any] = {}

        async def scenario() -> None:
            tab = window.queue_tab
            previewed = asyncio.Event()
            tab.preview.previewShown.connect(lambda _number: previewed.set())
            await initial_load(window)
            # Idle means settled: the first incident's preview (the picklists read, the pane's
            # layout) is part of opening the window, not of the floor measured next.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(previewed.wait(), timeout=10)
            await asyncio.sleep(0.5)
            shown = len(tab.model)
            # The floor: the same probe over the idle window for 5 s (other processes' share of
            # the machine shows here, not this app's work).
            idle = StallProbe()
            idle.start()
            await asyncio.sleep(5)
            floor = {f"idle_{name}": value for name, value in idle.stop().items()}
            probe = StallProbe()
            probe.start()
            began = time.perf_counter()
            report = await engine.run_once()
            polled = time.perf_counter() - began
            deadline = time.perf_counter() + 120
            while len(tab.model) < shown + report.queued and time.perf_counter() < deadline:
                await asyncio.sleep(0.01)
            result.update(
                rows=rows,
                incidents=incidents,
                queued=report.queued,
                shown=len(tab.model),
                poll_seconds=polled,
                until_shown_seconds=time.perf_counter() - began,
                **probe.stop(),
                **floor,
            )

        try:
            loop.run_until_complete(scenario())
        finally:
            window.detach()
            loop.run_until_complete(engine.close())
            simulators.close()
    return result


# ---- cold start -----------------------------------------------------------------------------------

COLDSTART_CHILD = r"""
import os, sys, time
began = float(sys.argv[2])
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

class FirstPaint(QObject):
    def __init__(self):
        super().__init__()
        self.painted = None
    def eventFilter(self, watched, event):
        if self.painted is None and event.type() == QEvent.Type.Paint and isinstance(watched, QMainWindow):
            self.painted = time.time()
            print(f"painted {self.painted - began:.4f}", flush=True)
            QTimer.singleShot(0, self.watch_queue)
        return False
    def watch_queue(self):
        window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow))
        if len(window.queue_tab.model) >= int(sys.argv[3]):
            print(f"filled {time.time() - began:.4f}", flush=True)
            os._exit(0)
        QTimer.singleShot(5, self.watch_queue)

import app.ui.app as gui
application = gui.create_application()
probe = FirstPaint()
application.installEventFilter(probe)
gui.run_gui(None, demo=False)
"""


def cold_start(rows: int) -> dict[str, Any]:
    from app.simulators.demo import config_snippet, demo_config_data
    from benchmarks.run import Rig

    with Rig(0.0) as rig:
        seed_queue(rig.db, rows)
        home = Path(rig.tmp.name)
        config = home / "config.toml"
        config.write_text(config_snippet(demo_config_data(rig.sn.base_url, rig.at.rest_base, rig.db)))
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / "xdg"),
            "TRIAGE_SYNC_CONFIG": str(config),
            "SERVICENOW_PASSWORD": "demo",
            "AUTOTASK_SECRET": "demo",
        }
        began = time.time()
        child = subprocess.run(
            [sys.executable, "-c", COLDSTART_CHILD, str(REPO), repr(began), str(rows)],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
    marks = dict(line.split() for line in child.stdout.splitlines() if line.startswith(("painted", "filled")))
    return {
        "rows": rows,
        "first_paint_s": float(marks["painted"]) if "painted" in marks else None,
        "queue_filled_s": float(marks["filled"]) if "filled" in marks else None,
        "errors": child.stderr[-400:] if "filled" not in marks else "",
    }


def with_temp_home(run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """QSettings of the benchmark's windows go to a throw-away folder, not the user's."""
    from PySide6.QtCore import QSettings

    with tempfile.TemporaryDirectory(prefix="triage-desk-") as tmp:
        QSettings.setPath(QSettings.Format.NativeFormat, QSettings.Scope.UserScope, tmp)
        return run()


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        _serve(int(sys.argv[2]))
    elif sys.argv[1:2] == ["deskstall"]:
        measured = with_temp_home(lambda: _desk_stall(int(sys.argv[2]), int(sys.argv[3])))
        print(json.dumps(measured), flush=True)
        os._exit(0)  # skip interpreter teardown of Qt objects: only the figures matter here
