"""Small shared widgets: coloured banners, an empty-state placeholder, dialog awaiting helpers.

Remote text (incident and ticket fields, API error messages) is hostile: every label here that can
show it is ``Qt.PlainText``, so ``<img src=...>`` is never interpreted (docs/security.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, Qt, QUrl, Signal, SignalInstance
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

if TYPE_CHECKING:
    from app.engine.api import EngineAPI

from app.ui.format import tooltip_text
from app.ui.theme import (
    Tone,
    banner_background,
    css_color,
    foreground,
    hint_palette,
    text_color,
    tone_icon,
)


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
        self.setAccessibleName({"error": "Problem", "warning": "Warning"}.get(tone.value, "Notice"))
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
        self.label.setToolTip(tooltip_text(text))  # remote text: shown literally
        self.setAccessibleDescription(text)

    def text(self) -> str:
        return self.label.text()

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()


class BannerArea(QWidget):
    """A fixed slot above the tabs for the window's banners, side by side.

    The slot keeps its height whether a banner shows or not (a quiet line stands in), so banners
    appearing and going never push the tabs and the row under the mouse away.
    """

    def __init__(self, banners: list[Banner], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.banners = list(banners)
        self.quiet = QLabel()
        self.quiet.setTextFormat(Qt.TextFormat.PlainText)
        self.quiet.setAccessibleName("Status summary")
        self.setAccessibleName("Banners")
        self.quiet.setContentsMargins(10, 0, 0, 0)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.quiet, 1)
        for banner in self.banners:
            self._adopt(banner)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._sync()

    def add_banner(self, banner: Banner) -> None:
        self.banners.append(banner)
        self._adopt(banner)
        self._sync()

    def _adopt(self, banner: Banner) -> None:
        # One line in the slot; the whole text is in the tooltip (set_text).
        banner.label.setWordWrap(False)
        banner.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = self.layout()
        assert isinstance(layout, QHBoxLayout)
        layout.addWidget(banner, 1)
        banner.installEventFilter(self)

    def set_quiet_text(self, text: str) -> None:
        self.quiet.setText(text)

    def slot_height(self) -> int:
        """One line of banner: its button (or text) plus the banner's margins and frame."""
        probe = QPushButton("Fix")
        line = max(probe.sizeHint().height(), self.fontMetrics().height() + 4)
        return line + 14

    def visible_banners(self) -> list[Banner]:
        return [banner for banner in self.banners if not banner.isHidden()]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() in (QEvent.Type.ShowToParent, QEvent.Type.HideToParent):
            self._sync()
        return False

    def _sync(self) -> None:
        self.quiet.setVisible(not self.visible_banners())
        self.setFixedHeight(self.slot_height())


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
        self.body.setPalette(hint_palette())  # quieter than text, still >= 4.5:1
        layout = QVBoxLayout(self)
        layout.setContentsMargins(32, 32, 32, 32)
        layout.addStretch(1)
        layout.addWidget(self.title)
        layout.addSpacing(8)
        layout.addWidget(self.body)
        layout.addStretch(2)
        self.setAccessibleName(title)

    def set_text(self, title: str, body: str, *, rich: bool = False) -> None:
        self.title.setText(title)
        self.body.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
        self.body.setText(body)
        self.setAccessibleName(title)


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


def open_url(url: str, report: SignalInstance) -> None:
    """Open a record in the browser, or say why not."""
    if not url:
        report.emit("The instance URL is not known; set it in Settings to open records.")
        return
    QDesktopServices.openUrl(QUrl(url))


def copy_text(text: str, report: SignalInstance) -> None:
    QGuiApplication.clipboard().setText(text)
    report.emit(f"Copied {text}")


def add_record_actions(
    menu: QMenu,
    engine: EngineAPI,
    report: SignalInstance,
    sys_id: str | None,
    number: str,
    ticket_id: int | None,
    ticket_number: str,
) -> None:
    """Open in ServiceNow / Autotask and copy the numbers: the first items of every row menu."""
    incident_url = engine.record_url("servicenow", sys_id) if sys_id else None
    open_sn = menu.addAction("Open in &ServiceNow")
    open_sn.setEnabled(bool(incident_url))
    open_sn.triggered.connect(lambda: open_url(incident_url or "", report))
    ticket_url = engine.record_url("autotask", str(ticket_id)) if ticket_id is not None else None
    open_at = menu.addAction("Open in &Autotask")
    open_at.setEnabled(bool(ticket_url))
    open_at.triggered.connect(lambda: open_url(ticket_url or "", report))
    if number:
        copy = menu.addAction(f"&Copy {number}")
        copy.triggered.connect(lambda: copy_text(number, report))
    if ticket_number:
        copy_ticket = menu.addAction(f"Copy &ticket {ticket_number}")
        copy_ticket.triggered.connect(lambda: copy_text(ticket_number, report))


def show_row_menu(
    view: QAbstractItemView,
    point: QPoint,
    item_at: int | Callable[[QModelIndex], Any],
    menu_for: Callable[[Any], QMenu | None],
) -> None:
    """Right-click (or the menu key: the current row) opens ``menu_for(row object)``; the row object
    is the index's data in role ``item_at``, or what ``item_at(index)`` returns."""
    index = view.indexAt(point)
    if not index.isValid():
        index = view.currentIndex()
    if not index.isValid():
        return
    item = item_at(index) if callable(item_at) else index.data(item_at)
    if item is None:
        return
    view.setCurrentIndex(index)
    menu = menu_for(item)
    if menu is not None:
        menu.exec(view.viewport().mapToGlobal(point))


class SteadyTabs(QTabWidget):
    """A tab widget that does not lay itself out again when a tab's title changes and still fits.

    Qt's tab widget answers any change of its bar's size hint (a new title) by laying out and
    repainting all of itself and its pages: ~15 ms of painting for the main window's queue and
    preview, every second while a poll fills the queue and its tab title counts along. Titles are
    changed through :meth:`set_title`; a title that needs more room still gets the full layout."""

    _title_only = False  # set_title changed a title that fits: the next layout request is its own

    def set_title(self, index: int, text: str) -> None:
        bar = self.tabBar()
        bar.setTabText(index, text)
        if self._bar_fits():
            self._title_only = True  # the layout request the bar posts now asks for nothing new
        else:
            self.setTabText(index, text)

    def _bar_fits(self) -> bool:
        bar = self.tabBar()
        hint = bar.sizeHint()
        return bar.isVisible() and hint.width() <= bar.width() and hint.height() == bar.height()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest and self._title_only:
            self._title_only = False
            if self._bar_fits():
                return True  # only a title changed, and it fits in the room it has
        return super().event(event)
