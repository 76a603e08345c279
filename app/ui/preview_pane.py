"""The preview of the exact Autotask ticket a queued incident would become, plus approve/reject.

For one selected incident the pane awaits ``engine.preview(number)`` and shows every target field
with its value, where it came from and the rule that produced it. Warnings are tinted rows with an
icon; errors (the pre-flight check) are a red banner and disable Approve. "Raw JSON" shows the body
exactly as it will be POSTed. Results that arrive after the selection moved on are ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
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
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.engine.views import ActionResult, OverrideChoices, QueueRow
from app.ui.claims import ClaimKeeper
from app.ui.desk_actions import EDITABLE, DeskActions
from app.ui.focus_ring import add_focus_ring
from app.ui.format import desk_user, plural, priority_label, reviewing_text
from app.ui.mapping_table import COL_FROM, COL_RULE, COL_TARGET, COL_VALUE, HEADERS, fill_mapping_table
from app.ui.override_editor import OverrideEditor
from app.ui.queue_model import STATE_LABELS
from app.ui.tasks import TaskSlot, spawn
from app.ui.theme import Tone, monospace_font, std_icon
from app.ui.ticket_view import TicketView, field_label
from app.ui.widgets import Banner, EmptyState, message_box, plain_label

if TYPE_CHECKING:
    from app.domain.outbound import Preview
    from app.engine.api import EngineAPI

log = logging.getLogger(__name__)

_HEADERS = HEADERS

APPROVABLE = frozenset({"pending", "failed", "rejected"})


def failure_sentence(row: QueueRow) -> str:
    """What went wrong, in one sentence a person understands, and what to do."""
    cause = (row.last_error or "no reason was given").rstrip(".")
    tries = f" after {plural(row.attempts, 'attempt')}" if row.attempts > 1 else ""
    return (
        f"Autotask did not create this ticket{tries}: {cause}. Retry once the cause is fixed, or reject it."
    )


def confirm_bulk_text(count: int) -> str:
    return f"Create {count} Autotask ticket{'s' if count != 1 else ''}?"


NOTHING_SELECTED = "Select an incident first: Up and Down move through the queue."


class PreviewPane(QWidget):
    """Right-hand side of the Queue tab."""

    message = Signal(str)  # short feedback for the status bar
    previewShown = Signal(str)  # number, once a preview is rendered (tests, diagnostics)
    actionFinished = Signal(str, object)  # "approve"/"reject", list[ActionResult]
    actionStarted = Signal(str, object)  # "approve"/"reject", list of numbers decided

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._rows: list[QueueRow] = []
        self._preview: Preview | None = None
        self._generation = 0
        self._loader = TaskSlot("preview", on_error=self._preview_failed)
        self._busy = False
        # Set by the window: a reject waits for its Undo window instead of going out at once.
        self.defer_reject: Callable[[list[str]], None] | None = None
        # This desk's soft claim on the open item; the others see "<name> is reviewing".
        self.claims = ClaimKeeper(engine, self, self._claims_changed)
        self._deferred_seen: dict[str, str] = {}  # rejects waiting for their Undo window

        # header: number, description, actions
        self.title = plain_label()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.title.setFont(font)
        self.subtitle = plain_label()
        self.subtitle.setWordWrap(True)
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.approve_button = QPushButton(std_icon(QStyle.StandardPixmap.SP_DialogApplyButton), "&Approve")
        self.approve_button.setToolTip("Create this Autotask ticket now (Ctrl+Return)")
        self.approve_button.setDefault(True)
        self.reject_button = QPushButton(std_icon(QStyle.StandardPixmap.SP_DialogDiscardButton), "&Reject")
        self.reject_button.setToolTip("Keep this incident out of Autotask (Delete)")
        self.mapping_button = QToolButton()
        self.mapping_button.setText("&How was this mapped?")
        self.mapping_button.setCheckable(True)
        self.mapping_button.setToolTip("Each field with where it came from and the rule that made it")
        self.raw_button = QToolButton()
        self.raw_button.setText("Ra&w JSON")
        self.raw_button.setCheckable(True)
        self.raw_button.setToolTip("Show the request body exactly as it will be sent")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setIcon(std_icon(QStyle.StandardPixmap.SP_FileDialogDetailedView))
        self.copy_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.copy_button.setToolTip("Copy the JSON body to the clipboard")
        self.copy_button.setVisible(False)
        self.edit_button = QToolButton()
        self.edit_button.setText("&Edit ticket fields")
        self.edit_button.setCheckable(True)
        self.edit_button.setToolTip("Change queue, priority, issue type or title of this one ticket (Ctrl+E)")

        self.approve_button.clicked.connect(self.approve_selected)
        self.reject_button.clicked.connect(self.reject_selected)
        self.raw_button.toggled.connect(self._toggle_raw)
        self.mapping_button.toggled.connect(self._toggle_mapping)
        self.edit_button.toggled.connect(self._toggle_edit)
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
        actions.addWidget(self.edit_button)
        actions.addWidget(self.mapping_button)
        actions.addWidget(self.raw_button)
        actions.addWidget(self.copy_button)

        self.error_banner = Banner(Tone.ERROR)
        self.error_banner.hide()
        # A failed push says so first, in red, in one sentence; its buttons become Retry / Reject.
        self.failed_banner = Banner(Tone.ERROR)
        self.failed_banner.setAccessibleName("Push failed")
        self.failed_banner.hide()
        self.warning_banner = Banner(Tone.WARNING)
        self.warning_banner.hide()
        # A suspected duplicate says so first, with the one-click reject (Ctrl+D).
        self.duplicate_banner = Banner(Tone.WARNING, action="Reject as duplicate")
        self.duplicate_banner.setAccessibleName("Possible duplicate")
        self.duplicate_banner.hide()

        self.table = QTableWidget(0, len(_HEADERS))
        self.table.setHorizontalHeaderLabels(list(_HEADERS))
        self.table.verticalHeader().hide()
        self.table.setTabKeyNavigation(False)
        self.table.setAccessibleName("Ticket preview")
        add_focus_ring(self.table)
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
        self.raw.setAccessibleName("Ticket as JSON")

        self.placeholder = EmptyState("Select an incident", "Its Autotask ticket preview appears here.")
        self.multi = EmptyState("", "")

        self.pages = QStackedWidget()
        self.pages.addWidget(self.placeholder)  # 0
        self.pages.addWidget(self.table)  # 1
        self.pages.addWidget(self.raw)  # 2
        self.pages.addWidget(self.multi)  # 3
        self.ticket = TicketView()
        self.pages.addWidget(self.ticket)  # 4: the default view of one incident
        self.editor = OverrideEditor()
        self.pages.addWidget(self.editor)  # 5: "Edit ticket fields"
        self.desk = DeskActions(self)

        self.header_widget = QWidget()
        header_layout = QVBoxLayout(self.header_widget)
        header_layout.setContentsMargins(0, 0, 0, 0)
        header_layout.setSpacing(8)
        header_layout.addLayout(head)
        header_layout.addLayout(actions)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.setSpacing(8)
        layout.addWidget(self.failed_banner)
        layout.addWidget(self.duplicate_banner)
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
        self.desk.install_shortcuts(scope)

    def focus_content(self) -> None:
        """Enter in the queue: the preview (its table, else the Approve button) takes the focus."""
        page = self.pages.currentWidget()
        if page is self.editor:
            self.editor.focus_first()
            return
        target = page if page in (self.table, self.raw, self.ticket) else self.approve_button
        target.setFocus()

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
        self.claims.follow(self._rows)
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
        self.failed_banner.hide()
        self.duplicate_banner.hide()
        self.edit_button.setChecked(False)
        self.placeholder.set_text("Select an incident", "Its Autotask ticket preview appears here.")
        self.header_widget.setVisible(False)
        self.error_banner.hide()
        self.warning_banner.hide()
        self.pages.setCurrentWidget(self.placeholder)

    def _show_many(self, rows: Sequence[QueueRow]) -> None:
        self._preview = None
        self.failed_banner.hide()
        self.duplicate_banner.hide()
        self.edit_button.setChecked(False)
        self.edit_button.setEnabled(False)
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
        self.approve_button.setText(f"&Approve {len(approvable):,}")
        self.approve_button.setEnabled(bool(approvable) and not self._busy)
        self.reject_button.setText(f"&Reject {len(rows):,}")
        self.reject_button.setEnabled(not self._busy)

    def _update_header(self, row: QueueRow) -> None:
        self.title.setText(f"{row.number}  ·  {STATE_LABELS.get(row.state, row.state)}")
        details = [row.short_description or "(no short description)"]
        meta = " · ".join(part for part in (row.category, priority_label(row.priority), row.caller) if part)
        if meta:
            details.append(meta)
        if row.decided_by and row.state in ("approved", "rejected", "pushing"):
            decided = f"{STATE_LABELS.get(row.state, row.state)} by {row.decided_by}"
            if row.state == "rejected" and row.drop_reason:
                decided += f": {row.drop_reason}"
            details.append(decided)
        if row.forced_reason:
            details.append(f"Pushed anyway by {row.decided_by or 'a user'}: {row.forced_reason}")
        if row.overrides:
            changed = ", ".join(field_label(target) for target in row.overrides)
            details.append(f"Ticket fields changed by {row.overridden_by or 'a user'}: {changed}")
        reviewing = reviewing_text(self.claims.others(row))
        if reviewing:
            details.append(f"{reviewing} this incident right now")
        self.subtitle.setText("\n".join(details))
        self.desk.show_duplicate(row)
        if row.state == "failed":
            self.failed_banner.set_text(failure_sentence(row))
            self.failed_banner.show()
        else:
            self.failed_banner.hide()

    def _claims_changed(self) -> None:
        if len(self._rows) == 1:
            self._update_header(self._rows[0])

    def _load(self, row: QueueRow) -> None:
        self.edit_button.setChecked(False)  # another incident (or a saved change): its ticket first
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

        fill_mapping_table(self.table, preview)
        self.table.resizeRowsToContents()
        self.raw.setPlainText(preview.to_json())
        self.ticket.show_ticket(preview, self._rows[0] if len(self._rows) == 1 else None)
        self.pages.setCurrentWidget(self._detail_page())
        self._update_buttons()
        self.previewShown.emit(preview.number)

    def _detail_page(self) -> QWidget:
        if self.edit_button.isChecked():
            return self.editor
        if self.raw_button.isChecked():
            return self.raw
        return self.table if self.mapping_button.isChecked() else self.ticket

    def _toggle_raw(self, checked: bool) -> None:
        if checked:
            self.mapping_button.setChecked(False)
        if self._preview is None:
            return
        self.pages.setCurrentWidget(self._detail_page())
        self.copy_button.setVisible(checked)

    def _toggle_mapping(self, checked: bool) -> None:
        if checked:
            self.raw_button.setChecked(False)
        if self._preview is not None:
            self.pages.setCurrentWidget(self._detail_page())

    def _toggle_edit(self, checked: bool) -> None:
        if checked:
            self.raw_button.setChecked(False)
            self.mapping_button.setChecked(False)
            self.desk.start_editing()
        elif self._preview is not None:
            self.pages.setCurrentWidget(self._detail_page())
        self._update_buttons()

    def show_editor(self, choices: OverrideChoices) -> None:
        """The choices arrived: fill the form from the preview shown and open it."""
        row = self._rows[0] if len(self._rows) == 1 else None
        if self._preview is None or row is None or not self.edit_button.isChecked():
            return
        self.editor.load(self._preview, choices, dict(row.overrides))
        self.pages.setCurrentWidget(self.editor)
        self.editor.focus_first()

    def reload(self) -> None:
        """Build the selected incident's preview again (after its fields were changed)."""
        if len(self._rows) == 1:
            self._load(self._rows[0])

    def _copy_json(self) -> None:
        QGuiApplication.clipboard().setText(self.raw.toPlainText())
        self.message.emit("Ticket JSON copied to the clipboard")

    def _update_buttons(self) -> None:
        if len(self._rows) > 1:
            self._show_many(self._rows)
            return
        row = self._rows[0] if self._rows else None
        preview_ok = self._preview is not None and self._preview.ok
        self.approve_button.setText("Re&try" if row is not None and row.state == "failed" else "&Approve")
        self.reject_button.setText("&Reject")
        self.approve_button.setEnabled(
            row is not None and row.state in APPROVABLE and preview_ok and not self._busy
        )
        if self._preview is not None and not self._preview.ok:
            self.approve_button.setToolTip("Fix the problems in the red banner first")
        elif row is not None and row.state == "failed":
            self.approve_button.setToolTip("Try to create this Autotask ticket again (Ctrl+Return)")
        else:
            self.approve_button.setToolTip("Create this Autotask ticket now (Ctrl+Return)")
        self.reject_button.setEnabled(row is not None and row.state != "rejected" and not self._busy)
        self.raw_button.setEnabled(self._preview is not None)
        self.mapping_button.setEnabled(self._preview is not None)
        self.edit_button.setEnabled(
            row is not None and row.state in EDITABLE and self._preview is not None and not self._busy
        )
        if self.edit_button.isChecked():  # save or cancel the edit first
            self.approve_button.setEnabled(False)
        self.copy_button.setVisible(self._preview is not None and self.raw_button.isChecked())

    # ---- actions ------------------------------------------------------------------------------
    def approve_selected(self) -> None:
        if not self._rows:  # a key pressed with nothing selected says so instead of doing nothing
            self.message.emit(NOTHING_SELECTED)
            return
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
        if not self._others_agree(rows):
            return
        if len(rows) == 1 and rows[0].state == "failed":
            self._run("retry", [rows[0].number])
            return
        self._run("approve", [row.number for row in rows])

    def _others_agree(self, rows: list[QueueRow]) -> bool:
        """Approving an item another desk has open asks first (their claim is soft: a Yes goes on)."""
        lines = self.claims.reviewing_lines(rows)
        if not lines:
            return True
        answer = QMessageBox.question(
            self,
            "Someone else is reviewing",
            "\n".join(lines[:5]) + "\nApprove anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            return True
        self.message.emit(f"Not approved: {lines[0]}")
        return False

    def reject_selected(self) -> None:
        if not self._rows:
            self.message.emit(NOTHING_SELECTED)
            return
        if not self.reject_button.isEnabled() or self._busy:
            return
        rows = [row for row in self._rows if row.state != "rejected"]
        if not rows:
            return
        numbers = [row.number for row in rows]
        if self.defer_reject is not None:
            self._deferred_seen.update(self._seen(numbers))  # sent after the Undo window
            self.actionStarted.emit("reject", numbers)
            self.defer_reject(numbers)
        else:
            self._run("reject", numbers)

    def reject_now(self, numbers: list[str]) -> None:
        """Send a reject whose Undo window has passed."""
        held = self._deferred_seen
        seen = {number: held.pop(number) for number in numbers if number in held}
        task = self._act("reject", numbers, None, seen)
        spawn(task, name=f"reject-{len(numbers)}", on_error=self._action_failed)

    def reject_with_reason(self, numbers: list[str], reason: str) -> None:
        """A reject someone explained: recorded at once with its reason (no Undo needed)."""
        self._busy = True
        seen = self._seen(numbers)
        self.actionStarted.emit("reject", numbers)
        spawn(
            self._act("reject", numbers, reason.strip() or None, seen),
            name=f"reject-{len(numbers)}",
            on_error=self._action_failed,
        )

    def _run(self, action: str, keys: list[str]) -> None:
        self._busy = True
        self.approve_button.setEnabled(False)
        self.reject_button.setEnabled(False)
        seen = self._seen(keys)
        self.actionStarted.emit(action, keys)
        spawn(self._act(action, keys, None, seen), name=f"{action}-{len(keys)}", on_error=self._action_failed)

    def _seen(self, keys: list[str]) -> dict[str, str]:
        """What this desk shows for these items now: a decision another desk made since wins, and
        the result says who (the store's compare against ``seen``)."""
        return {row.number: row.state for row in self._rows if row.number in keys}

    async def _act(
        self, action: str, keys: list[str], reason: str | None = None, seen: dict[str, str] | None = None
    ) -> None:
        by = desk_user(self.engine.config)  # the person at this desk, in the store and the audit
        seen = seen if seen is not None else self._seen(keys)
        try:
            if action == "approve":
                results = await self.engine.approve(keys, by=by, seen=seen)
            elif action == "retry":
                results = await self.engine.retry(keys, by=by, seen=seen)
            else:
                results = await self.engine.reject(keys, by=by, reason=reason, seen=seen)
        finally:
            self._busy = False
            self._update_buttons()
        self._report(action, results)
        self.actionFinished.emit(action, results)

    def _report(self, action: str, results: list[ActionResult]) -> None:
        done = [result for result in results if result.ok and result.status != "unchanged"]
        already = [result for result in results if result.ok and result.status == "unchanged"]
        failed = [result for result in results if not result.ok]
        verb = {"approve": "Approved", "retry": "Retrying"}.get(action, "Rejected")
        text = f"{verb} {plural(len(done), 'incident')}"
        if already:  # e.g. another desk approved it first: say who, not "Approved"
            text += "; " + "; ".join(result.message for result in already[:3])
        if failed:
            text += f"; {len(failed)} not: " + "; ".join(f"{r.key}: {r.message}" for r in failed[:3])
        self.message.emit(text)

    def _action_failed(self, error: BaseException) -> None:
        self._busy = False
        self._update_buttons()
        self.message.emit(f"Action failed: {error}")
        message_box(self, QMessageBox.Icon.Warning, "Triage Sync", f"The action failed:\n{error}")
