"""Auto-push dry-run confirmation and the "Why not?" explanation panel."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.engine.views import DryRunReport, Explanation
from app.ui.format import plural, tooltip_text
from app.ui.theme import Tone, banner_background, css_color, foreground, tone_icon


class AutoPushDialog(QDialog):
    """Shows what switching auto-push on would do right now, then Confirm / Cancel."""

    def __init__(self, report: DryRunReport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Turn on auto-push?")
        self.setMinimumSize(640, 420)
        self.resize(900, 620)  # room for the list: titles are long and the list is the point
        self.report = report
        creates, fails = len(report.would_create), len(report.would_fail)
        intro = QLabel(
            "With auto-push on, every incident that meets the trigger is sent to Autotask "
            "<b>without approval</b>, also while this window is closed.<br><br>"
            f"Right now that would create <b>{plural(creates, 'ticket')}</b>"
            + (f"; <b>{fails:,}</b> would fail the pre-flight check and stay in the queue." if fails else ".")
        )
        intro.setWordWrap(True)
        intro.setTextFormat(Qt.TextFormat.RichText)

        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Incident", "Ticket title / problem"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setColumnWidth(0, 230)
        self.tree.setAlternatingRowColors(True)
        create_root = QTreeWidgetItem([f"Would create ({creates:,})", ""])
        create_root.setIcon(0, tone_icon(Tone.OK, self))
        for entry in report.would_create:
            title = str(entry.payload.get("title", entry.short_description))
            create_root.addChild(QTreeWidgetItem([entry.number, title]))
        fail_root = QTreeWidgetItem([f"Would fail pre-flight ({fails:,})", ""])
        if fails:  # a red mark beside "(0)" would raise an alarm about nothing
            fail_root.setIcon(0, tone_icon(Tone.ERROR, self))
        error_brush = QBrush(foreground(Tone.ERROR))
        for entry in report.would_fail:
            child = QTreeWidgetItem([entry.number, "; ".join(entry.problems) or entry.short_description])
            child.setForeground(1, error_brush)
            child.setToolTip(1, tooltip_text("\n".join(entry.problems)))
            fail_root.addChild(child)
        self.tree.addTopLevelItems([create_root, fail_root])
        create_root.setFirstColumnSpanned(True)
        fail_root.setFirstColumnSpanned(True)
        fail_root.setExpanded(True)
        create_root.setExpanded(creates <= 50)

        self.buttons = QDialogButtonBox()
        self.confirm_button = self.buttons.addButton(
            "Turn on auto-push", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.buttons)

    def intro_counts(self) -> tuple[int, int]:
        return len(self.report.would_create), len(self.report.would_fail)


class ExplainPanel(QFrame):
    """Inline answer to "Why not?": the summary and the reasons, dismissible."""

    closed = Signal()
    openInQueue = Signal(str)
    openInLinks = Signal(str)
    pushAnyway = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explain-panel")
        self.setAccessibleName("Why not? answer")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.icon = QLabel()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._key: str = ""
        self.show_button = QPushButton("Show in queue")
        self.show_button.clicked.connect(lambda: self.openInQueue.emit(self._key))
        self.links_button = QPushButton("Show in &Links")
        self.links_button.clicked.connect(lambda: self.openInLinks.emit(self._key))
        self.push_button = QPushButton("Push &anyway…")
        self.push_button.setToolTip("Send it to Autotask although the trigger does not select it (asks why)")
        self.push_button.clicked.connect(lambda: self.pushAnyway.emit(self._key))
        close = QPushButton("Close")
        close.setFlat(True)
        close.clicked.connect(self._close)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.summary, 1)
        layout.addWidget(self.show_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.links_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.push_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_explanation(self, explanation: Explanation) -> None:
        self._key = explanation.key
        tone = Tone.INFO if explanation.found else Tone.WARNING
        size = self.style().pixelMetric(self.style().PixelMetric.PM_SmallIconSize)
        self.icon.setPixmap(tone_icon(tone, self).pixmap(size, size))
        key, summary = explanation.key, explanation.summary
        if summary.startswith(key):  # "INC0010002 does not match…": the number once, not twice
            lines = [f"<b>{html.escape(key)}</b>{html.escape(summary.removeprefix(key))}"]
        else:
            lines = [f"<b>{html.escape(key)}</b>: {html.escape(summary)}"]
        if explanation.reasons:
            items = "".join(f"<li>{html.escape(reason)}</li>" for reason in explanation.reasons)
            lines.append(f"<ul style='margin-top:4px'>{items}</ul>")
        if explanation.ticket_number:
            lines.append(f"Linked to Autotask ticket <b>{html.escape(explanation.ticket_number)}</b>.")
        self.summary.setText("".join(lines))
        self.show_button.setVisible(explanation.in_queue)
        self.links_button.setVisible(bool(explanation.ticket_number))
        self.push_button.setVisible(explanation.can_push_anyway)
        background = banner_background(tone, QApplication.palette())
        self.setStyleSheet(
            # The application palette: our own style sheet must not feed back (it darkened the
            # panel with every lookup).
            f"QFrame#explain-panel {{ background: {css_color(background)}; border-radius: 4px; }}"
        )
        self.show()

    def show_error(self, key: str, message: str) -> None:
        self.show_explanation(Explanation(key=key, found=False, in_queue=False, state=None, summary=message))

    def text(self) -> str:
        return self.summary.text()

    def _close(self) -> None:
        self.hide()
        self.closed.emit()
