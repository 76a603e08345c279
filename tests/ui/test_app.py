"""run_gui's controller: demo environment -> build_engine -> start -> window; quit stops everything."""

from __future__ import annotations

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

    async def scenario() -> int:
        main = loop.create_task(controller.main())
        await wait_until(lambda: controller.window is not None and controller.window.isVisible())
        # Cold start: the window shows first; the engine is built and started behind it.
        await wait_until(lambda: bool(engines) and engines[0].started)
        assert shown_before_build == [True]
        assert controller.window is not None
        assert controller.window.windowTitle() == "Demo — Triage Sync"  # Qt adds nothing to it
        # The demo, and only the demo, has the Simulator menu.
        menus = [action.text().replace("&", "") for action in controller.window.menuBar().actions()]
        assert menus == ["File", "View", "Sync", "Simulator", "Help"]
        controller.simulator_menu.actions_by_key[("autotask", "outage")].trigger()
        assert demo_events[-1] == "autotask=outage"
        controller.window.close()  # auto-push off: closing the window quits
        return await main

    assert loop.run_until_complete(scenario()) == 0
    assert not engines[0].started  # stopped cleanly
    assert demo_events == ["start", "autotask=outage", "stop"]


def test_a_window_outside_the_demo_has_no_simulator_menu(window: Any) -> None:
    menus = [action.text().replace("&", "") for action in window.menuBar().actions()]
    assert menus == ["File", "View", "Sync", "Help"]
