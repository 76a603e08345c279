"""The main window: toolbar (auto-push, poll, settings, "Why not?"), banners, tabs, status bar, tray."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHeaderView,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QStyle,
    QSystemTrayIcon,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from app import APP_DISPLAY_NAME
from app.domain.triggers import describe
from app.engine.events import (
    AuditRecorded,
    EngineEvent,
    ItemQueued,
    PushFailed,
    PushStarted,
    PushSucceeded,
    ReturnFailed,
    SystemName,
)
from app.engine.views import BudgetState, HealthState
from app.ui.activity_view import ActivityTab
from app.ui.bridge import EngineBridge
from app.ui.dialogs import AutoPushDialog, ExplainPanel
from app.ui.format import SYSTEM_LABELS
from app.ui.links_view import LinksTab
from app.ui.queue_view import QueueTab
from app.ui.settings_dialog import SettingsDialog
from app.ui.status import LEVEL_TEXT, StatusStrip
from app.ui.tasks import TaskSlot, spawn
from app.ui.theme import Tone, app_icon, std_icon
from app.ui.tray import TrayIcon
from app.ui.widgets import Banner, exec_async, message_box

if TYPE_CHECKING:
    from app.engine.api import EngineAPI

log = logging.getLogger(__name__)

AUTO_PUSH_BANNER = "Unattended: auto-push is on — triggered incidents are sent to Autotask without approval"
SETTINGS_TRAY_HINT = "tray/closeHintShown"
TAB_QUEUE, TAB_ACTIVITY, TAB_LINKS = 0, 1, 2


class MainWindow(QMainWindow):
    configSaved = Signal(object)  # Path: the controller rebuilds the engine with the new file
    quitRequested = Signal()
    autoPushDialogShown = Signal(object)  # AutoPushDialog (tests, diagnostics)
    explained = Signal(str)  # key, once an explanation is shown

    def __init__(
        self,
        engine: EngineAPI,
        *,
        config_path: Path | None = None,
        demo: bool = False,
        use_tray: bool = True,
        settings: QSettings | None = None,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.config_path = config_path
        self.demo = demo
        self.settings = settings or QSettings()
        self._quitting = False
        self._in_flight: set[str] = set()
        self._health: dict[str, HealthState] = {}
        self.autopush_dialog: AutoPushDialog | None = None
        self._explain_task = TaskSlot("explain", on_error=self._explain_failed)
        self.setWindowTitle(APP_DISPLAY_NAME + (" — demo" if demo else ""))
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)

        # ---- toolbar --------------------------------------------------------------------------
        toolbar = QToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setIconSize(QSize(20, 20))
        self.addToolBar(toolbar)
        self.auto_push_action = QAction(std_icon(QStyle.StandardPixmap.SP_MediaPlay), "Auto-push: off", self)
        self.auto_push_action.setCheckable(True)
        self.auto_push_action.setToolTip(
            "Send every triggered incident to Autotask without approval (shows a dry run first)"
        )
        self.auto_push_action.triggered.connect(self._auto_push_triggered)
        self.poll_action = QAction(std_icon(QStyle.StandardPixmap.SP_BrowserReload), "Poll now", self)
        self.poll_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.poll_action.triggered.connect(self.poll_now)
        self.settings_action = QAction(
            std_icon(QStyle.StandardPixmap.SP_FileDialogDetailedView), "Settings…", self
        )
        self.settings_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Preferences))
        self.settings_action.triggered.connect(self.open_settings)
        toolbar.addAction(self.auto_push_action)
        toolbar.addSeparator()
        toolbar.addAction(self.poll_action)
        toolbar.addAction(self.settings_action)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        toolbar.addWidget(spacer)
        self.why_not = QLineEdit()
        self.why_not.setPlaceholderText("Why not? Incident number…")
        self.why_not.setToolTip("Type any incident number and press Enter to see why it is or is not queued")
        self.why_not.setClearButtonEnabled(True)
        self.why_not.setMinimumWidth(240)
        self.why_not.setMaximumWidth(320)
        self.why_not.returnPressed.connect(self._why_not)
        toolbar.addWidget(self.why_not)

        # ---- banners + tabs -------------------------------------------------------------------
        self.auth_banner = Banner(Tone.ERROR, action="Fix in Settings")
        self.auth_banner.actionTriggered.connect(self.open_settings)
        self.auth_banner.hide()
        self.auto_push_banner = Banner(Tone.WARNING, AUTO_PUSH_BANNER, action="Turn off")
        self.auto_push_banner.actionTriggered.connect(lambda: self.set_auto_push_requested(False))
        self.auto_push_banner.hide()
        self.explain_panel = ExplainPanel()
        self.explain_panel.openInQueue.connect(self._show_in_queue)

        trigger_lines = describe(engine.config.trigger)
        self.queue_tab = QueueTab(engine, trigger_lines)
        self.activity_tab = ActivityTab(engine)
        self.links_tab = LinksTab(engine)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.queue_tab, "Queue")
        self.tabs.addTab(self.activity_tab, "Activity")
        self.tabs.addTab(self.links_tab, "Links")
        self.queue_tab.countChanged.connect(self._queue_count)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(6)
        layout.addWidget(self.auth_banner)
        layout.addWidget(self.auto_push_banner)
        layout.addWidget(self.explain_panel)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        # ---- status bar -----------------------------------------------------------------------
        self.status_strip = StatusStrip()
        self.status_strip.pollRequested.connect(self.poll_now)
        self.statusBar().addPermanentWidget(self.status_strip, 1)
        self.statusBar().setSizeGripEnabled(True)
        for source in (self.queue_tab.preview, self.activity_tab, self.links_tab):
            source.message.connect(self.show_message)
        self._tick = QTimer(self)
        self._tick.setInterval(5000)
        self._tick.timeout.connect(self._refresh_relative_times)
        self._tick.start()

        # ---- tray -----------------------------------------------------------------------------
        self.tray: TrayIcon | None = None
        if use_tray and QSystemTrayIcon.isSystemTrayAvailable():
            self.tray = TrayIcon(app_icon(), self)
            self.tray.toggleWindow.connect(self.toggle_visible)
            self.tray.pollRequested.connect(self.poll_now)
            self.tray.autoPushToggled.connect(self.set_auto_push_requested)
            self.tray.quitRequested.connect(self.quit_app)
            self.tray.show()
            self._tray_flush = QTimer(self)
            self._tray_flush.setInterval(30_000)
            self._tray_flush.timeout.connect(self.tray.flush)
            self._tray_flush.start()

        # ---- engine events --------------------------------------------------------------------
        self.bridge = EngineBridge(engine.bus, self)
        self.bridge.queueEvents.connect(self._queue_events)
        self.bridge.activityEvents.connect(self._activity_events)
        self.bridge.linkEvents.connect(self.links_tab.apply_events)
        self.bridge.healthChanged.connect(self.set_health)
        self.bridge.budgetChanged.connect(
            lambda event: self.status_strip.set_budget(
                event.state or BudgetState(event.used, event.limit, event.remaining)
            )
        )
        self.bridge.autoPushChanged.connect(self._set_auto_push_ui)
        self.restore_state()

    # ---- start-up -----------------------------------------------------------------------------
    async def load(self) -> None:
        """Initial data: queue, activity, links, health, budget, auto-push state."""
        systems: tuple[SystemName, ...] = ("servicenow", "autotask")
        for system in systems:
            self.set_health(system, self.engine.health(system))
        self.status_strip.set_budget(self.engine.budget())
        self._set_auto_push_ui(self.engine.auto_push)
        await self.queue_tab.reload()
        await self.activity_tab.reload()
        await self.links_tab.reload()

    # ---- persistence --------------------------------------------------------------------------
    def restore_state(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        for key, splitter in self._splitters().items():
            value = self.settings.value(f"splitters/{key}")
            if isinstance(value, QByteArray):
                splitter.restoreState(value)
        for key, header in self._headers().items():
            value = self.settings.value(f"headers/{key}")
            if isinstance(value, QByteArray):
                header.restoreState(value)
        tab = self.settings.value("window/tab", 0)
        try:
            self.tabs.setCurrentIndex(int(str(tab)))
        except ValueError:
            pass
        if self.settings.value("splitters/queue") is None:
            self.queue_tab.splitter.setSizes([int(self.width() * 0.55), int(self.width() * 0.45)])

    def save_state(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        for key, splitter in self._splitters().items():
            self.settings.setValue(f"splitters/{key}", splitter.saveState())
        for key, header in self._headers().items():
            self.settings.setValue(f"headers/{key}", header.saveState())
        self.settings.setValue("window/tab", self.tabs.currentIndex())
        self.settings.sync()

    def _splitters(self) -> dict[str, QSplitter]:
        return {
            "queue": self.queue_tab.splitter,
            "activity": self.activity_tab.splitter,
            "links": self.links_tab.splitter,
            "links-detail": self.links_tab.detail_splitter,
        }

    def _headers(self) -> dict[str, QHeaderView]:
        return {
            "queue": self.queue_tab.view.horizontalHeader(),
            "activity": self.activity_tab.view.horizontalHeader(),
            "links": self.links_tab.view.horizontalHeader(),
        }

    # ---- events -------------------------------------------------------------------------------
    def _queue_events(self, events: Sequence[EngineEvent]) -> None:
        self.queue_tab.apply_events(events)  # type: ignore[arg-type]
        if self.tray is not None:
            queued = sum(1 for event in events if isinstance(event, ItemQueued))
            if queued and not self.isVisible():
                self.tray.notify_queued(queued)

    def _activity_events(self, events: Sequence[EngineEvent]) -> None:
        self.activity_tab.apply_events(events)
        for event in events:
            if isinstance(event, PushStarted):
                self._in_flight.add(event.sys_id)
            elif isinstance(event, PushSucceeded | PushFailed):
                self._in_flight.discard(event.sys_id)
            if isinstance(event, AuditRecorded):
                self.links_tab.audit_recorded(event.row.sys_id)
            if self.tray is not None:
                if isinstance(event, PushFailed) and event.permanent:
                    self.tray.notify_failure(f"{event.number}: {event.error}")
                elif isinstance(event, ReturnFailed):
                    self.tray.notify_failure(f"{event.number} ← {event.ticket_number}: {event.error}")

    def set_health(self, system: str, health: HealthState) -> None:
        self._health[system] = health
        self.status_strip.set_health(system, health)
        refused = [
            f"{SYSTEM_LABELS.get(name, name)}: {state.message or 'the credentials were refused'}"
            for name, state in self._health.items()
            if state.level == "auth_failed"
        ]
        if refused:
            self.auth_banner.set_text("\n".join(refused))
            self.auth_banner.show()
        else:
            self.auth_banner.hide()
        self._update_tray_tooltip()

    def _update_tray_tooltip(self) -> None:
        if self.tray is None:
            return
        lines = [APP_DISPLAY_NAME + (" — auto-push on" if self.engine.auto_push else "")]
        for name, state in self._health.items():
            lines.append(f"{SYSTEM_LABELS.get(name, name)}: {LEVEL_TEXT.get(state.level, state.level)}")
        lines.append(f"{len(self.queue_tab.model):,} in the queue")
        self.tray.set_status("\n".join(lines))

    def _queue_count(self, count: int) -> None:
        self.tabs.setTabText(TAB_QUEUE, f"Queue ({count:,})" if count else "Queue")
        self._update_tray_tooltip()

    def _refresh_relative_times(self) -> None:
        self.status_strip.refresh()

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    # ---- actions ------------------------------------------------------------------------------
    def poll_now(self) -> None:
        self.show_message("Polling ServiceNow and Autotask…")
        spawn(
            self.engine.poll_now(), name="poll-now", on_error=lambda e: self.show_message(f"Poll failed: {e}")
        )

    def _auto_push_triggered(self, checked: bool) -> None:
        self.set_auto_push_requested(checked)

    def set_auto_push_requested(self, enabled: bool) -> None:
        """User intent; ON goes through the dry run and a confirmation first."""
        self._set_auto_push_ui(self.engine.auto_push)  # the switch moves only once it is decided
        if not enabled:
            self.engine.set_auto_push(False)
            self._set_auto_push_ui(False)
            self.show_message("Auto-push is off: incidents wait for approval")
            return
        if self.engine.auto_push:
            return
        self.auto_push_action.setEnabled(False)
        spawn(self._confirm_auto_push(), name="auto-push-dry-run", on_error=self._auto_push_failed)

    async def _confirm_auto_push(self) -> None:
        self.show_message("Checking what auto-push would send…")
        try:
            report = await self.engine.dry_run()
        finally:
            self.auto_push_action.setEnabled(True)
        dialog = AutoPushDialog(report, self)
        self.autopush_dialog = dialog
        self.autoPushDialogShown.emit(dialog)
        try:
            result = await exec_async(dialog)
        finally:
            self.autopush_dialog = None
            dialog.deleteLater()
        if result == AutoPushDialog.DialogCode.Accepted:
            self.engine.set_auto_push(True)
            self._set_auto_push_ui(True)
            self.show_message("Auto-push is on")

    def _auto_push_failed(self, error: BaseException) -> None:
        self.auto_push_action.setEnabled(True)
        self._set_auto_push_ui(self.engine.auto_push)
        message_box(
            self, QMessageBox.Icon.Warning, "Auto-push", f"The dry run failed, auto-push stays off:\n{error}"
        )

    def _set_auto_push_ui(self, enabled: bool) -> None:
        self.auto_push_action.setChecked(enabled)
        self.auto_push_action.setText("Auto-push: ON" if enabled else "Auto-push: off")
        self.auto_push_action.setIcon(
            std_icon(QStyle.StandardPixmap.SP_MediaPause if enabled else QStyle.StandardPixmap.SP_MediaPlay)
        )
        self.auto_push_banner.setVisible(enabled)
        if self.tray is not None:
            self.tray.set_auto_push(enabled)
        self._update_tray_tooltip()

    def _why_not(self) -> None:
        key = self.why_not.text().strip()
        if not key:
            return
        self.explain_panel.show_error(key, "Looking it up…")
        self._explain_task.start(self._explain(key))

    async def _explain(self, key: str) -> None:
        explanation = await self.engine.explain(key)
        self.explain_panel.show_explanation(explanation)
        self.explained.emit(key)

    def _explain_failed(self, error: BaseException) -> None:
        self.explain_panel.show_error(self.why_not.text().strip(), f"Could not explain: {error}")

    def _show_in_queue(self, key: str) -> None:
        self.tabs.setCurrentIndex(TAB_QUEUE)
        if not self.queue_tab.select_number(key):
            self.queue_tab.state_filter.setCurrentIndex(self.queue_tab.state_filter.count() - 1)
            self.queue_tab.search.clear()
            self.queue_tab.proxy.set_text("")
            self.queue_tab.select_number(key)

    def open_settings(self) -> None:
        from app.config import resolve_config_path

        path = self.config_path or resolve_config_path(None)
        dialog = SettingsDialog(self.engine.config, path, demo=self.demo, parent=self)
        dialog.saved.connect(self._settings_saved)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def _settings_saved(self, path: Path) -> None:
        self.show_message(f"Settings saved to {path}; reconnecting…")
        self.configSaved.emit(path)

    # ---- window / tray life -------------------------------------------------------------------
    def toggle_visible(self) -> None:
        if self.isVisible() and not self.isMinimized():
            self.hide()
        else:
            self.showNormal()
            self.raise_()
            self.activateWindow()

    def quit_app(self) -> None:
        if self._in_flight and not self._confirm_in_flight():
            return
        self._quitting = True
        self.save_state()
        self.close()
        self.quitRequested.emit()

    def _confirm_in_flight(self) -> bool:
        answer = QMessageBox.question(
            self,
            "Pushes in progress",
            f"{len(self._in_flight)} ticket create(s) are in progress. Quit anyway? "
            "They finish or are recovered safely at the next start.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self._quitting:
            self._shutdown_widgets()
            event.accept()
            return
        self.save_state()
        if self.engine.auto_push and self.tray is not None:
            event.ignore()
            self.hide()
            if not self.settings.value(SETTINGS_TRAY_HINT, False, type=bool):
                self.settings.setValue(SETTINGS_TRAY_HINT, True)
                self.tray.tray.showMessage(
                    APP_DISPLAY_NAME,
                    "Auto-push is on, so Triage Sync keeps syncing in the tray. "
                    "Use Quit in the tray menu to stop.",
                    QSystemTrayIcon.MessageIcon.Information,
                    10000,
                )
            return
        if self._in_flight and not self._confirm_in_flight():
            event.ignore()
            return
        self._quitting = True
        self._shutdown_widgets()
        event.accept()
        self.quitRequested.emit()

    def _shutdown_widgets(self) -> None:
        self.bridge.close()
        self._explain_task.cancel()
        if self.tray is not None:
            self.tray.hide()

    def detach(self) -> None:
        """Close without quitting (the controller replaces the window after a settings change)."""
        self._quitting = True
        self.save_state()
        self.close()
        self.deleteLater()


def quit_application() -> None:
    app = QApplication.instance()
    if app is not None:
        app.quit()
