"""The preview's desk tools: reject a suspected duplicate in one click, and edit ticket fields.

Kept apart from the preview pane (which shows the ticket and approves/rejects) so each stays one
job: this module talks to the engine for the two desk actions and feeds back what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

from app.engine.views import ActionResult, QueueRow
from app.ui.format import desk_user, plural
from app.ui.tasks import spawn

if TYPE_CHECKING:
    from app.ui.preview_pane import PreviewPane

# States in which a person may still change the ticket's fields or reject the incident.
EDITABLE = frozenset({"pending", "approved", "failed"})


def duplicate_sentence(row: QueueRow) -> str:
    note = row.duplicate_note or f"possible duplicate of {row.duplicate_of}"
    held = (
        " Auto-push leaves it for you: reject it as a duplicate, or approve it if it is a problem of its own."
    )
    return note[:1].upper() + note[1:] + "." + (held if row.state == "pending" else "")


def duplicate_suspects(rows: Sequence[QueueRow]) -> list[QueueRow]:
    return [row for row in rows if row.duplicate_of and row.state in EDITABLE]


class DeskActions(QObject):
    def __init__(self, pane: PreviewPane) -> None:
        super().__init__(pane)
        self.pane = pane
        pane.duplicate_banner.actionTriggered.connect(self.reject_as_duplicate_selected)
        pane.editor.saveRequested.connect(self._save)
        pane.editor.clearRequested.connect(self._clear)
        pane.editor.cancelled.connect(lambda: pane.edit_button.setChecked(False))

    def install_shortcuts(self, scope: QWidget) -> None:
        """Ctrl+D rejects the selected suspected duplicate(s); Ctrl+E edits the ticket's fields."""
        for keys, slot in (("Ctrl+D", self.reject_as_duplicate_selected), ("Ctrl+E", self.toggle_editing)):
            shortcut = QShortcut(QKeySequence(keys), scope)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)

    # ---- suspected duplicates ---------------------------------------------------------------
    def show_duplicate(self, row: QueueRow) -> None:
        banner = self.pane.duplicate_banner
        if not row.duplicate_of or row.state not in EDITABLE:
            banner.hide()
            return
        banner.set_text(duplicate_sentence(row))
        if banner.button is not None:
            banner.button.setText(f"Reject as &duplicate of {row.duplicate_of}")
            banner.button.setToolTip("Rejects it with the reason recorded, and who decided (Ctrl+D)")
        banner.show()

    def reject_as_duplicate_selected(self) -> None:
        rows = duplicate_suspects(self.pane.rows)
        if not rows:
            self.pane.message.emit("None of the selected incidents is a suspected duplicate")
            return
        self.reject_as_duplicates(rows)

    def reject_as_duplicates(self, rows: Sequence[QueueRow]) -> None:
        """Reject each suspect with the reason "duplicate of INC…" (its own primary), recorded at once."""
        numbers = [row.number for row in rows]
        self.pane.actionStarted.emit("reject", numbers)
        spawn(self._reject(list(rows)), name="reject-duplicates", on_error=self.pane._action_failed)

    async def _reject(self, rows: list[QueueRow]) -> None:
        by = desk_user(self.pane.engine.config)
        results: list[ActionResult] = []
        by_primary: dict[str, list[str]] = {}
        for row in rows:
            by_primary.setdefault(row.duplicate_of or "", []).append(row.number)
        for primary, numbers in by_primary.items():
            results += await self.pane.engine.reject(numbers, by=by, reason=f"duplicate of {primary}")
        done = [result.key for result in results if result.ok]
        failed = [f"{result.key}: {result.message}" for result in results if not result.ok]
        if len(by_primary) == 1 and done:
            text = f"Rejected {', '.join(done)} as a duplicate of {next(iter(by_primary))}"
        else:
            text = f"Rejected {plural(len(done), 'incident')} as duplicates"
        if failed:
            text += "; not: " + "; ".join(failed[:3])
        self.pane.message.emit(text)
        self.pane.actionFinished.emit("reject", results)

    # ---- edit ticket fields -----------------------------------------------------------------
    def toggle_editing(self) -> None:
        button = self.pane.edit_button
        if button.isEnabled():
            button.setChecked(not button.isChecked())
        elif not button.isChecked():
            self.pane.message.emit("Select one incident waiting for approval to edit its ticket fields")

    def start_editing(self) -> None:
        spawn(
            self._load_choices(),
            name="override-choices",
            on_error=lambda error: self._refused(f"Could not read the Autotask picklists: {error}"),
        )

    async def _load_choices(self) -> None:
        choices = await self.pane.engine.override_choices()
        self.pane.show_editor(choices)

    def _refused(self, text: str) -> None:
        self.pane.editor.show_problem(text)
        self.pane.message.emit(text)

    def _row(self) -> QueueRow | None:
        rows = self.pane.rows
        return rows[0] if len(rows) == 1 else None

    def _save(self, values: dict[str, str | None]) -> None:
        row = self._row()
        if row is None:
            return
        if not values:
            self.pane.message.emit(f"Nothing changed on {row.number}'s ticket")
            self.pane.edit_button.setChecked(False)
            return
        spawn(
            self._apply(row.number, values),
            name="set-overrides",
            on_error=lambda error: self._refused(f"Could not change the fields: {error}"),
        )

    def _clear(self) -> None:
        row = self._row()
        if row is not None:
            spawn(
                self._apply(row.number, None),
                name="clear-overrides",
                on_error=lambda error: self._refused(f"Could not change the fields: {error}"),
            )

    async def _apply(self, number: str, values: dict[str, str | None] | None) -> None:
        engine = self.pane.engine
        by = desk_user(engine.config)
        if values is None:
            result = await engine.clear_overrides(number, by=by)
        else:
            result = await engine.set_overrides(number, values, by=by)
        if not result.ok:
            self._refused(result.message)
            return
        self.pane.message.emit(
            f"{number}: ticket fields back to the mapping"
            if values is None
            else f"{number}: ticket fields changed; the preview shows the ticket as it will be created"
        )
        self.pane.edit_button.setChecked(False)
        self.pane.reload()
