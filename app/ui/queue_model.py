"""The triage queue as a Qt table model, updated in place from engine events.

Rows live in display order beside their sort keys, search text and the filter
(app/ui/queue_rows.py), not behind a proxy's per-row Python callbacks. An update that keeps a row's
place emits a ``dataChanged`` for that row only; rows that arrive or leave are announced as one
``beginInsertRows``/``beginRemoveRows`` block per contiguous run (a layout change when they scatter);
``beginResetModel`` is used only for full reloads. That keeps a 100,000-row queue responsive.
The table does not paint from this model: it paints from the cells of the rows on screen, which
app/ui/queue_cells.py keeps in Qt's own item model (a Python model is asked per painted cell).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtGui import QBrush

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.engine.views import QueueRow
from app.ui.badges import BadgeRole, badge_brushes
from app.ui.format import humanize_age, local_time, now_utc, priority_label, reviewing_text, tooltip_text
from app.ui.queue_rows import QueueRows, RowFilter
from app.ui.table_model import ModelIndex, RowTableModel
from app.ui.theme import Tone, foreground, is_dark, tint

COL_NUMBER = 0
COL_DESCRIPTION = 1
COL_CATEGORY = 2
COL_PRIORITY = 3
COL_CALLER = 4
COL_AGE = 5
COL_STATE = 6
COL_ATTEMPTS = 7
_HEADERS = (
    "Number",
    "Short description",
    "Category",
    "Priority",
    "Caller",
    "Age",
    "State",
    "Attempts / error",
)
NEEDS_ATTENTION = COL_STATE  # the default sort: failed first, then priority, then age

RowRole = Qt.ItemDataRole.UserRole + 1  # the QueueRow
SortRole = Qt.ItemDataRole.UserRole + 2
_DISPLAY = Qt.ItemDataRole.DisplayRole.value
_ALIGNMENT = Qt.ItemDataRole.TextAlignmentRole.value
_FOREGROUND = Qt.ItemDataRole.ForegroundRole.value
_BACKGROUND = Qt.ItemDataRole.BackgroundRole.value
_CELL_ROLES = frozenset({_DISPLAY, _ALIGNMENT, _FOREGROUND, _BACKGROUND})  # == their enum members
_CENTRED = int(Qt.AlignmentFlag.AlignCenter)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

# States the queue shows; the rest (pushed, dropped) leave the view.
VISIBLE_STATES = frozenset({"pending", "approved", "pushing", "failed", "rejected"})
ACTIVE_STATES = ("pending", "approved", "pushing", "failed")
STATE_LABELS = {
    "pending": "Waiting for approval",
    "approved": "Approved",
    "pushing": "Pushing…",
    "pushed": "Pushed",
    "rejected": "Rejected",
    "failed": "Failed",
    "dropped": "Dropped",
}
# Badge text in the list (the preview title uses the long labels above).
STATE_BADGES = {
    "pending": "Waiting",
    "approved": "Approved",
    "pushing": "Pushing…",
    "rejected": "Rejected",
    "failed": "Failed",
    "duplicate": "Duplicate?",  # pending, and looks like a repeat of another incident
}
_STATE_ORDER = {"failed": 0, "pending": 1, "approved": 2, "pushing": 3, "rejected": 4}


def badge_state(row: QueueRow) -> str:
    """The state badge: a waiting suspected duplicate gets its own ("Duplicate?")."""
    return "duplicate" if row.duplicate_of and row.state == "pending" else row.state


def description_text(row: QueueRow) -> str:
    """A suspect is indented under its primary (listed just above it); its tooltip says why."""
    if row.duplicate_of and row.state in ("pending", "approved", "failed"):
        return f"↳ {row.short_description}"
    return row.short_description


def attempts_text(row: QueueRow) -> str:
    if row.last_error:
        return f"{row.attempts} · {row.last_error}" if row.attempts else row.last_error
    return str(row.attempts) if row.attempts else ""


class QueueModel(RowTableModel):
    """The rows the filter shows, in display order. ``len(model)`` counts every row held (all
    states the queue shows); ``rowCount()`` the shown ones. Filtering and sorting happen in
    :class:`QueueRows`; this class reports each change to Qt as narrowly as it can."""

    HEADERS = _HEADERS
    # Above this many changed rows in one batch, one spanning dataChanged beats many small ones.
    SPAN_THRESHOLD = 64
    # Above this many separate places, rows arrive or leave as one layout change, not block by block.
    RUN_THRESHOLD = 32

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue = QueueRows(QueueModel.sort_key, RowFilter(VISIBLE_STATES))
        #: This desk's name: its own claim is not news ("anna is reviewing" is for the others).
        self.desk = ""
        self._now: datetime = now_utc()
        self._reviewed: set[str] = set()  # rows shown with reviewers, as of the last set_reviewers
        self.restyle()

    def restyle(self) -> None:
        """Colours for the palette now in use: read once, not per painted cell."""
        self._dark = is_dark()
        self._failed_tint = QBrush(tint(Tone.ERROR, strength=0.1))
        self._error_text = QBrush(foreground(Tone.ERROR))
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0), self.index(self.rowCount() - 1, len(_HEADERS) - 1))

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._queue.shown)

    # ---- Qt API (asked by position; the view paints from app/ui/queue_cells.py) --------------------
    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        shown = self._queue.shown.rows
        if not index.isValid() or index.row() >= len(shown):
            return None
        row = shown[index.row()]
        column = index.column()
        if role in _CELL_ROLES:
            return self.cell(row, column).get(role)
        if role == RowRole:
            return row
        if role == BadgeRole:
            if column == COL_PRIORITY:
                return ("priority", row.priority)
            if column == COL_STATE:
                return ("state", badge_state(row))
            return None
        if role == SortRole:
            return self.sort_key(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        return None

    def cell(self, row: QueueRow, column: int) -> dict[int, Any]:
        """The roles a painted cell shows (text, colours, alignment); absent ones are empty."""
        values: dict[int, Any] = {_DISPLAY: self._display(row, column)}
        if column == COL_PRIORITY or column == COL_STATE:  # coloured badges, centred
            values[_ALIGNMENT] = _CENTRED
            kind, value = (
                ("priority", row.priority) if column == COL_PRIORITY else ("state", badge_state(row))
            )
            brushes = badge_brushes(kind, value, self._dark)
            if brushes is not None:  # None: a quiet state, plain text
                values[_BACKGROUND], values[_FOREGROUND] = brushes
                return values
        elif column == COL_AGE:
            values[_ALIGNMENT] = _RIGHT
        if row.state == "failed":
            values[_BACKGROUND] = self._failed_tint
            if column == COL_ATTEMPTS:
                values[_FOREGROUND] = self._error_text
        return values

    def _tooltip(self, row: QueueRow, column: int) -> str | None:
        if column == COL_ATTEMPTS and row.last_error:
            return tooltip_text(row.last_error)
        if column == COL_DESCRIPTION:
            if row.duplicate_of and row.duplicate_note:
                note = row.duplicate_note[:1].upper() + row.duplicate_note[1:]
                return tooltip_text(f"{row.short_description}\n\n{note}")
            return tooltip_text(row.short_description)
        if column == COL_AGE:
            return f"Queued {local_time(row.queued_at, with_date=True)}"
        if column == COL_STATE:
            parts = [STATE_LABELS.get(row.state, row.state)]
            if row.duplicate_of and row.state == "pending":
                parts.append(f"Possible duplicate of {row.duplicate_of}: auto-push leaves it for a person")
            if row.last_error:
                parts.append(row.last_error)
            if row.next_retry_at is not None:
                parts.append(f"Next try {local_time(row.next_retry_at)}")
            if row.decided_by:
                parts.append(f"Decided by {row.decided_by}")
            reviewing = reviewing_text(name for name in row.reviewers if name != self.desk)
            if reviewing:
                parts.append(reviewing)
            return tooltip_text("\n".join(parts))
        return None

    def _display(self, row: QueueRow, column: int) -> str:
        if column == COL_NUMBER:
            return row.number
        if column == COL_DESCRIPTION:
            text = description_text(row)
            reviewing = reviewing_text(name for name in row.reviewers if name != self.desk)
            return f"{text}  ·  {reviewing}" if reviewing else text
        if column == COL_CATEGORY:
            return row.category
        if column == COL_PRIORITY:
            return priority_label(row.priority)
        if column == COL_CALLER:
            return row.caller
        if column == COL_AGE:
            return humanize_age(row.queued_at, self._now)
        if column == COL_STATE:
            return STATE_BADGES.get(badge_state(row), row.state)
        if column == COL_ATTEMPTS:
            return attempts_text(row)
        return ""

    @staticmethod
    def sort_key(row: QueueRow, column: int) -> Any:
        if column == COL_PRIORITY:
            return row.priority
        if column == COL_AGE:
            return -row.queued_at.timestamp()  # ascending = youngest first, like the text
        if column == COL_STATE:
            # "Needs attention": failed first, then waiting, ...; within a state the highest
            # priority, then the oldest.
            return (_STATE_ORDER.get(row.state, 9), row.priority, row.queued_at.timestamp())
        if column == COL_ATTEMPTS:
            return row.attempts
        if column == COL_NUMBER:
            return row.number
        return QueueModel._display_static(row, column).casefold()

    # ---- sorting and filtering (here, not in a proxy: see app/ui/queue_rows.py) -------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        descending = order == Qt.SortOrder.DescendingOrder
        self._relayout(lambda: self._queue.resort(column, descending))

    @property
    def sort_column(self) -> int:
        return self._queue.column

    @property
    def row_filter(self) -> RowFilter:
        return self._queue.row_filter

    def set_filter(self, row_filter: RowFilter) -> None:
        if row_filter != self._queue.row_filter:
            self._relayout(lambda: self._queue.refilter(row_filter))

    def set_text(self, text: str) -> None:
        """Show rows whose number, description, category or caller contain ``text``."""
        self.set_filter(replace(self._queue.row_filter, text=text.strip().casefold()))

    def set_states(self, states: Iterable[str]) -> None:
        self.set_filter(replace(self._queue.row_filter, states=frozenset(states)))

    @property
    def states(self) -> frozenset[str]:
        return self._queue.row_filter.states

    def set_held(self, numbers: Iterable[str]) -> None:
        """Hide these incidents whatever the filter (a reject waiting for its undo)."""
        self.set_filter(replace(self._queue.row_filter, held=frozenset(numbers)))

    def _relayout(self, change: Callable[[], None]) -> None:
        """A change that moves many rows at once: one layout change; selected rows keep their
        selection wherever they move (and lose it only when they leave)."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        shown = self._queue.shown.rows
        remembered = [
            (shown[index.row()].sys_id if 0 <= index.row() < len(shown) else "", index.column())
            for index in persistent
        ]
        change()
        moved: list[QModelIndex] = []
        for sys_id, column in remembered:
            position = self._queue.position(sys_id) if sys_id else None
            moved.append(self.index(position, column) if position is not None else QModelIndex())
        self.changePersistentIndexList(persistent, moved)
        self.layoutChanged.emit()

    @staticmethod
    def _display_static(row: QueueRow, column: int) -> str:
        if column == COL_DESCRIPTION:
            return row.short_description
        if column == COL_CATEGORY:
            return row.category
        if column == COL_CALLER:
            return row.caller
        return ""

    # ---- access -------------------------------------------------------------------------------
    def row_at(self, row: int) -> QueueRow:
        """The shown row at ``row``."""
        return self._queue.shown.rows[row]

    def shown_rows(self) -> list[QueueRow]:
        """The shown rows in display order (the live list: copy it to keep it)."""
        return self._queue.shown.rows

    def row_for(self, sys_id: str) -> QueueRow | None:
        return self._queue.by_id.get(sys_id)

    def position_of(self, sys_id: str) -> int | None:
        """The row's shown position (None: not in the queue, or filtered out)."""
        return self._queue.position(sys_id)

    def row_for_number(self, number: str) -> QueueRow | None:
        return self._queue.by_id.get(self._queue.id_of_number.get(number, ""))

    def position_of_number(self, number: str) -> int | None:
        sys_id = self._queue.id_of_number.get(number)
        return None if sys_id is None else self._queue.position(sys_id)

    def rows(self) -> Sequence[QueueRow]:
        """Every row held, shown or not, in display order."""
        return self._queue.every.rows

    def state_counts(self) -> dict[str, int]:
        """Rows per state, shown or not (kept up to date as rows come and go, never recounted)."""
        counts = dict.fromkeys(VISIBLE_STATES, 0)
        counts.update((state, count) for state, count in self._queue.counts.items() if count)
        return counts

    def __len__(self) -> int:
        return len(self._queue.by_id)

    # ---- updates ------------------------------------------------------------------------------
    def prepare(self, rows: Iterable[QueueRow]) -> QueueRows:
        """A complete index for ``rows`` with this model's order and filter. Pure Python: a worker
        thread may call this while the GUI thread goes on (then :meth:`adopt` it there)."""
        queue = self._queue
        return QueueRows.build(
            (row for row in rows if row.state in VISIBLE_STATES),
            QueueModel.sort_key,
            queue.row_filter,
            queue.column,
            queue.descending,
        )

    def adopt(self, prepared: QueueRows) -> None:
        """Full reload (start-up, reconnect): the only place that resets the model."""
        current = self._queue
        if (prepared.column, prepared.descending) != (current.column, current.descending):
            prepared.resort(current.column, current.descending)  # sorted again meanwhile
        if prepared.row_filter != current.row_filter:
            prepared.refilter(current.row_filter)
        self.beginResetModel()
        self._queue = prepared
        self._reviewed = {row.sys_id for row in prepared.by_id.values() if row.reviewers}
        self.endResetModel()

    def set_rows(self, rows: Iterable[QueueRow]) -> None:
        self.adopt(self.prepare(rows))

    def set_reviewers(self, reviewing: Mapping[str, tuple[str, ...]]) -> None:
        """Who has which item open (soft claims); only rows whose list changed are repainted. Only
        the claimed rows are looked at, now and last time: not all of a 100,000-row queue."""
        by_id = self._queue.by_id
        changed: list[ItemQueued | ItemUpdated | ItemRemoved] = []
        for sys_id in self._reviewed | set(reviewing):
            row = by_id.get(sys_id)
            names = tuple(reviewing.get(sys_id, ()))
            if row is not None and names != row.reviewers:
                changed.append(ItemUpdated(replace(row, reviewers=names)))
        self._reviewed = {sys_id for sys_id, names in reviewing.items() if names}
        if changed:
            self.apply(changed)

    def upsert(self, row: QueueRow) -> None:
        self.apply([ItemUpdated(row)])

    def remove(self, sys_id: str) -> None:
        self.apply([ItemRemoved(sys_id, "", "")])

    def apply(self, events: Sequence[ItemQueued | ItemUpdated | ItemRemoved]) -> None:
        """Apply a batch of queue events: the last event per sys_id wins. A row that keeps its place
        changes in place; one that moves (new state, priority) leaves and arrives where it belongs."""
        final: dict[str, QueueRow | None] = {}
        for event in events:
            if isinstance(event, ItemRemoved):
                final[event.sys_id] = None
            else:
                final[event.row.sys_id] = event.row if event.row.state in VISIBLE_STATES else None
        queue = self._queue
        if not final:
            return
        self._reviewed.update(sys_id for sys_id, row in final.items() if row is not None and row.reviewers)
        if queue.ranked or (queue.column >= 0 and any(row and row.duplicate_of for row in final.values())):
            # Suspected duplicates sit under their primary: the order is recomputed whole.
            gone = [sys_id for sys_id, row in final.items() if row is None]
            rows = [row for row in final.values() if row is not None]
            self._relayout(lambda: queue.regroup_with(gone, rows))
            moved = [queue.position(sys_id) for sys_id in final]
            shown = [position for position in moved if position is not None]
            if shown:
                self._emit_changed(shown)
            return
        changed: list[int] = []
        leaving: list[str] = []
        arriving: list[QueueRow] = []
        for sys_id, row in final.items():
            held = sys_id in queue.by_id
            if row is None:
                if held:
                    leaving.append(sys_id)
            elif not held:
                arriving.append(row)
            elif queue.stays_in_place(row):
                position = queue.replace_in_place(row)
                if position is not None:
                    changed.append(position)
            else:
                leaving.append(sys_id)
                arriving.append(row)
        if changed:
            self._emit_changed(changed)
        if leaving:
            self._remove(leaving)
        if arriving:
            self._insert(arriving)

    def _emit_changed(self, positions: list[int]) -> None:
        last_column = len(_HEADERS) - 1
        top, bottom = min(positions), max(positions)
        if len(positions) > self.SPAN_THRESHOLD and bottom - top < 4 * len(positions):
            self.dataChanged.emit(self.index(top, 0), self.index(bottom, last_column))
            return
        for position in positions:
            self.dataChanged.emit(self.index(position, 0), self.index(position, last_column))

    def _remove(self, sys_ids: list[str]) -> None:
        queue = self._queue
        shown_ranges = queue.take(sys_ids)  # gone from every list but the shown one, highest first

        def delete() -> None:
            for first, last in shown_ranges:
                queue.shown.delete(first, last)

        if len(shown_ranges) > self.RUN_THRESHOLD:
            self._relayout(delete)
            return
        for first, last in shown_ranges:
            self.beginRemoveRows(QModelIndex(), first, last)
            queue.shown.delete(first, last)
            self.endRemoveRows()

    def _insert(self, rows: list[QueueRow]) -> None:
        queue = self._queue
        runs = queue.add(rows)  # in every list already; the shown ones still to place, highest first

        def place() -> None:
            for position, run in runs:
                queue.shown.insert_run(position, run)

        if len(runs) > self.RUN_THRESHOLD:
            self._relayout(place)
            return
        for position, run in runs:
            self.beginInsertRows(QModelIndex(), position, position + len(run) - 1)
            queue.shown.insert_run(position, run)
            self.endInsertRows()

    def refresh_ages(self, now: datetime | None = None) -> None:
        """Age text moves with the clock: one narrow dataChanged for the age column only."""
        self._now = now or now_utc()
        if self.rowCount():
            self.dataChanged.emit(
                self.index(0, COL_AGE),
                self.index(self.rowCount() - 1, COL_AGE),
                [Qt.ItemDataRole.DisplayRole],
            )


STATE_FILTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Active", ACTIVE_STATES),
    ("Waiting for approval", ("pending",)),
    ("Failed", ("failed",)),
    ("Rejected", ("rejected",)),
    ("All", tuple(sorted(VISIBLE_STATES))),
)
