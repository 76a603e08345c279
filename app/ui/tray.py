"""System tray: status tooltip, rate-limited notifications, and a small menu."""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from app.ui.format import notification_text, plural
from app.ui.theme import Tone, tone_icon


class NotificationThrottle:
    """At most one notification per ``interval`` seconds; what happens in between is summarised."""

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self.clock = clock
        self.queued = 0
        self.failures: list[str] = []
        self._last: float | None = None

    def add_queued(self, count: int) -> None:
        self.queued += count

    def add_failure(self, text: str) -> None:
        self.failures.append(text)

    def due(self) -> bool:
        if not self.queued and not self.failures:
            return False
        return self._last is None or self.clock() - self._last >= self.interval

    def take(self) -> tuple[str, str, bool] | None:
        """(title, body, is_error) when a notification is due; resets the counters."""
        if not self.due():
            return None
        self._last = self.clock()
        parts: list[str] = []
        error = bool(self.failures)
        if self.failures:
            parts.append(f"{plural(len(self.failures), 'failure')}: {self.failures[-1]}")
        if self.queued:
            parts.append(f"{plural(self.queued, 'incident')} newly queued")
        title = "Triage Sync: problems" if error else "Triage Sync"
        self.queued = 0
        self.failures = []
        return title, "\n".join(parts), error


class TrayIcon(QObject):
    toggleWindow = Signal()
    pollRequested = Signal()
    autoPushToggled = Signal(bool)
    quitRequested = Signal()

    def __init__(self, icon: QIcon, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = icon
        self.alert_icon = tone_icon(Tone.ERROR)
        self.alert = False
        self.tray = QSystemTrayIcon(icon, self)
        self.menu = QMenu()
        self.show_action = QAction("Show / hide window", self.menu)
        self.show_action.triggered.connect(self.toggleWindow)
        self.auto_push_action = QAction("Auto-push", self.menu)
        self.auto_push_action.setCheckable(True)
        self.auto_push_action.triggered.connect(self.autoPushToggled)
        self.poll_action = QAction("Poll now", self.menu)
        self.poll_action.triggered.connect(self.pollRequested)
        self.quit_action = QAction("Quit", self.menu)
        self.quit_action.triggered.connect(self.quitRequested)
        for action in (self.show_action, self.auto_push_action, self.poll_action):
            self.menu.addAction(action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._activated)
        self.throttle = NotificationThrottle()
        self.tray.setToolTip("Triage Sync")

    def show(self) -> None:
        self.tray.show()

    def hide(self) -> None:
        self.tray.hide()

    def set_alert(self, alert: bool) -> None:
        """An outage: the tray icon changes, so it is seen with the window closed."""
        if alert == self.alert:
            return
        self.alert = alert
        self.tray.setIcon(self.alert_icon if alert else self.icon)

    def set_status(self, text: str) -> None:
        self.tray.setToolTip(text)

    def set_auto_push(self, enabled: bool) -> None:
        self.auto_push_action.setChecked(enabled)

    def notify_queued(self, count: int) -> None:
        self.throttle.add_queued(count)
        self.flush()

    def notify_failure(self, text: str) -> None:
        self.throttle.add_failure(text)
        self.flush()

    def flush(self) -> None:
        message = self.throttle.take()
        if message is None:
            return
        title, body, error = message
        icon = QSystemTrayIcon.MessageIcon.Warning if error else QSystemTrayIcon.MessageIcon.Information
        self.tray.showMessage(notification_text(title), notification_text(body), icon, 8000)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.toggleWindow.emit()
