"""A desktop window attaching beside a running ``triage-sync run`` (a real subprocess) on a shared
PostgreSQL store: it starts without credentials, says who runs the engine, shows new items and
another desk's decision live; when the engine is killed, "Take over" runs the engine here and the
item approved meanwhile is pushed exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import qasync
from pg_harness import pg_schema_url
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox
from sim_harness import SimHarness
from team_harness import StderrLines, lease_pid, process_env, start_cli, stop_process, until, write_config
from ui_fakes import wait_until

from app.config import AppConfig, parse_config
from app.engine.desk import AttachedDesk
from app.engine.engine import SyncEngine
from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator
from app.store import Store
from app.ui.app import Controller

WAIT = 60.0


@pytest.fixture(autouse=True)
def _no_collection_in_worker_threads(collect_qt_garbage: None) -> None:
    """Autouse, so set up before (and torn down after) the event loop: see collect_qt_garbage."""


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[ServiceNowSimulator, AutotaskSimulator]]:
    with ServiceNowSimulator(seed=31) as sn, AutotaskSimulator(seed=31) as at:
        yield sn, at


@pytest.fixture
def team(
    simulators: tuple[ServiceNowSimulator, AutotaskSimulator], tmp_path: Path
) -> Iterator[tuple[SimHarness, str]]:
    sn, at = simulators
    sn.reset()
    sn.settings = ServiceNowSimSettings()
    at.reset()
    with pg_schema_url() as url:
        yield SimHarness(sn, at, tmp_path), url


def desk_config(h: SimHarness, url: str) -> AppConfig:
    return parse_config(h.config_data(store={"url": url}), "desk.toml")


def test_desk_window_attaches_beside_a_running_engine_and_takes_over(
    qapp: QApplication,
    loop: qasync.QEventLoop,
    team: tuple[SimHarness, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h, url = team
    monkeypatch.setattr(
        "app.ui.main_window.QSettings", lambda: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    )
    monkeypatch.setattr(
        "app.ui.main_window.QSystemTrayIcon.isSystemTrayAvailable", staticmethod(lambda: False)
    )
    quit_on_close = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)  # as create_application() does: the tray app keeps running
    for name in ("SERVICENOW_PASSWORD", "AUTOTASK_SECRET"):
        monkeypatch.delenv(name, raising=False)  # the desk starts with no credentials at all

    async def scenario() -> None:
        config_file = write_config(h, tmp_path / "engine.toml", url)
        engine = await start_cli(config_file, ["run"], process_env(h, tmp_path))
        engine_log = StderrLines(engine)
        store = Store.open(url)
        controller = Controller(qapp, None, demo=False)
        try:
            await until(lambda: lease_pid(store) == engine.pid, "the engine's lease", watch=[engine_log])
            assert await controller.start(desk_config(h, url))
            desk = controller.engine
            assert isinstance(desk, AttachedDesk)
            window = controller.window
            assert window is not None and controller.team is not None
            holder = controller.team.holder
            await wait_until(lambda: holder.level == "ok", timeout=WAIT)
            assert holder.text.text().startswith("Engine: triage-sync run on ")
            assert f"pid {engine.pid}, heartbeat" in holder.text.text()
            assert not controller.team.take_over_action.isEnabled()

            # New items appear live (the engine polls; the change feed tells the desk).
            first = h.incident(short_description="Badge reader offline")
            second = h.incident(short_description="Dock flickers")
            model = window.queue_tab.model
            await wait_until(
                lambda: (
                    model.row_for(first["sys_id"]) is not None and model.row_for(second["sys_id"]) is not None
                ),
                timeout=WAIT,
            )
            # Another desk's decision shows at once, with who made it.
            other = Store.open(url)
            try:
                await asyncio.to_thread(other.reject, [first["number"]], "ben", reason="duplicate")
                await asyncio.to_thread(other.approve, [second["number"]], "ben")
            finally:
                other.close()

            def decided() -> bool:
                row = model.row_for(first["sys_id"])
                return row is not None and row.state == "rejected" and row.decided_by == "ben"

            await wait_until(decided, timeout=WAIT)

            # The engine dies mid-work (SIGKILL): the holder line turns into an error, Take over opens.
            engine.send_signal(signal.SIGKILL)
            await engine.wait()
            await wait_until(lambda: holder.level == "stale", timeout=WAIT)
            assert "Take over" in holder.text.text()
            assert controller.team.take_over_action.isEnabled()
            monkeypatch.setenv("SERVICENOW_PASSWORD", h.sn.settings.password)
            monkeypatch.setenv("AUTOTASK_SECRET", h.at.settings.secret)
            controller.team.take_over_action.trigger()
            await wait_until(lambda: controller.team is not None and controller.team.confirm is not None)
            assert controller.team.confirm is not None
            controller.team.confirm.button(QMessageBox.StandardButton.Yes).click()
            await wait_until(lambda: isinstance(controller.engine, SyncEngine), timeout=WAIT)
            await until(lambda: len(h.tickets_for(second["sys_id"])) == 1, "the approved item pushed")
            assert h.tickets_for(first["sys_id"]) == []
        finally:
            await controller.shutdown()
            if engine.returncode is None:
                await stop_process(engine)
            await engine_log.task
            store.close()
        assert len(h.tickets_for(second["sys_id"])) == 1

    try:
        loop.run_until_complete(asyncio.wait_for(scenario(), 240))
    finally:
        qapp.setQuitOnLastWindowClosed(quit_on_close)
