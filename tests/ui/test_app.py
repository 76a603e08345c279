"""run_gui's controller: demo environment -> build_engine -> start -> window; quit stops everything."""

from __future__ import annotations

import asyncio
import gc
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from ui_fakes import FakeEngine, wait_until

from app.config import AppConfig, parse_config
from app.ui.app import Controller


def test_demo_start_and_clean_quit(
    qapp: QApplication, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engines: list[FakeEngine] = []
    demo_events: list[str] = []
    shown_before_build: list[bool] = []

    class DemoEnvironment:
        def start(self) -> AppConfig:
            demo_events.append("start")
            return parse_config({}, "demo")

        def stop(self) -> None:
            demo_events.append("stop")

        @property
        def drills(self) -> Any:
            return FakeDrills()

    class FakeDrills:
        systems = {"servicenow": "ServiceNow", "autotask": "Autotask"}
        drills = {"outage": "Outage", "normal": "Back to normal"}

        def apply(self, system: str, drill: str) -> str:
            demo_events.append(f"{system}={drill}")
            return f"{system} {drill}"

        def running(self) -> dict[str, str]:
            return {}

    def build_engine(config: AppConfig, secrets: Any = None, holder: str = "") -> FakeEngine:
        shown_before_build.append(controller.window is not None and controller.window.isVisible())
        engine = FakeEngine(config)
        engines.append(engine)
        return engine

    monkeypatch.setitem(
        sys.modules, "app.simulators.demo", types.SimpleNamespace(DemoEnvironment=DemoEnvironment)
    )
    monkeypatch.setitem(sys.modules, "app.engine.factory", types.SimpleNamespace(build_engine=build_engine))
    monkeypatch.setattr(
        "app.ui.main_window.QSettings", lambda: QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    )
    monkeypatch.setattr(
        "app.ui.main_window.QSystemTrayIcon.isSystemTrayAvailable", staticmethod(lambda: False)
    )
    controller = Controller(qapp, None, demo=True)
    gc.unfreeze()

    async def scenario() -> int:
        main = loop.create_task(controller.main())
        await wait_until(lambda: controller.window is not None and controller.window.isVisible())
        # Cold start: the window shows first; the engine is built and started behind it.
        await wait_until(lambda: bool(engines) and engines[0].started)
        assert shown_before_build == [True]
        # After the first load, what it loaded is out of the garbage collector's full passes.
        await wait_until(lambda: gc.get_freeze_count() > 0)
        assert controller.window is not None
        assert controller.window.windowTitle() == "Demo — Triage Sync"  # Qt adds nothing to it
        # The demo, and only the demo, has the Simulator menu.
        menus = [action.text().replace("&", "") for action in controller.window.menuBar().actions()]
        assert menus == ["File", "View", "Sync", "Simulator", "Help"]
        controller.simulator_menu.actions_by_key[("autotask", "outage")].trigger()
        assert demo_events[-1] == "autotask=outage"
        controller.window.close()  # auto-push off: closing the window quits
        return await main

    try:
        assert loop.run_until_complete(scenario()) == 0
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
    assert not engines[0].started  # stopped cleanly
    assert demo_events == ["start", "autotask=outage", "stop"]


def test_a_window_outside_the_demo_has_no_simulator_menu(window: Any) -> None:
    menus = [action.text().replace("&", "") for action in window.menuBar().actions()]
    assert menus == ["File", "View", "Sync", "Help"]


def test_deferred_engine_waits_for_the_engine_and_forwards_its_events(loop: qasync.QEventLoop) -> None:
    """The window's stand-in while the engine is built (cold start): calls wait, reads answer
    "unknown", and once attached the engine's events reach the window's bus."""
    from ui_fakes import make_row

    from app.engine.events import EngineEvent, ItemRemoved
    from app.ui.deferred_engine import DeferredEngine

    real = FakeEngine()
    real.add_rows([make_row(1)])
    deferred = DeferredEngine(real.config)
    seen: list[EngineEvent] = []
    deferred.bus.subscribe(seen.append)

    async def scenario() -> None:
        assert deferred.health("servicenow").level == "unknown" and not deferred.auto_push
        listing = asyncio.ensure_future(deferred.list_queue())
        await asyncio.sleep(0.01)
        assert not listing.done()  # waits for the engine
        deferred.attach(real)
        assert [row.number for row in await listing] == ["INC0000001"]
        assert deferred.health("servicenow").level == "ok"
        real.publish(ItemRemoved(make_row(1).sys_id, "INC0000001", "gone"))
        await deferred.stop()
        real.publish(ItemRemoved(make_row(1).sys_id, "INC0000001", "again"))  # detached: not forwarded

    loop.run_until_complete(scenario())
    assert [event.reason for event in seen if isinstance(event, ItemRemoved)] == ["gone"]


def test_the_desktop_hands_the_interpreter_round_quickly(qapp: Any) -> None:
    """The engine's worker threads and the GUI thread share one interpreter. With two busy workers
    the GUI thread waited 18-36 ms for it at a 1 ms switch interval (7-12 ms at 0.25 ms), and
    bulk work set off several full garbage collections per poll (each holds every thread)."""
    from app.ui.app import create_application
    from app.ui.responsiveness import FULL_COLLECTION_SPACING, GUI_SWITCH_INTERVAL

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(0.005)
    gc.set_threshold(700, 10, 10)
    try:
        create_application()
        assert sys.getswitchinterval() == pytest.approx(GUI_SWITCH_INTERVAL) == 0.00025
        assert gc.get_threshold() == (700, 10, FULL_COLLECTION_SPACING) == (700, 10, 1000)
    finally:  # the rest of the test session keeps Python's settings
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
