"""Team mode in the window: who runs the engine, and "Take over" for an attached desk.

An attached desk's status bar says who runs the engine, where and how fresh its heartbeat is
("Engine: triage-sync run on srv-01, pid 4242, heartbeat 3 s ago"); missed heartbeats turn it
into a warning, a stale lease into an error with "Take over" available. Poll now becomes Refresh
(a desk re-reads the shared store; the engine polls), and auto-push is the engine host's switch.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QMessageBox, QStyle, QWidget

from app.engine.desk import AttachedDesk
from app.ui.main_window import MainWindow, window_title
from app.ui.theme import Tone, tone_icon
from app.ui.widgets import exec_async, plain_label

LEVEL_TONE = {
    "ok": Tone.OK,
    "late": Tone.WARNING,
    "stale": Tone.ERROR,
    "none": Tone.ERROR,
    "offline": Tone.ERROR,
}
TAKE_OVER_TEXT = "&Take over the engine…"


class EngineHolderLabel(QWidget):
    """Icon + "Engine: … heartbeat N s ago", re-rendered every second (no query: the desk keeps the
    lease row, refreshed by the change feed on every heartbeat)."""

    levelChanged = Signal(str)

    def __init__(self, desk: AttachedDesk, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.desk = desk
        self.level = ""
        self.setAccessibleName("Who runs the engine")
        self.icon = QLabel()
        self.text = plain_label()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(4)
        layout.addWidget(self.icon)
        layout.addWidget(self.text)
        self.timer = QTimer(self)
        self.timer.setInterval(1000)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()
        self.refresh()

    def refresh(self) -> None:
        text, level = self.desk.holder_text()
        self.text.setText(text)
        self.setToolTip(
            "This desk is attached: the engine runs in another process and syncs for everyone. "
            "Decisions made here are written to the shared store and carried out by the engine."
        )
        self.setAccessibleDescription(text)
        if level != self.level:
            self.level = level
            size = self.style().pixelMetric(QStyle.PixelMetric.PM_SmallIconSize)
            self.icon.setPixmap(tone_icon(LEVEL_TONE.get(level, Tone.INFO), self).pixmap(size, size))
            self.levelChanged.emit(level)


class TeamControls(QObject):
    """Installs the attached-desk parts into a MainWindow; ``take_over(forced)`` is the controller's."""

    def __init__(self, window: MainWindow, desk: AttachedDesk, take_over: Callable[[], object]) -> None:
        super().__init__(window)
        self.window = window
        self.desk = desk
        self._take_over = take_over
        self.holder = EngineHolderLabel(desk)
        window.statusBar().insertPermanentWidget(0, self.holder)
        self.take_over_action = QAction(TAKE_OVER_TEXT, window)
        self.take_over_action.triggered.connect(self.request_take_over)
        self.take_over_action.setObjectName("take-over")
        sync_menu = _menu(window, "&Sync")
        if sync_menu is not None:
            sync_menu.addSeparator()
            sync_menu.addAction(self.take_over_action)
        window.addAction(self.take_over_action)
        self.holder.levelChanged.connect(self._level)
        self._level(self.holder.level)
        # A desk does not poll: it re-reads the store (the engine polls for everyone).
        window.poll_action.setText("&Refresh")
        window.poll_action.setToolTip("Re-read the shared store now (the engine polls both systems)")
        window.status_strip.poll_button.setText("Refresh")
        window.status_strip.poll_button.setToolTip(window.poll_action.toolTip())
        window.auto_push_action.setEnabled(False)
        window.auto_push_action.setToolTip("Auto-push is switched where the engine runs")
        window.setWindowTitle(window_title("Demo" if window.demo else "", f"{desk.name}'s desk (attached)"))
        self.confirm: QMessageBox | None = None  # the open confirmation (tests answer it)

    def _level(self, level: str) -> None:
        enabled = level in ("stale", "none")
        self.take_over_action.setEnabled(enabled)
        self.take_over_action.setToolTip(
            "Run the engine on this desktop (needs the API credentials here)"
            if enabled
            else "The engine is alive elsewhere; Take over becomes available if its heartbeat stops"
        )

    def request_take_over(self) -> None:
        from app.ui.tasks import spawn

        if not self.take_over_action.isEnabled():
            self.window.show_message(
                "The engine is running elsewhere with a fresh heartbeat: nothing to take over"
            )
            return
        spawn(self._confirm(), name="take-over-confirm")

    async def _confirm(self) -> None:
        text, level = self.desk.holder_text()
        forced = level == "stale"
        question = (
            f"{text}.\n\nTake over anyway? The other engine is presumed stopped; if it is only "
            "cut off from the database it stops itself at its next heartbeat."
            if forced
            else "No engine is running for this store. Run it on this desktop?"
        )
        box = QMessageBox(
            QMessageBox.Icon.Warning if forced else QMessageBox.Icon.Question,
            "Take over the engine",
            question + "\n\nThis desktop then polls ServiceNow and Autotask and pushes approved "
            "items: it needs the API credentials (Settings).",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self.window,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.confirm = box
        try:
            answer = await exec_async(box)
        finally:
            self.confirm = None
            box.deleteLater()
        if answer == QMessageBox.StandardButton.Yes:
            self.window.show_message("Taking over the engine…")
            self._take_over()
        else:
            self.window.show_message("Take over cancelled: this desk stays attached")


def _menu(window: MainWindow, title: str) -> QMenu | None:
    for action in window.menuBar().actions():
        if action.text() == title:
            return action.menu()  # type: ignore[return-value]
    return None
