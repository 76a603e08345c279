"""Small shared widgets: coloured banners, an empty-state placeholder, dialog awaiting helpers.

Remote text (incident and ticket fields, API error messages) is hostile: every label here that can
show it is ``Qt.PlainText``, so ``<img src=...>`` is never interpreted (docs/security.md).
"""

from __future__ import annotations

import asyncio

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.ui.theme import Tone, banner_background, css_color, foreground, text_color, tone_icon


def plain_label(text: str = "") -> QLabel:
    """A label that always shows its text literally (never as rich text)."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def message_box(
    parent: QWidget | None,
    icon: QMessageBox.Icon,
    title: str,
    text: str,
    buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok,
    default: QMessageBox.StandardButton = QMessageBox.StandardButton.NoButton,
) -> QMessageBox.StandardButton:
    """``QMessageBox.warning()`` and friends with plain text: error messages carry remote text."""
    box = QMessageBox(icon, title, text, buttons, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    if default != QMessageBox.StandardButton.NoButton:
        box.setDefaultButton(default)
    return QMessageBox.StandardButton(box.exec())


class Banner(QFrame):
    """A full-width message strip: icon, text, optional action button, optional close button."""

    actionTriggered = Signal()
    dismissed = Signal()

    def __init__(
        self,
        tone: Tone,
        text: str = "",
        *,
        action: str | None = None,
        closable: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName(f"banner-{tone.value}")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._icon = QLabel()
        self.label = plain_label(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 8, 6)
        layout.setSpacing(10)
        layout.addWidget(self._icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        self.button: QPushButton | None = None
        if action:
            self.button = QPushButton(action)
            self.button.clicked.connect(self.actionTriggered)
            layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignVCenter)
        if closable:
            close = QPushButton("Dismiss")
            close.setFlat(True)
            close.clicked.connect(self._dismiss)
            layout.addWidget(close, 0, Qt.AlignmentFlag.AlignVCenter)
        self.set_tone(tone)

    def set_tone(self, tone: Tone) -> None:
        self.tone = tone
        size = self.style().pixelMetric(self.style().PixelMetric.PM_SmallIconSize)
        self._icon.setPixmap(tone_icon(tone, self).pixmap(size, size))
        self._restyle()

    def _restyle(self) -> None:
        pal = QApplication.palette()  # the app palette: our own style sheet must not feed back
        background = banner_background(self.tone, pal)
        sheet = (
            f"QFrame#{self.objectName()} {{ background: {css_color(background)}; "
            f"border: 1px solid {css_color(foreground(self.tone, pal))}; border-radius: 4px; }}"
            f"QFrame#{self.objectName()} QLabel {{ color: {css_color(text_color(pal))}; }}"
        )
        if sheet != self.styleSheet():
            self.setStyleSheet(sheet)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.ApplicationPaletteChange:
            self._restyle()
        super().changeEvent(event)

    def set_text(self, text: str) -> None:
        self.label.setText(text)

    def text(self) -> str:
        return self.label.text()

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()


class EmptyState(QWidget):
    """Centred title + explanation shown instead of an empty table.

    Both are plain text; ``rich=True`` is for the app's own fixed wording only (escape anything
    else with ``html.escape``)."""

    def __init__(self, title: str, body: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = plain_label(title)
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.body = plain_label(body)
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.setWordWrap(True)
        self.body.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addStretch(1)
        layout.addWidget(self.title)
        layout.addSpacing(8)
        layout.addWidget(self.body)
        layout.addStretch(2)

    def set_text(self, title: str, body: str, *, rich: bool = False) -> None:
        self.title.setText(title)
        self.body.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.body.setText(body)


async def exec_async(dialog: QDialog) -> int:
    """Show a dialog window-modally and await its result without a nested event loop.

    ``QDialog.exec()`` inside a coroutine would re-enter the asyncio loop from a nested Qt loop;
    ``open()`` + a future resolved by ``finished`` keeps one loop and one stack.
    """
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(result: int) -> None:
        if not future.done():
            future.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await future
    finally:
        dialog.finished.disconnect(finished)


def hline() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setFrameShadow(QFrame.Shadow.Sunken)
    return line
