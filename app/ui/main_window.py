"""The main window: toolbar (auto-push, poll, settings, "Why not?"), banners, tabs, status bar, tray."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QStyle,
    QSystemTrayIcon,
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
from app.ui.format import SYSTEM_LABELS, desk_user, incident_key, now_utc, plural
from app.ui.links_view import LinksTab
from app.ui.outage import outage_since, outage_text
from app.ui.overview_view import OverviewTab
from app.ui.queue_view import QueueTab
from app.ui.rules_window import RulesWindow
from app.ui.settings_dialog import SettingsDialog
from app.ui.shortcuts import ShortcutsDialog
from app.ui.status import LEVEL_TEXT, StatusStrip
from app.ui.tasks import TaskSlot, spawn
from app.ui.theme import Tone, app_icon, std_icon
from app.ui.toast import Toast
from app.ui.tray import TrayIcon
from app.ui.widgets import Banner, BannerArea, SteadyTabs, exec_async, message_box

if TYPE_CHECKING:
    from app.engine.api import EngineAPI

log = logging.getLogger(__name__)

AUTO_PUSH_BANNER = "Unattended: auto-push is on — triggered incidents are sent to Autotask without approval"
SETTINGS_TRAY_HINT = "tray/closeHintShown"
TAB_QUEUE, TAB_ACTIVITY, TAB_LINKS, TAB_OVERVIEW = 0, 1, 2, 3
UNDO_MS = 8000  # how long a reject can be undone before it is sent


def window_title(*parts: str) -> str:
    """The title ends with the application name: Qt appends the display name to any title that
    does not, which doubled it ("Triage Sync — demo — Triage Sync")."""
    return " — ".join([*(part for part in parts if part), APP_DISPLAY_NAME])


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
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.push_anyway_dialog: QInputDialog | None = None
        self._explain_task = TaskSlot("explain", on_error=self._explain_failed)
        self.setWindowTitle(window_title("Demo" if demo else ""))
        self.setWindowIcon(app_icon())
        self.resize(1280, 800)

        # ---- toolbar --------------------------------------------------------------------------
        toolbar = QToolBar("Main")
        toolbar.setObjectName("main-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setIconSize(QSize(20, 20))
        self.addToolBar(toolbar)
        self.auto_push_action = QAction(std_icon(QStyle.StandardPixmap.SP_MediaPlay), "Auto-&push: off", self)
        self.auto_push_action.setCheckable(True)
        self.auto_push_action.setToolTip(
            "Send every triggered incident to Autotask without approval (shows a dry run first)"
        )
        self.auto_push_action.triggered.connect(self._auto_push_triggered)
        self.poll_action = QAction(std_icon(QStyle.StandardPixmap.SP_BrowserReload), "P&oll now", self)
        self.poll_action.setShortcuts([QKeySequence(Qt.Key.Key_F5), QKeySequence("Ctrl+R")])
        self.poll_action.triggered.connect(self.poll_now)
        self.settings_action = QAction(
            std_icon(QStyle.StandardPixmap.SP_FileDialogDetailedView), "&Settings…", self
        )
        self.settings_action.setShortcuts(
            [QKeySequence("Ctrl+,"), QKeySequence(QKeySequence.StandardKey.Preferences)]
        )
        self.settings_action.triggered.connect(self.open_settings)
        self.rules_action = QAction("&Rules…", self)
        self.rules_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        self.rules_action.setToolTip("Edit the trigger and mappings: live preview, impact before saving")
        self.rules_action.triggered.connect(self.open_rules)
        self.rules_window: RulesWindow | None = None
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
        self.why_not.setAccessibleName("Why not? Incident number")
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
        self.explain_panel.openInLinks.connect(self._show_in_links)
        self.explain_panel.pushAnyway.connect(self.ask_push_anyway)
        # Escape in "Why not?" (or in its answer) closes the answer and goes back to the list.
        for scope in (self.why_not, self.explain_panel):
            escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), scope)
            escape.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            escape.activated.connect(self._close_why_not)

        trigger_lines = describe(engine.config.trigger)
        self.queue_tab = QueueTab(engine, trigger_lines)
        self.activity_tab = ActivityTab(engine)
        self.links_tab = LinksTab(engine)
        self.activity_tab.whyNot.connect(self.explain_number)
        self.links_tab.whyNot.connect(self.explain_number)
        self.tabs = SteadyTabs()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.queue_tab, "Queue")
        self.tabs.addTab(self.activity_tab, "Activity")
        self.tabs.addTab(self.links_tab, "Links")
        self.overview_tab = OverviewTab(engine)
        self.tabs.addTab(self.overview_tab, "Overview")
        self.queue_tab.countChanged.connect(self._queue_count)
        self.queue_tab.whyNot.connect(self.explain_number)
        self.queue_tab.preview.defer_reject = self._deferred_reject

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(6)
        self.outage_banner = Banner(Tone.ERROR, action="P&oll now")
        self.outage_banner.setAccessibleName("Outage")
        self.outage_banner.actionTriggered.connect(self.poll_now)
        self.outage_banner.hide()
        self._started = now_utc()
        self._outages: dict[str, str] = {}  # system -> banner text, while the outage lasts
        self.banner_area = BannerArea([self.outage_banner, self.auth_banner, self.auto_push_banner])
        layout.addWidget(self.banner_area)
        layout.addWidget(self.explain_panel)
        layout.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.toast = Toast(central)

        # ---- status bar -----------------------------------------------------------------------
        self.status_strip = StatusStrip()
        self.status_strip.pollRequested.connect(self.poll_now)
        self.statusBar().addPermanentWidget(self.status_strip, 1)
        self.statusBar().setSizeGripEnabled(True)
        for source in (
            self.queue_tab.preview,
            self.queue_tab,
            self.activity_tab,
            self.links_tab,
            self.overview_tab,
        ):
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
        for batch in (self.bridge.queueEvents, self.bridge.activityEvents, self.bridge.pollEvents):
            batch.connect(self.overview_tab.mark_stale)  # throttled: one query per few seconds
        self.bridge.budgetChanged.connect(
            lambda event: self.status_strip.set_budget(
                event.state or BudgetState(event.used, event.limit, event.remaining)
            )
        )
        self.bridge.autoPushChanged.connect(self._set_auto_push_ui)
        self.bridge.reviewersChanged.connect(self.queue_tab.reviewers_changed)
        self._build_menus()
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
        await self.overview_tab.reload()
        if self.tabs.currentWidget() is self.queue_tab:
            self.queue_tab.focus_first()  # the keyboard starts in the queue, not in "Why not?"

    # ---- menus and keys -----------------------------------------------------------------------
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.settings_action)
        file_menu.addAction(self.rules_action)
        quit_action = file_menu.addAction("&Quit")
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        quit_action.triggered.connect(self.quit_app)
        view_menu = bar.addMenu("&View")
        for position, (label, key) in enumerate(
            (("&Queue", "Ctrl+1"), ("&Activity", "Ctrl+2"), ("&Links", "Ctrl+3"), ("&Overview", "Ctrl+4"))
        ):
            action = view_menu.addAction(label)
            action.setShortcut(QKeySequence(key))
            action.triggered.connect(lambda _checked=False, p=position: self.show_tab(p))
        view_menu.addSeparator()
        self.filter_action = view_menu.addAction("&Filter this list")
        self.filter_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Find))
        self.filter_action.triggered.connect(self.focus_filter)
        why = view_menu.addAction("&Why not? …")
        why.setShortcut(QKeySequence("Ctrl+I"))
        why.triggered.connect(self.focus_why_not)
        sync_menu = bar.addMenu("&Sync")
        sync_menu.addAction(self.poll_action)
        sync_menu.addAction(self.auto_push_action)
        help_menu = bar.addMenu("&Help")
        self.shortcuts_action = help_menu.addAction("&Keyboard shortcuts")
        self.shortcuts_action.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        self.shortcuts_action.triggered.connect(self.show_shortcuts)

    def show_tab(self, position: int) -> None:
        self.tabs.setCurrentIndex(position)
        widget = self.tabs.currentWidget()
        view = getattr(widget, "view", None)
        if isinstance(view, QWidget):
            view.setFocus()

    def focus_filter(self) -> None:
        """Ctrl+F: the filter of the tab in front."""
        search = getattr(self.tabs.currentWidget(), "search", None)
        if isinstance(search, QLineEdit):
            search.setFocus()
            search.selectAll()

    def focus_why_not(self) -> None:
        self.why_not.setFocus()
        self.why_not.selectAll()

    def show_shortcuts(self) -> None:
        dialog = ShortcutsDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.shortcuts_dialog = dialog
        dialog.open()

    # ---- reject with undo ---------------------------------------------------------------------
    def _deferred_reject(self, numbers: list[str]) -> None:
        """Delete / Reject: the incidents leave the list at once, the reject goes out only when the
        Undo window has passed (or the next message replaces this one)."""
        self.queue_tab.hold_back(numbers)
        label = numbers[0] if len(numbers) == 1 else plural(len(numbers), "incident")

        def commit() -> None:
            self.queue_tab.release(numbers)
            self.queue_tab.preview.reject_now(numbers)

        def undo() -> None:
            self.queue_tab.release(numbers, select=True)
            self.show_message(f"Kept {label} in the queue")

        self.toast.show_message(
            f"Rejected {label}: it stays out of Autotask.",
            action="&Undo",
            on_action=undo,
            on_expire=commit,
            timeout_ms=UNDO_MS,
        )

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
            self.queue_tab.splitter.setSizes([int(self.width() * 0.6), int(self.width() * 0.4)])

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
            self.auth_banner.set_text(" · ".join(refused))
            self.auth_banner.show()
        else:
            self.auth_banner.hide()
        self._update_outage()
        self._update_quiet()
        self._update_tray_tooltip()

    def _update_outage(self) -> None:
        """Two poll intervals without an answer: a red banner, the tray's alert icon, one notice."""
        now = now_utc()
        polls = {
            "servicenow": self.engine.config.servicenow.poll_seconds,
            "autotask": self.engine.config.autotask.poll_seconds,
        }
        current: dict[str, str] = {}
        for system, health in self._health.items():
            since = outage_since(health, polls.get(system, 60), now, self._started)
            if since is not None:
                current[system] = outage_text(system, since, health)
        fresh = [text for system, text in current.items() if system not in self._outages]
        self._outages = current
        if current:
            self.outage_banner.set_text(" · ".join(current.values()))
            self.outage_banner.show()
        else:
            self.outage_banner.hide()
        if self.tray is not None:
            self.tray.set_alert(bool(current))
            for text in fresh:
                self.tray.notify_failure(text)

    def _update_quiet(self) -> None:
        """The calm line the banner slot shows when nothing needs attention."""
        states = [LEVEL_TEXT.get(state.level, state.level) for state in self._health.values()]
        if states and set(states) == {"OK"}:
            systems = "ServiceNow and Autotask OK"
        else:
            systems = " · ".join(
                f"{SYSTEM_LABELS.get(name, name)} {LEVEL_TEXT.get(state.level, state.level)}"
                for name, state in self._health.items()
            )
        mode = "auto-push is on" if self.engine.auto_push else "incidents wait for your approval"
        self.banner_area.set_quiet_text(f"{systems} · {mode}")

    def _update_tray_tooltip(self) -> None:
        if self.tray is None:
            return
        lines = [APP_DISPLAY_NAME + (" — auto-push on" if self.engine.auto_push else "")]
        for name, state in self._health.items():
            lines.append(f"{SYSTEM_LABELS.get(name, name)}: {LEVEL_TEXT.get(state.level, state.level)}")
        lines.append(f"{len(self.queue_tab.model):,} in the queue")
        self.tray.set_status("\n".join(lines))

    def _queue_count(self, count: int) -> None:
        self.tabs.set_title(TAB_QUEUE, f"Queue ({count:,})" if count else "Queue")
        self._update_tray_tooltip()

    def _refresh_relative_times(self) -> None:
        self.status_strip.refresh()
        self._update_outage()  # an outage is a matter of time passing, not only of events

    def show_message(self, text: str, tone: Tone = Tone.INFO) -> None:
        """Feedback for an action, where the user sees it (the status bar is taken by the strip)."""
        self.toast.show_message(text, tone=tone)

    def show_error(self, text: str) -> None:
        self.toast.show_message(text, tone=Tone.ERROR)

    # ---- actions ------------------------------------------------------------------------------
    def poll_now(self) -> None:
        self.show_message("Polling ServiceNow and Autotask…")
        spawn(
            self.engine.poll_now(), name="poll-now", on_error=lambda e: self.show_error(f"Poll failed: {e}")
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
        self._update_quiet()
        if self.tray is not None:
            self.tray.set_auto_push(enabled)
        self._update_tray_tooltip()

    def explain_number(self, number: str) -> None:
        self.why_not.setText(number)
        self._why_not()

    def _close_why_not(self) -> None:
        self.explain_panel.hide()
        current = self.tabs.currentWidget()
        view = getattr(current, "view", None)
        if isinstance(view, QWidget):
            view.setFocus()

    def _why_not(self) -> None:
        key = incident_key(self.why_not.text())
        if not key:
            return
        self.explain_panel.show_error(key, "Looking it up…")
        self._explain_task.start(self._explain(key))

    async def _explain(self, key: str) -> None:
        explanation = await self.engine.explain(key)
        self.explain_panel.show_explanation(explanation)
        self.explained.emit(key)

    def _explain_failed(self, error: BaseException) -> None:
        self.explain_panel.show_error(incident_key(self.why_not.text()), f"Could not explain: {error}")

    def ask_push_anyway(self, number: str) -> QInputDialog:
        """Push anyway is deliberate: it asks why, and the engine records who and why."""
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Push anyway")
        dialog.setLabelText(
            f"The trigger does not select {number}. Why should it go to Autotask anyway?\n"
            "(Recorded with your name in the activity.)"
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda reason: self._push_anyway(number, reason))
        self.push_anyway_dialog = dialog
        dialog.open()
        return dialog

    def _push_anyway(self, number: str, reason: str) -> None:
        spawn(self._push_anyway_async(number, reason), name="push-anyway", on_error=self._push_anyway_failed)

    async def _push_anyway_async(self, number: str, reason: str) -> None:
        result = await self.engine.push_anyway(number, desk_user(self.engine.config), reason)
        if result.ok:
            self.explain_panel.hide()
            self.show_message(f"{number} approved: it is pushed with the next cycle (pushed anyway)")
        else:
            self.show_error(result.message)

    def _push_anyway_failed(self, error: BaseException) -> None:
        self.show_error(f"Push anyway failed: {error}")

    def _show_in_links(self, number: str) -> None:
        self.tabs.setCurrentIndex(TAB_LINKS)
        self.links_tab.show_number(number)

    def _show_in_queue(self, key: str) -> None:
        self.tabs.setCurrentIndex(TAB_QUEUE)
        if not self.queue_tab.select_number(key):
            self.queue_tab.state_filter.setCurrentIndex(self.queue_tab.state_filter.count() - 1)
            self.queue_tab.search.clear()
            self.queue_tab.model.set_text("")
            self.queue_tab.select_number(key)

    def open_settings(self) -> None:
        from app.config import resolve_config_path

        path = self.config_path or resolve_config_path(None)
        dialog = SettingsDialog(
            self.engine.config, path, demo=self.demo, engine_test=self.engine.test_connection, parent=self
        )
        dialog.saved.connect(self._settings_saved)
        dialog.rulesRequested.connect(self.open_rules)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def open_rules(self) -> RulesWindow:
        """The Rules window (one at a time): edit, preview, see the impact, save."""
        from app.config import resolve_config_path

        if self.rules_window is not None and self.rules_window.isVisible():
            self.rules_window.raise_()
            self.rules_window.activateWindow()
            return self.rules_window
        window = RulesWindow(
            self.engine, self.config_path or resolve_config_path(None), demo=self.demo, parent=self
        )
        window.saved.connect(
            lambda changed: self.show_message(f"Rules saved; in use now: {', '.join(changed)}", Tone.OK)
        )
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.destroyed.connect(lambda *_: setattr(self, "rules_window", None))
        self.rules_window = window
        window.show()
        window.start()
        return window

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
        self.toast.flush()  # a reject waiting for its Undo window is sent, not lost
        self.bridge.close()
        self._explain_task.cancel()
        if self.tray is not None:
            self.tray.hide()

    def detach(self) -> None:
        """Close without quitting (the controller replaces the window after a settings change)."""
        self.toast.flush()
        self._quitting = True
        self.save_state()
        self.close()
        self.deleteLater()


def quit_application() -> None:
    app = QApplication.instance()
    if app is not None:
        app.quit()
