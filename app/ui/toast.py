"""Visible feedback for every action: a toast floating over the bottom of the window.

The status bar is taken by the permanent health strip, so ``QStatusBar.showMessage`` is never
drawn. The toast floats over its parent (it never moves the layout), says what happened in one
line, may carry one action ("Undo") and hides itself after a while. Errors stay longer.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import QApplication, QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from app.ui.theme import Tone, banner_background, css_color, foreground, text_color, tone_icon

INFO_MS = 6000
ERROR_MS = 15000
MARGIN = 14


class Toast(QFrame):
    """One message at a time, bottom centre of ``parent``; a newer message replaces an older one."""

    actionTriggered = Signal()

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("toast")
        self.setAccessibleName("Notification")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.icon = QLabel()
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setWordWrap(True)
        self.label.setAccessibleName("Notification text")
        self.button = QPushButton()
        self.button.clicked.connect(self._action)
        self.button.hide()
        close = QPushButton("✕")
        close.setFlat(True)
        close.setAccessibleName("Dismiss notification")
        close.setToolTip("Dismiss")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 6, 8)
        layout.setSpacing(10)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignVCenter)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._expired)
        self._on_action: Callable[[], None] | None = None
        self._on_expire: Callable[[], None] | None = None
        self.tone = Tone.INFO
        # Ctrl+Z reaches an "Undo" from anywhere in the window (a text field keeps its own Ctrl+Z).
        self.undo_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Undo), parent)
        self.undo_shortcut.activated.connect(self._undo_key)
        self.hide()

    def show_message(
        self,
        text: str,
        *,
        tone: Tone = Tone.INFO,
        action: str | None = None,
        on_action: Callable[[], None] | None = None,
        on_expire: Callable[[], None] | None = None,
        timeout_ms: int | None = None,
    ) -> None:
        """Show ``text`` now. ``on_expire`` runs when the toast times out or is replaced."""
        self._finish_pending()
        self.tone = tone
        self.label.setText(text)
        self.setAccessibleDescription(text)
        size = self.style().pixelMetric(self.style().PixelMetric.PM_SmallIconSize)
        self.icon.setPixmap(tone_icon(tone, self).pixmap(size, size))
        self._on_action = on_action
        self._on_expire = on_expire
        self.button.setVisible(action is not None)
        if action is not None:
            self.button.setText(action)
        self._restyle()
        self._place()
        self.show()
        self.raise_()
        self._timer.start(timeout_ms or (ERROR_MS if tone == Tone.ERROR else INFO_MS))

    def text(self) -> str:
        return self.label.text()

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()
        self._finish_pending()

    def flush(self) -> None:
        """Run a pending ``on_expire`` now (e.g. before the window closes)."""
        self.dismiss()

    def _finish_pending(self) -> None:
        callback, self._on_expire, self._on_action = self._on_expire, None, None
        if callback is not None:
            callback()

    def _expired(self) -> None:
        self.hide()
        self._finish_pending()

    def _action(self) -> None:
        callback, self._on_action, self._on_expire = self._on_action, None, None
        self._timer.stop()
        self.hide()
        if callback is not None:
            callback()
        self.actionTriggered.emit()

    def _undo_key(self) -> None:
        if self.isVisible() and self.button.isVisible() and "Undo" in self.button.text().replace("&", ""):
            self._action()

    def _restyle(self) -> None:
        pal = QApplication.palette()
        self.setStyleSheet(
            f"QFrame#toast {{ background: {css_color(banner_background(self.tone, pal))}; "
            f"border: 1px solid {css_color(foreground(self.tone, pal))}; border-radius: 6px; }}"
            f"QFrame#toast QLabel {{ color: {css_color(text_color(pal))}; }}"
        )

    def _place(self) -> None:
        parent = self.parentWidget()
        if parent is None:
            return
        width = min(640, max(320, parent.width() - 2 * MARGIN))
        self.setFixedWidth(width)
        self.adjustSize()
        x = (parent.width() - width) // 2
        y = parent.height() - self.height() - MARGIN
        self.move(max(0, x), max(0, y))

    # The parent's resizes move the toast; watched only while it shows: an event filter is a Python
    # call for every event of the window (each paint too), which waits for the interpreter lock
    # while the engine's worker threads run Python.
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        parent = self.parentWidget()
        if parent is not None:
            parent.installEventFilter(self)
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        parent = self.parentWidget()
        if parent is not None:
            parent.removeEventFilter(self)
        super().hideEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if watched is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False
