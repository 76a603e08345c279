"""The Queue tab: filter bar, the queue table (or its empty state) and the preview pane."""

from __future__ import annotations

import asyncio
import html
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.engine.views import QueueRow
from app.ui.claims import loop_running
from app.ui.desk_actions import EDITABLE
from app.ui.focus_ring import add_focus_ring
from app.ui.format import desk_user, plural
from app.ui.preview_pane import PreviewPane
from app.ui.queue_cells import QueueCells
from app.ui.queue_model import (
    ACTIVE_STATES,
    COL_AGE,
    COL_ATTEMPTS,
    COL_CALLER,
    COL_CATEGORY,
    COL_DESCRIPTION,
    COL_NUMBER,
    COL_PRIORITY,
    COL_STATE,
    NEEDS_ATTENTION,
    STATE_FILTERS,
    VISIBLE_STATES,
    QueueModel,
)
from app.ui.tasks import spawn
from app.ui.widgets import EmptyState, add_record_actions, show_row_menu

if TYPE_CHECKING:
    from app.engine.api import EngineAPI

EVENT_SLICE = 500  # queue events applied per turn of the event loop
# During a burst (a poll queueing thousands) the table changes, and repaints, at most this often:
# each full repaint is several ms of the GUI thread, and nobody reads rows arriving 20 times a second.
APPLY_SPACING_MS = 250
#: The counts (filter, tab title, tooltip) change at most this often during a burst: each new text
#: lays out and repaints the filter bar and the tab bar, and nobody reads counts 4 times a second.
COUNTS_SPACING_MS = 1000

log = logging.getLogger(__name__)

REVIEWERS_REFRESH_MS = 15_000  # one small read: the claims that have not expired


class QueueTab(QWidget):
    countChanged = Signal(int)  # rows in the model (for the tab title and tray)
    whyNot = Signal(str)  # number: explain it in the "Why not?" panel
    message = Signal(str)

    def __init__(
        self, engine: EngineAPI, trigger_lines: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.trigger_lines = list(trigger_lines)
        self.reason_dialog: QInputDialog | None = None
        self.model = QueueModel(self)
        self.model.desk = desk_user(engine.config)
        self.model.set_states(ACTIVE_STATES)  # the first choice of "Show"

        self.search = QLineEdit()
        # Short enough for the narrowest field (it was cut in the dark theme's larger font at 1280 px).
        self.search.setPlaceholderText("Filter the queue")
        self.search.setToolTip("Filter by incident number, description, category or caller (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(220)
        self.search.setAccessibleName("Filter the queue")
        self.state_filter = QComboBox()
        self.state_filter.setAccessibleName("Show states")
        self.state_filter.setToolTip("Active = waiting for approval, approved, pushing or failed")
        for label, states in STATE_FILTERS:
            self.state_filter.addItem(label, list(states))
        self.count_label = QLabel()
        self._reloading = False
        self._pending: list[ItemQueued | ItemUpdated | ItemRemoved] = []
        self._slice_timer = QTimer(self)
        self._slice_timer.setSingleShot(True)
        self._slice_timer.timeout.connect(self._apply_slice)
        self._applied_at = -1.0  # monotonic seconds of the last change shown
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)  # debounce typing over 100k rows
        self._filter_timer.timeout.connect(lambda: self.model.set_text(self.search.text()))
        self.search.textChanged.connect(lambda _text: self._filter_timer.start())
        self.state_filter.currentIndexChanged.connect(self._state_filter_changed)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.search, 1)
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.state_filter)
        bar.addWidget(self.count_label)

        self.view = QTableView()
        # The view paints from cells Qt holds (the rows on screen), never asking Python per cell.
        self.cells = QueueCells(self.model, self)
        self.cells.attach(self.view)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(NEEDS_ATTENTION, Qt.SortOrder.AscendingOrder)  # failed, priority, age
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.verticalHeader().hide()
        self.view.setTabKeyNavigation(False)  # Tab moves between panes, not from cell to cell
        self.view.setAccessibleName("Queue")
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        add_focus_ring(self.view)
        vertical = self.view.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: fast with 100k
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setHighlightSections(False)
        # The description takes what is left: nothing essential needs horizontal scrolling.
        widths = {
            COL_NUMBER: 92,
            COL_CATEGORY: 78,
            COL_PRIORITY: 96,
            COL_CALLER: 100,
            COL_AGE: 64,
            COL_STATE: 92,
            COL_ATTEMPTS: 150,
        }
        for column, width in widths.items():
            header.resizeSection(column, width)
        header.setSectionResizeMode(COL_DESCRIPTION, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(48)
        self.view.setColumnHidden(COL_ATTEMPTS, True)  # the error is in the state tooltip and preview
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)

        self.empty = EmptyState("", "")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.view)
        self.stack.addWidget(self.empty)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(4, 4, 4, 4)
        left_layout.setSpacing(6)
        left_layout.addLayout(bar)
        left_layout.addWidget(self.stack, 1)

        self.preview = PreviewPane(engine)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.preview)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        # First start: the queue gets room for its state column; the user's split is restored later.
        self.splitter.setSizes([780, 500])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.preview.install_shortcuts(self)
        open_preview = QShortcut(QKeySequence(Qt.Key.Key_Return), self.view)
        open_preview.setContext(Qt.ShortcutContext.WidgetShortcut)
        open_preview.activated.connect(self.open_preview)
        enter = QShortcut(QKeySequence(Qt.Key.Key_Enter), self.view)
        enter.setContext(Qt.ShortcutContext.WidgetShortcut)
        enter.activated.connect(self.open_preview)
        back = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.preview)
        back.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        back.activated.connect(self.view.setFocus)

        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.preview.actionStarted.connect(self._decided)
        for signal in (self.model.rowsInserted, self.model.rowsRemoved, self.model.modelReset):
            signal.connect(self._schedule_counts)
        self.model.layoutChanged.connect(self._schedule_counts)
        self._held_back: frozenset[str] = frozenset()  # rejects waiting for their Undo window
        self._focus_on_arrival = False  # see focus_first
        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counted_at = -math.inf  # monotonic seconds of the last count update
        self._counts_timer.timeout.connect(self._update_counts)
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(30_000)
        self._age_timer.timeout.connect(lambda: self.model.refresh_ages())
        self._age_timer.start()
        # Who else has which incident open ("anna is reviewing"): claims come and go on other desks.
        self._claims_timer = QTimer(self)
        self._claims_timer.setInterval(REVIEWERS_REFRESH_MS)
        self._claims_timer.timeout.connect(self._reviewers_tick)
        self._claims_timer.start()
        self._update_counts()

    # ---- data ---------------------------------------------------------------------------------
    async def reload(self) -> None:
        """Every row from the engine. The index (sort keys, search text, order) is built in a worker
        thread; queue events arriving meanwhile wait and are applied on top, so none is lost."""
        self._reloading = True
        try:
            rows = await self.engine.list_queue(states=sorted(VISIBLE_STATES))
            prepared = await asyncio.to_thread(self.model.prepare, rows)
            self.model.adopt(prepared)
        finally:
            self._reloading = False
        self._apply_slice()
        self._update_counts()

    def _reviewers_tick(self) -> None:
        if self.isVisible():
            self.reviewers_changed()

    def reviewers_changed(self) -> None:
        """Another desk claimed or released an incident (the change feed said so): re-read now."""
        if loop_running():
            spawn(self.refresh_reviewers(), name="reviewers", on_error=self._reviewers_failed)
            self.preview.claims.recheck()  # the open item's "ben is reviewing" line too

    async def refresh_reviewers(self) -> None:
        """Show the current claims in the rows (on the change feed's word, and every few seconds)."""
        self.model.set_reviewers(await self.engine.reviewing())

    def _reviewers_failed(self, error: BaseException) -> None:
        log.warning("who is reviewing could not be read: %s", error)  # advisory: the queue works on

    def apply_events(self, events: Sequence[ItemQueued | ItemUpdated | ItemRemoved]) -> None:
        """Queue events in slices of EVENT_SLICE per turn of the event loop: a poll that queues
        5,000 incidents never holds the GUI thread for longer than one slice. A change after a
        quiet spell shows at once; during a burst, at most every APPLY_SPACING_MS."""
        self._pending.extend(events)
        if self._reloading or self._slice_timer.isActive():
            return
        wait_ms = APPLY_SPACING_MS - (time.monotonic() - self._applied_at) * 1000
        if wait_ms <= 0:
            self._apply_slice()
        else:
            self._slice_timer.start(math.ceil(wait_ms))

    def _apply_slice(self) -> None:
        if self._reloading or not self._pending:
            return
        events = self._pending[:EVENT_SLICE]
        del self._pending[:EVENT_SLICE]
        self._apply_now(events)
        self._applied_at = time.monotonic()
        if self._pending:  # a backlog drains a slice per turn, after whatever waits (paint, input)
            self._slice_timer.start(0 if len(events) == EVENT_SLICE else APPLY_SPACING_MS)

    @property
    def pending_events(self) -> int:
        """Queue events received and not yet shown (tests, diagnostics)."""
        return len(self._pending)

    def _apply_now(self, events: Sequence[ItemQueued | ItemUpdated | ItemRemoved]) -> None:
        selected = {row.sys_id for row in self.selected_rows()}
        position = self.view.currentIndex().row()
        self.model.apply(events)
        if selected and not self.selected_rows() and self.model.rowCount():
            # The selected incident left the list (pushed by auto-push, dropped): like a mail
            # client, the one that took its place is shown, never a frozen pane.
            self._select_position(min(max(position, 0), self.model.rowCount() - 1))
        elif selected and any(self._key(event) in selected for event in events):
            self._refresh_preview()
        self._schedule_counts()

    def _decided(self, _action: str, numbers: list[str]) -> None:
        """After a decision move on to the next undecided incident, as a mail client does."""
        decided = set(numbers)
        found = (self.model.position_of_number(number) for number in decided)
        positions = [position for position in found if position is not None]
        if not positions:
            return
        following = range(max(positions) + 1, self.model.rowCount())
        before = range(min(positions) - 1, -1, -1)
        for stretch in (following, before):  # lazily: a 100,000-row queue is not walked
            for position in stretch:
                if self.model.row_at(position).number not in decided:
                    self._select_position(position)
                    return
        self.view.clearSelection()

    def hold_back(self, numbers: list[str]) -> None:
        """Hide incidents whose reject waits for its Undo window."""
        self.model.set_held(numbers)
        self._held_back = frozenset(numbers)
        self._schedule_counts()

    def release(self, numbers: list[str], *, select: bool = False) -> None:
        self.model.set_held([])
        self._held_back = frozenset()
        self._schedule_counts()
        if select and numbers:
            self.select_number(numbers[0])

    def open_preview(self) -> None:
        """Enter: the selected incident's preview takes the focus (Escape comes back)."""
        if not self.selected_rows():
            index = self.view.currentIndex()
            if not index.isValid():
                return
            self._select_position(index.row())
        self.preview.focus_content()

    def focus_first(self) -> None:
        """Start-up: the keyboard is in the queue, on its first row (on the first to arrive when
        the queue starts empty)."""
        self._focus_on_arrival = self.model.rowCount() == 0
        self.view.setFocus()
        if self.model.rowCount() and not self.selected_rows():
            self._select_position(0)

    # ---- right-click ---------------------------------------------------------------------------
    def _context_menu(self, point: QPoint) -> None:
        current_row = self.view.currentIndex
        show_row_menu(self.view, point, self._row_at, lambda _row: self.row_menu(current_row().row()))

    def row_menu(self, position: int) -> QMenu:
        """The actions for one row (also what Shift+F10 / the menu key open)."""
        row = self._row(position)
        menu = QMenu(self)
        if row is None:
            return menu
        if not any(selected.sys_id == row.sys_id for selected in self.selected_rows()):
            self._select_position(position)
        add_record_actions(menu, self.engine, self.message, row.sys_id, row.number, None, "")
        why = menu.addAction("&Why not? / Why?")
        why.triggered.connect(lambda: self.whyNot.emit(row.number))
        menu.addSeparator()
        if row.state == "rejected":
            restore = menu.addAction("&Restore to the queue")
            restore.triggered.connect(lambda: self.restore([row.number]))
        else:
            approve = menu.addAction("&Approve")
            approve.setEnabled(row.state in ("pending", "failed"))
            approve.triggered.connect(self.preview.approve_selected)
            reject = menu.addAction("&Reject")
            reject.triggered.connect(self.preview.reject_selected)
            with_reason = menu.addAction("Reject with a r&eason…")
            with_reason.triggered.connect(
                lambda: self.ask_reject_reason([r.number for r in self.selected_rows()])
            )
            if row.duplicate_of and row.state in EDITABLE:
                duplicate = menu.addAction(f"Reject as &duplicate of {row.duplicate_of}")
                duplicate.setShortcut(QKeySequence("Ctrl+D"))
                duplicate.triggered.connect(self.preview.desk.reject_as_duplicate_selected)
            edit = menu.addAction("&Edit ticket fields…")
            edit.setShortcut(QKeySequence("Ctrl+E"))
            edit.setEnabled(row.state in EDITABLE and len(self.selected_rows()) == 1)
            edit.triggered.connect(self.edit_fields)
        if row.state == "failed":
            retry = menu.addAction("Re&try now")
            retry.triggered.connect(lambda: self.retry([row.number]))
        return menu

    def edit_fields(self) -> None:
        """The selected incident's ticket fields, in the preview's editor."""
        if self.preview.edit_button.isEnabled():
            self.preview.edit_button.setChecked(True)

    def ask_reject_reason(self, numbers: list[str]) -> QInputDialog:
        """A small window asks why; OK rejects with that reason, Cancel does nothing."""
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Reject with a reason")
        dialog.setLabelText(
            f"Why should {', '.join(numbers[:3])}{' …' if len(numbers) > 3 else ''} stay out of Autotask?"
        )
        dialog.setTextValue("")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda reason: self.preview.reject_with_reason(numbers, reason))
        self.reason_dialog = dialog
        dialog.open()
        return dialog

    def restore(self, numbers: list[str]) -> None:
        spawn(
            self._restore(numbers),
            name="restore",
            on_error=lambda e: self.message.emit(f"Restore failed: {e}"),
        )

    async def _restore(self, numbers: list[str]) -> None:
        results = await self.engine.restore(numbers, by=desk_user(self.engine.config))
        done = [result.key for result in results if result.ok]
        self.message.emit(f"Restored {', '.join(done)} to the queue" if done else "Nothing restored")

    def retry(self, numbers: list[str]) -> None:
        spawn(self._retry(numbers), name="retry", on_error=lambda e: self.message.emit(f"Retry failed: {e}"))

    async def _retry(self, numbers: list[str]) -> None:
        results = await self.engine.retry(numbers, by=desk_user(self.engine.config))
        failed = [f"{result.key}: {result.message}" for result in results if not result.ok]
        self.message.emit("; ".join(failed) if failed else f"Retrying {', '.join(numbers)}")

    def _select_position(self, position: int) -> None:
        self._select_only(self.cells.index(position, COL_NUMBER))
        self._refresh_preview()

    def _select_only(self, index: QModelIndex) -> None:
        """Make ``index``'s row the one selected row. Not selectRow(): it follows the modifiers
        held at the time, so after Ctrl+Return or Ctrl+Z the next row was added to the selection
        (two selected, no preview) instead of replacing it."""
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().setCurrentIndex(index, flags)
        self.view.scrollTo(index)

    @staticmethod
    def _key(event: ItemQueued | ItemUpdated | ItemRemoved) -> str:
        return event.sys_id if isinstance(event, ItemRemoved) else event.row.sys_id

    def selected_rows(self) -> list[QueueRow]:
        rows: list[QueueRow] = []
        selection = self.view.selectionModel()
        if selection is None:
            return rows
        for index in selection.selectedRows(COL_NUMBER):
            row = self._row_at(index)
            if row is not None:
                rows.append(row)
        return rows

    def _row(self, position: int) -> QueueRow | None:
        """The queue row shown at ``position`` (None past either end)."""
        return self.model.row_at(position) if 0 <= position < self.model.rowCount() else None

    def _row_at(self, index: QModelIndex) -> QueueRow | None:
        """The queue row at a view index (the view's cells hold text, not rows)."""
        return self._row(index.row())

    def select_number(self, number: str) -> bool:
        position = self.model.position_of_number(number)
        if position is None:
            return False
        self._select_only(self.cells.index(position, COL_NUMBER))
        return True

    # ---- slots --------------------------------------------------------------------------------
    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        self.preview.set_rows(self.selected_rows())

    def _state_filter_changed(self, _index: int) -> None:
        states = self.state_filter.currentData()
        self.model.set_states(states if isinstance(states, list) else [])
        self._update_counts()

    def _schedule_counts(self, *_args: object) -> None:
        """Counts follow changes 50 ms later after a quiet spell, at most every COUNTS_SPACING_MS
        during a burst."""
        if not self._counts_timer.isActive():
            since_ms = (time.monotonic() - self._counted_at) * 1000
            self._counts_timer.start(max(50, math.ceil(COUNTS_SPACING_MS - since_ms)))

    def select_state_filter(self, label: str) -> None:
        """Choose a filter by its name ("Rejected"), whatever count its text carries."""
        for position, (name, _states) in enumerate(STATE_FILTERS):
            if name == label:
                self.state_filter.setCurrentIndex(position)
                return
        raise ValueError(f"no state filter named {label!r}")

    def state_counts(self) -> dict[str, int]:
        counts = self.model.state_counts()  # kept up to date by the model, never recounted
        for number in self._held_back:  # as the list shows them: rejected (their Undo is pending)
            row = self.model.row_for_number(number)
            if row is not None and row.state != "rejected":
                counts[row.state] -= 1
                counts["rejected"] += 1
        return counts

    def _update_counts(self) -> None:
        self._counted_at = time.monotonic()
        total = len(self.model)
        shown = self.model.rowCount()
        counts = self.state_counts()
        parts = [
            f"Waiting {counts['pending']:,}",
            f"Failed {counts['failed']:,}",
            f"Pushing {counts['pushing']:,}",
        ]
        self.count_label.setText(" · ".join(parts))
        self.count_label.setToolTip(
            (f"{shown:,} of {total:,} shown" if shown != total else plural(total, "incident"))
            + f"; approved {counts['approved']:,}, rejected {counts['rejected']:,}"
        )
        for position, (label, states) in enumerate(STATE_FILTERS):
            number = sum(counts.get(state, 0) for state in states)
            self.state_filter.setItemText(position, f"{label} ({number:,})")
        if shown:
            arrived = self.stack.currentWidget() is not self.view
            self.stack.setCurrentWidget(self.view)
            focus = QApplication.focusWidget()
            untouched = focus is None or (isinstance(focus, QLineEdit) and not focus.text())
            if arrived and self._focus_on_arrival and self.isVisible() and untouched:
                # Started on an empty queue (the demo, a quiet morning): the keyboard goes to the
                # first incidents when they arrive, unless the person has begun typing somewhere.
                self.view.setFocus()
            self._focus_on_arrival = False
            if arrived and self.view.hasFocus() and not self.view.selectionModel().hasSelection():
                # The demo's (or an empty morning's) first rows arrive after the window opened:
                # the keyboard lands on the first of them, not on nothing. Only on arrival: a
                # selection the person cleared stays cleared when the counts next change.
                self._select_position(0)
        else:
            if total:
                self.empty.set_text(
                    "No incident matches the filter",
                    "Clear the search or choose another state in <b>Show</b>.",
                    rich=True,
                )
            else:
                lines = "<br>".join(f"• {html.escape(line)}" for line in self.trigger_lines)
                self.empty.set_text(
                    "No incidents waiting.",
                    f"The trigger: an incident is queued when<br><br>{lines}<br><br>"
                    "New matches appear here after the next ServiceNow poll.",
                    rich=True,
                )
            self.stack.setCurrentWidget(self.empty)
        self.countChanged.emit(total)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        # A child widget hears of a new application palette as PaletteChange (only windows get
        # ApplicationPaletteChange): badge and failed-row colours for the new light or dark one.
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self.model.restyle()
        super().changeEvent(event)

    def focus_index(self) -> QModelIndex:
        return self.view.currentIndex()
