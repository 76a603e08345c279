"""The preview of the exact Autotask ticket a queued incident would become, plus approve/reject.

For one selected incident the pane awaits ``engine.preview(number)`` and shows every target field
with its value, where it came from and the rule that produced it. Warnings are tinted rows with an
icon; errors (the pre-flight check) are a red banner and disable Approve. "Raw JSON" shows the body
exactly as it will be POSTed. Results that arrive after the selection moved on are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.views import ActionResult, QueueRow
from app.ui.format import plural, priority_label, tooltip_text
from app.ui.queue_model import STATE_LABELS
from app.ui.tasks import TaskSlot, spawn
from app.ui.theme import Tone, foreground, monospace_font, std_icon, tint, tone_icon
from app.ui.widgets import Banner, EmptyState, message_box, plain_label

if TYPE_CHECKING:
    from app.domain.outbound import Preview
    from app.engine.api import EngineAPI

log = logging.getLogger(__name__)

COL_TARGET = 0
COL_VALUE = 1
COL_FROM = 2
COL_RULE = 3
_HEADERS = ("Autotask field", "Value", "From (ServiceNow)", "Rule")

APPROVABLE = frozenset({"pending", "failed", "rejected"})


def confirm_bulk_text(count: int) -> str:
    return f"Create {count} Autotask ticket{'s' if count != 1 else ''}?"


class PreviewPane(QWidget):
    """Right-hand side of the Queue tab."""

    message = Signal(str)  # short feedback for the status bar
    previewShown = Signal(str)  # number, once a preview is rendered (tests, diagnostics)
    actionFinished = Signal(str, object)  # "approve"/"reject", list[ActionResult]

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._rows: list[QueueRow] = []
        self._preview: Preview | None = None
        self._generation = 0
        self._loader = TaskSlot("preview", on_error=self._preview_failed)
        self._busy = False

        # header: number, description, actions
        self.title = plain_label()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = plain_label()
        self.subtitle.setWordWrap(True)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.approve_button = QPushButton(std_icon(QStyle.StandardPixmap.SP_DialogApplyButton), "Approve")
        self.approve_button.setToolTip("Create this Autotask ticket now (Ctrl+Return)")
        self.approve_button.setDefault(True)
        self.reject_button = QPushButton(std_icon(QStyle.StandardPixmap.SP_DialogDiscardButton), "Reject")
        self.reject_button.setToolTip("Keep this incident out of Autotask (Delete)")
        self.raw_button = QToolButton()
        self.raw_button.setText("Raw JSON")
        self.raw_button.setCheckable(True)
        self.raw_button.setToolTip("Show the request body exactly as it will be sent")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setIcon(std_icon(QStyle.StandardPixmap.SP_FileDialogDetailedView))
        self.copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.copy_button.setToolTip("Copy the JSON body to the clipboard")
        self.copy_button.setVisible(False)

        self.approve_button.clicked.connect(self.approve_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        self.raw_button.toggled.connect(self._toggle_raw)
        self.copy_button.clicked.connect(self._copy_json)

        head = QVBoxLayout()
        head.setSpacing(2)
        head.addWidget(self.title)
        head.addWidget(self.subtitle)
        actions = QHBoxLayout()
        actions.setSpacing(6)
        actions.addWidget(self.approve_button)
        actions.addWidget(self.reject_button)
        actions.addStretch(1)
        actions.addWidget(self.raw_button)
        actions.addWidget(self.copy_button)

        self.error_banner = Banner(Tone.ERROR)
        self.error_banner.hide()
        self.warning_banner = Banner(Tone.WARNING)
        self.warning_banner.hide()

        self.table = QTableWidget(0, len(_HEADERS))
        self.table.setHorizontalHeaderLabels(list(_HEADERS))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(True)
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(COL_TARGET, QHeaderView.ResizeMode.ResizeToContents)
        for column in (COL_VALUE, COL_FROM, COL_RULE):  # share the width: the value matters most
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)

        self.raw = QPlainTextEdit()
        self.raw.setReadOnly(True)
        self.raw.setFont(monospace_font())
        self.raw.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)

        self.placeholder = EmptyState("Select an incident", "Its Autotask ticket preview appears here.")
        self.multi = EmptyState("", "")

        self.pages = QStackedWidget()
        self.pages.addWidget(self.placeholder)  # 0
        self.pages.addWidget(self.table)  # 1
        self.pages.addWidget(self.raw)  # 2
        self.pages.addWidget(self.multi)  # 3

        self.header_widget = QWidget()
        header_layout = QVBoxLayout(self.header_widget)
        header_layout.setContentsMargins(0, 0, 0, 0)
        header_layout.setSpacing(8)
        header_layout.addLayout(head)
        header_layout.addLayout(actions)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.setSpacing(8)
        layout.addWidget(self.header_widget)
        layout.addWidget(self.error_banner)
        layout.addWidget(self.warning_banner)
        layout.addWidget(self.pages, 1)

        self._show_nothing()

    def install_shortcuts(self, scope: QWidget) -> None:
        """Ctrl+Return approves, Delete rejects, anywhere inside ``scope`` (the Queue tab)."""
        for sequence in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(sequence), scope)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(self.approve_selected)
        reject = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), scope)
        reject.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        reject.activated.connect(self.reject_selected)

    # ---- selection ----------------------------------------------------------------------------
    @property
    def preview(self) -> Preview | None:
        return self._preview

    @property
    def rows(self) -> list[QueueRow]:
        return list(self._rows)

    def set_rows(self, rows: Sequence[QueueRow]) -> None:
        """The queue selection changed (or a selected row was updated)."""
        previous = [row.sys_id for row in self._rows]
        same_one = len(rows) == 1 and previous == [rows[0].sys_id]
        state_changed = same_one and self._rows[0].state != rows[0].state
        refreshed = same_one and self._rows[0].updated_at != rows[0].updated_at
        self._rows = list(rows)
        if not rows:
            self._generation += 1
            self._loader.cancel()
            self._show_nothing()
        elif len(rows) == 1:
            if not same_one or refreshed:
                self._load(rows[0])
            else:
                self._update_header(rows[0])
                if state_changed:
                    self._update_buttons()
        else:
            self._generation += 1
            self._loader.cancel()
            self._show_many(rows)

    def _show_nothing(self) -> None:
        self._preview = None
        self.header_widget.setVisible(False)
        self.error_banner.hide()
        self.warning_banner.hide()
        self.pages.setCurrentWidget(self.placeholder)

    def _show_many(self, rows: Sequence[QueueRow]) -> None:
        self._preview = None
        self.header_widget.setVisible(True)
        self.error_banner.hide()
        self.warning_banner.hide()
        approvable = [row for row in rows if row.state in APPROVABLE]
        self.title.setText(f"{len(rows):,} incidents selected")
        self.subtitle.setText(
            f"{plural(len(approvable), 'can be approved', 'can be approved')}"
            if approvable
            else "None of them is waiting for approval."
        )
        numbers = ", ".join(row.number for row in rows[:12]) + (" …" if len(rows) > 12 else "")
        self.multi.set_text(
            confirm_bulk_text(len(approvable)) if approvable else "Nothing to approve",
            f"Approve creates one ticket per incident, each exactly as its own preview shows.\n{numbers}",
        )
        self.pages.setCurrentWidget(self.multi)
        self.raw_button.setEnabled(False)
        self.copy_button.setVisible(False)
        self.approve_button.setText(f"Approve {len(approvable):,}")
        self.approve_button.setEnabled(bool(approvable) and not self._busy)
        self.reject_button.setText(f"Reject {len(rows):,}")
        self.reject_button.setEnabled(not self._busy)

    def _update_header(self, row: QueueRow) -> None:
        self.title.setText(f"{row.number}  ·  {STATE_LABELS.get(row.state, row.state)}")
        details = [row.short_description or "(no short description)"]
        meta = " · ".join(part for part in (row.category, priority_label(row.priority), row.caller) if part)
        if meta:
            details.append(meta)
        if row.last_error:
            details.append(f"Last error: {row.last_error}")
        self.subtitle.setText("\n".join(details))

    def _load(self, row: QueueRow) -> None:
        self._generation += 1
        generation = self._generation
        self._preview = None
        self.header_widget.setVisible(True)
        self._update_header(row)
        self.error_banner.hide()
        self.warning_banner.hide()
        self.table.setRowCount(0)
        self.raw.setPlainText("")
        self.placeholder.set_text("Loading preview…", f"Mapping {row.number} to an Autotask ticket.")
        self.pages.setCurrentWidget(self.placeholder)
        self._update_buttons()
        self._loader.start(self._fetch(row.number, generation))

    async def _fetch(self, number: str, generation: int) -> None:
        preview = await self.engine.preview(number)
        if generation != self._generation:
            return  # the selection moved on while we waited
        self._render(preview)

    def _preview_failed(self, error: BaseException) -> None:
        log.warning("preview failed: %s", error)
        self._preview = None
        self.placeholder.set_text("No preview", f"The preview could not be built: {error}")
        self.pages.setCurrentWidget(self.placeholder)
        self._update_buttons()

    # ---- rendering ----------------------------------------------------------------------------
    def _render(self, preview: Preview) -> None:
        self._preview = preview
        errors = list(preview.errors)
        for item in preview.fields:
            if item.error and not any(item.error in known for known in errors):
                errors.append(f"{item.target}: {item.error}")
        if errors:
            self.error_banner.set_text("Cannot be pushed: " + "; ".join(errors))
            self.error_banner.show()
        else:
            self.error_banner.hide()
        if preview.warnings:
            self.warning_banner.set_text("\n".join(f"• {text}" for text in preview.warnings))
            self.warning_banner.show()
        else:
            self.warning_banner.hide()

        warn_brush = QBrush(tint(Tone.WARNING))
        error_brush = QBrush(tint(Tone.ERROR))
        warn_icon = tone_icon(Tone.WARNING, self)
        error_icon = tone_icon(Tone.ERROR, self)
        error_text = QBrush(foreground(Tone.ERROR))
        self.table.setRowCount(len(preview.fields))
        for row_number, item in enumerate(preview.fields):
            sources = "\n".join(f"{name} = {value}" for name, value in item.sources) or "—"
            rule_lines = [item.rule]
            rule_lines += [f"⚠ {text}" for text in item.warnings]
            if item.error:
                rule_lines.append(f"✖ {item.error}")
            cells = [
                QTableWidgetItem(item.target),
                QTableWidgetItem(item.display),
                QTableWidgetItem(sources),
                QTableWidgetItem("\n".join(rule_lines)),
            ]
            tooltip = "\n".join([*item.warnings, *([item.error] if item.error else [])])
            for column, cell in enumerate(cells):
                cell.setTextAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
                if tooltip:
                    cell.setToolTip(tooltip_text(tooltip))
                elif column == COL_VALUE:
                    cell.setToolTip(tooltip_text(item.display))
                if item.error:
                    cell.setBackground(error_brush)
                elif item.warnings:
                    cell.setBackground(warn_brush)
                if not item.sent and column == COL_VALUE:
                    cell.setForeground(QBrush(self.palette().placeholderText()))
            if item.error:
                cells[COL_TARGET].setIcon(error_icon)
                cells[COL_RULE].setForeground(error_text)
            elif item.warnings:
                cells[COL_TARGET].setIcon(warn_icon)
            for column, cell in enumerate(cells):
                self.table.setItem(row_number, column, cell)
        self.table.resizeRowsToContents()
        self.raw.setPlainText(preview.to_json())
        self.pages.setCurrentWidget(self.raw if self.raw_button.isChecked() else self.table)
        self._update_buttons()
        self.previewShown.emit(preview.number)

    def _toggle_raw(self, checked: bool) -> None:
        if self._preview is None:
            return
        self.pages.setCurrentWidget(self.raw if checked else self.table)
        self.copy_button.setVisible(checked)

    def _copy_json(self) -> None:
        QGuiApplication.clipboard().setText(self.raw.toPlainText())
        self.message.emit("Ticket JSON copied to the clipboard")

    def _update_buttons(self) -> None:
        if len(self._rows) > 1:
            self._show_many(self._rows)
            return
        row = self._rows[0] if self._rows else None
        preview_ok = self._preview is not None and self._preview.ok
        self.approve_button.setText("Approve")
        self.reject_button.setText("Reject")
        self.approve_button.setEnabled(
            row is not None and row.state in APPROVABLE and preview_ok and not self._busy
        )
        if self._preview is not None and not self._preview.ok:
            self.approve_button.setToolTip("Fix the problems in the red banner first")
        else:
            self.approve_button.setToolTip("Create this Autotask ticket now (Ctrl+Return)")
        self.reject_button.setEnabled(row is not None and row.state != "rejected" and not self._busy)
        self.raw_button.setEnabled(self._preview is not None)
        self.copy_button.setVisible(self._preview is not None and self.raw_button.isChecked())

    # ---- actions ------------------------------------------------------------------------------
    def approve_selected(self) -> None:
        if not self.approve_button.isEnabled() or self._busy:
            return
        rows = [row for row in self._rows if row.state in APPROVABLE]
        if not rows:
            return
        if len(self._rows) > 1:
            answer = QMessageBox.question(
                self,
                "Approve incidents",
                confirm_bulk_text(len(rows)),
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._run("approve", [row.number for row in rows])

    def reject_selected(self) -> None:
        if not self.reject_button.isEnabled() or self._busy:
            return
        rows = [row for row in self._rows if row.state != "rejected"]
        if rows:
            self._run("reject", [row.number for row in rows])

    def _run(self, action: str, keys: list[str]) -> None:
        self._busy = True
        self.approve_button.setEnabled(False)
        self.reject_button.setEnabled(False)
        spawn(self._act(action, keys), name=f"{action}-{len(keys)}", on_error=self._action_failed)

    async def _act(self, action: str, keys: list[str]) -> None:
        try:
            if action == "approve":
                results = await self.engine.approve(keys)
            else:
                results = await self.engine.reject(keys)
        finally:
            self._busy = False
            self._update_buttons()
        self._report(action, results)
        self.actionFinished.emit(action, results)

    def _report(self, action: str, results: list[ActionResult]) -> None:
        done = [result for result in results if result.ok]
        failed = [result for result in results if not result.ok]
        verb = "Approved" if action == "approve" else "Rejected"
        text = f"{verb} {plural(len(done), 'incident')}"
        if failed:
            text += f"; {len(failed)} not: " + "; ".join(f"{r.key}: {r.message}" for r in failed[:3])
        self.message.emit(text)

    def _action_failed(self, error: BaseException) -> None:
        self._busy = False
        self._update_buttons()
        self.message.emit(f"Action failed: {error}")
        message_box(self, QMessageBox.Icon.Warning, "Triage Sync", f"The action failed:\n{error}")
