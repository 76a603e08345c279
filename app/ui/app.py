"""GUI entry point: QApplication + qasync loop, first run, engine life cycle, main window.

``run_gui`` creates the QApplication, then runs ``Controller.main()`` on a qasync loop
(``asyncio.Runner(loop_factory=QEventLoop)`` on 3.11, ``asyncio.run(..., loop_factory=)`` on 3.12+).
``main()`` obtains a configuration (demo simulators, an existing file, or the first-run dialog),
builds and starts the engine, shows the window and waits until the user quits; then it stops the
engine cleanly before the loop ends.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import inspect
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("QT_API", "pyside6")  # qasync must pick PySide6, not another installed binding

from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402  (after QT_API)

from app.ui.responsiveness import share_interpreter  # noqa: E402
from app.ui.widgets import message_box  # noqa: E402

if TYPE_CHECKING:
    from app.config import AppConfig
    from app.engine.api import EngineAPI
    from app.ui.main_window import MainWindow

log = logging.getLogger(__name__)

ORGANISATION = "Triage Sync"


class Controller:
    """Owns the engine, the optional demo environment and the main window."""

    def __init__(self, app: QApplication, config_path: str | None, demo: bool) -> None:
        self.app = app
        self.config_arg = config_path
        self.demo = demo
        self.engine: EngineAPI | None = None
        self.window: MainWindow | None = None
        self.demo_env: Any = None
        self.path: Path | None = None
        self.quit_event = asyncio.Event()
        self.exit_code = 0
        self.first_run_settings: Any = None  # the first-run settings dialog (tests, diagnostics)
        self.simulator_menu: Any = None  # the demo's Simulator menu (tests, diagnostics)
        self.team: Any = None  # TeamControls while this desktop is an attached desk

    def request_quit(self) -> None:
        self.quit_event.set()

    async def main(self) -> int:
        self.app.aboutToQuit.connect(self.request_quit)
        try:
            config = await self.obtain_config()
            if config is None:
                return 0
            if not await self.start(config):
                return 1
            await self.quit_event.wait()
        finally:
            await self.shutdown()
        return self.exit_code

    # ---- configuration ------------------------------------------------------------------------
    async def obtain_config(self) -> AppConfig | None:
        from app.config import ConfigError, load_config, parse_config, resolve_config_path
        from app.ui.first_run import FirstRunDialog
        from app.ui.settings_dialog import SettingsDialog
        from app.ui.widgets import exec_async

        if self.demo:
            return await self.start_demo()
        self.path = resolve_config_path(self.config_arg)
        if not self.path.exists():
            # Cancel in the settings goes back to the welcome screen, with what was typed kept in
            # the same dialog; only "Quit" on the welcome screen ends the app.
            dialog: SettingsDialog | None = None
            try:
                while True:
                    welcome = FirstRunDialog()
                    choice = await exec_async(welcome)
                    welcome.deleteLater()  # Qt deletes it, not Python's collector mid-signal
                    if choice == FirstRunDialog.DEMO:
                        self.demo = True
                        return await self.start_demo()
                    if choice != FirstRunDialog.CONNECT:
                        return None
                    if dialog is None:
                        dialog = SettingsDialog(parse_config({}, str(self.path)), self.path, first_run=True)
                        self.first_run_settings = dialog
                    if await exec_async(dialog) == SettingsDialog.DialogCode.Accepted:
                        break
            finally:
                if dialog is not None:
                    dialog.deleteLater()
                self.first_run_settings = None
        try:
            return load_config(self.path)
        except ConfigError as exc:
            message_box(None, QMessageBox.Icon.Critical, "Triage Sync: configuration problem", str(exc))
            self.exit_code = 2
            return None

    async def start_demo(self) -> AppConfig:
        from app.simulators.demo import DemoEnvironment

        self.demo_env = DemoEnvironment()
        config = self.demo_env.start()
        if inspect.isawaitable(config):
            config = await config
        return config  # type: ignore[no-any-return]

    # ---- engine + window ----------------------------------------------------------------------
    async def start(self, config: AppConfig) -> bool:
        """Show the window first, then build and start the engine (or attach the desk) behind it.

        The engine's imports (SQLAlchemy, alembic, httpx), the store and the lease take a second or
        more on a small machine: the window shows (and paints) at once over a stand-in engine, the
        heavy imports happen in a worker thread, and the data loads once the engine is running."""
        from app.ui.deferred_engine import DeferredEngine
        from app.ui.format import desk_user

        deferred = DeferredEngine(config)
        window = self.new_window(deferred)
        window.show_message("Starting…")
        await asyncio.sleep(0)  # let the first paint happen before the imports below
        try:
            attach = await asyncio.to_thread(importlib.import_module, "app.engine.attach")
            secrets = getattr(self.demo_env, "secrets", None)  # demo credentials, else keyring/env
            # Team mode: when a live engine runs elsewhere this desktop attaches (no credentials).
            engine: EngineAPI = await attach.engine_or_desk(
                config, secrets=secrets, holder="desktop app", desk_name=desk_user(config)
            )
            self._follow_rules_file(engine)
        except Exception as exc:
            log.exception("engine start failed")
            if self.window is window:
                self.window = None
            window.detach()
            message_box(None, QMessageBox.Icon.Critical, "Triage Sync could not start", str(exc))
            return False
        deferred.attach(engine)
        self.engine_ready(window, engine)
        return True

    def _follow_rules_file(self, engine: EngineAPI) -> None:
        """The engine this desktop runs takes up a rules file edited outside the app (an attached
        desk has no engine: the engine host follows its own file)."""
        from app.engine.engine import SyncEngine

        if isinstance(engine, SyncEngine) and not self.demo and self.path is not None:
            engine.rule_changes.watch(self.path)

    def show_window(self, engine: EngineAPI) -> None:
        """A window for an engine that is running already (take-over)."""
        self.engine_ready(self.new_window(engine), engine)

    def new_window(self, engine: EngineAPI) -> MainWindow:
        from app.ui.main_window import MainWindow
        from app.ui.tasks import spawn

        window = MainWindow(engine, config_path=self.path, demo=self.demo)
        window.quitRequested.connect(self.request_quit)
        if self.demo_env is not None:  # drills only where the simulators run (never in production)
            from app.ui.simulator_menu import install_simulator_menu

            self.simulator_menu = install_simulator_menu(window, self.demo_env.drills)
        window.configSaved.connect(lambda path: spawn(self.reload(path), name="reload-config"))
        self.window = window
        window.show()
        return window

    def engine_ready(self, window: MainWindow, engine: EngineAPI) -> None:
        """The engine runs (or the desk is attached): team controls, then the first load."""
        from app.engine.desk import AttachedDesk
        from app.ui.tasks import spawn
        from app.ui.team import TeamControls

        self.engine = engine
        if isinstance(engine, AttachedDesk):
            self.team = TeamControls(window, engine, lambda: spawn(self.take_over(), name="take-over"))
        spawn(self.initial_load(window), name="initial-load", on_error=lambda e: self._load_failed(window, e))

    @staticmethod
    async def initial_load(window: MainWindow) -> None:
        await window.load()
        # What is loaded now lives as long as the window (100,000 queue rows, their keys): moved out
        # of the collector's sight, a full garbage collection no longer walks it (~50 ms at 100,000
        # rows, holding every thread, the GUI thread included). Reference counting still frees it.
        gc.freeze()

    def _load_failed(self, window: MainWindow, error: BaseException) -> None:
        if self.window is window:  # not a window already replaced or closed meanwhile
            window.show_message(f"Loading failed: {error}")

    async def take_over(self) -> None:
        """An attached desk runs the engine from now on (the holder stopped or went stale)."""
        from app.engine.attach import take_over
        from app.store import EngineAlreadyRunning

        desk = self.engine
        if desk is None:
            return
        secrets = getattr(self.demo_env, "secrets", None)
        try:
            engine = await take_over(desk.config, secrets=secrets, holder="desktop app")
        except EngineAlreadyRunning as exc:
            message_box(self.window, QMessageBox.Icon.Warning, "Take over", f"Not taken over: {exc}")
            return
        except Exception as exc:  # typically: no API credentials on this computer
            message_box(
                self.window,
                QMessageBox.Icon.Warning,
                "Take over",
                "This desktop cannot run the engine: it needs the ServiceNow and Autotask credentials "
                f"here (File > Settings).\n\n{exc}",
            )
            return
        old_window = self.window
        self.team = None
        self._follow_rules_file(engine)
        self.show_window(engine)  # the new window first: the app never has zero windows
        if old_window is not None:
            old_window.detach()
        await desk.stop()
        if self.window is not None:
            self.window.show_message("This desktop runs the engine now")

    async def reload(self, path: Path) -> None:
        """Settings were saved: restart the engine with the new file and a fresh window."""
        from app.config import ConfigError, load_config

        try:
            config = load_config(path)
        except ConfigError as exc:
            message_box(self.window, QMessageBox.Icon.Critical, "Configuration problem", str(exc))
            return
        old_window, self.window = self.window, None
        if old_window is not None:
            old_window.detach()
        await self.stop_engine()
        if not await self.start(config):
            self.request_quit()

    async def stop_engine(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            try:
                await engine.stop()
            except Exception:
                log.exception("engine stop failed")

    async def shutdown(self) -> None:
        from app.ui.tasks import cancel_all, drain

        if self.window is not None:
            self.window.detach()  # sends a reject still waiting for its Undo window
            self.window = None
        await drain("reject-")  # a decision is recorded before the engine stops, never cancelled
        await self.stop_engine()
        await cancel_all()
        if self.demo_env is not None:
            result = self.demo_env.stop()
            if inspect.isawaitable(result):
                await result
            self.demo_env = None


def create_application() -> QApplication:
    from app import APP_DISPLAY_NAME, APP_NAME
    from app.ui.theme import app_icon

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv)
    # The engine's workers and the GUI thread share one interpreter: the GUI thread gets it in time.
    share_interpreter()
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_DISPLAY_NAME)
    app.setOrganizationName(ORGANISATION)
    app.setOrganizationDomain("triage-sync.local")
    app.setDesktopFileName("triage-sync")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # the tray keeps auto-push running
    return app


def run_gui(config_path: str | None, demo: bool) -> int:
    """Run the desktop app until the user quits; returns the process exit code."""
    import qasync

    from app.ui.qt_binding import binding_problem

    app = create_application()
    problem = binding_problem()
    if problem is not None:  # it would die within minutes, mid-decision: say why now instead
        log.error("%s", problem)
        print(problem, file=sys.stderr)
        message_box(None, QMessageBox.Icon.Critical, "Triage Sync cannot start", problem)
        return 1
    controller = Controller(app, config_path, demo)
    try:
        if sys.version_info >= (3, 12):
            return asyncio.run(controller.main(), loop_factory=qasync.QEventLoop)
        with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
            return runner.run(controller.main())
    except RuntimeError as exc:
        # The session ended (app.quit() from outside): the loop stopped before main() finished.
        if "stopped before" not in str(exc):
            raise
        log.info("Qt quit before the engine stopped; stopping it now")
        with asyncio.Runner(loop_factory=qasync.QEventLoop) as runner:
            runner.run(controller.shutdown())
        return controller.exit_code
