"""The triage queue as a Qt table model, updated in place from engine events.

Rows live in a list with a ``sys_id -> row index`` dict. An update touches one row and emits a
``dataChanged`` for that row only; new rows are appended as one ``beginInsertRows`` block per batch;
removals are grouped into contiguous ranges. ``beginResetModel`` is used only for full reloads. The
proxy filters on the row objects directly (no ``data()`` round trips), which keeps a 100,000-row
queue responsive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.engine.views import QueueRow
from app.ui.badges import BadgeRole, badge_brushes
from app.ui.format import humanize_age, local_time, now_utc, priority_label, reviewing_text, tooltip_text
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

RowRole = Qt.ItemDataRole.UserRole + 1  # the QueueRow (proxy-safe accessor)
SortRole = Qt.ItemDataRole.UserRole + 2

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
    HEADERS = _HEADERS
    # Above this many changed rows in one batch, one spanning dataChanged beats many small ones.
    SPAN_THRESHOLD = 64

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[QueueRow] = []
        #: This desk's name: its own claim is not news ("anna is reviewing" is for the others).
        self.desk = ""
        self._index: dict[str, int] = {}
        self._now: datetime = now_utc()
        self._dark = is_dark()  # badge colours: read once, not per painted cell
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    # ---- Qt API -------------------------------------------------------------------------------
    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
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
                    parts.append(
                        f"Possible duplicate of {row.duplicate_of}: auto-push leaves it for a person"
                    )
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
        if role in (Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole):
            if column == COL_PRIORITY or column == COL_STATE:  # coloured badges
                kind, value = (
                    ("priority", row.priority) if column == COL_PRIORITY else ("state", badge_state(row))
                )
                brushes = badge_brushes(kind, value, self._dark)
                if brushes is None:  # a quiet state: plain text
                    return None
                return brushes[0] if role == Qt.ItemDataRole.BackgroundRole else brushes[1]
            if role == Qt.ItemDataRole.ForegroundRole:
                return (
                    QBrush(foreground(Tone.ERROR))
                    if row.state == "failed" and column == COL_ATTEMPTS
                    else None
                )
            return QBrush(tint(Tone.ERROR, strength=0.1)) if row.state == "failed" else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (COL_PRIORITY, COL_STATE):
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_AGE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
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

    # ---- sorting (here, not in the proxy: one Python key per row instead of a Python
    # lessThan per comparison, which is what keeps 100,000 rows sortable in a blink) ----------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort_column = column
        self._sort_order = order
        self._resort()

    @property
    def sort_column(self) -> int:
        return self._sort_column

    def _resort(self) -> None:
        column = self._sort_column
        if column < 0 or not self._rows:
            return
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        remembered = [(self._rows[index.row()].sys_id, index.column()) for index in persistent]
        key = QueueModel.sort_key
        # Suspected duplicates sit right under their primary (when it is listed): each row sorts
        # by its group's primary, then the primary first and its suspects by number. Python's sort
        # is stable, also reversed, so the order inside a group survives a descending sort.
        reverse = self._sort_order == Qt.SortOrder.DescendingOrder
        if any(row.duplicate_of for row in self._rows):
            listed = {row.number: row for row in self._rows if not row.duplicate_of}
            self._rows.sort(key=lambda row: (row.duplicate_of in listed, row.number))

            def group_key(row: QueueRow) -> Any:
                primary = listed.get(row.duplicate_of or "", row)
                return (key(primary, column), primary.number)

            self._rows.sort(key=group_key, reverse=reverse)
        else:  # no suspects (the usual case): one pass
            self._rows.sort(key=lambda row: (key(row, column), row.number), reverse=reverse)
        self._reindex()
        self.changePersistentIndexList(
            persistent, [self.index(self._index[sys_id], col) for sys_id, col in remembered]
        )
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
        return self._rows[row]

    def row_for(self, sys_id: str) -> QueueRow | None:
        position = self._index.get(sys_id)
        return None if position is None else self._rows[position]

    def position_of(self, sys_id: str) -> int | None:
        return self._index.get(sys_id)

    def rows(self) -> Sequence[QueueRow]:
        return self._rows

    def __len__(self) -> int:
        return len(self._rows)

    # ---- updates ------------------------------------------------------------------------------
    def set_rows(self, rows: Iterable[QueueRow]) -> None:
        """Full reload (start-up, reconnect): the only place that resets the model."""
        self.beginResetModel()
        self._rows = [row for row in rows if row.state in VISIBLE_STATES]
        self._reindex()
        self.endResetModel()
        self._resort()

    def _reindex(self) -> None:
        self._index = {row.sys_id: position for position, row in enumerate(self._rows)}

    def set_reviewers(self, reviewing: Mapping[str, tuple[str, ...]]) -> None:
        """Who has which item open (soft claims); only rows whose list changed are repainted."""
        changed: list[int] = []
        for position, row in enumerate(self._rows):
            names = tuple(reviewing.get(row.sys_id, ()))
            if names != row.reviewers:
                self._rows[position] = replace(row, reviewers=names)
                changed.append(position)
        if changed:
            self._emit_changed(changed)

    def upsert(self, row: QueueRow) -> None:
        self.apply([ItemUpdated(row)])

    def remove(self, sys_id: str) -> None:
        self.apply([ItemRemoved(sys_id, "", "")])

    def apply(self, events: Sequence[ItemQueued | ItemUpdated | ItemRemoved]) -> None:
        """Apply a batch of queue events: the last event per sys_id wins."""
        final: dict[str, QueueRow | None] = {}
        for event in events:
            if isinstance(event, ItemRemoved):
                final[event.sys_id] = None
            else:
                final[event.row.sys_id] = event.row if event.row.state in VISIBLE_STATES else None
        if not final:
            return
        removals: list[int] = []
        changed: list[int] = []
        resort = False
        inserts: list[QueueRow] = []
        for sys_id, row in final.items():
            position = self._index.get(sys_id)
            if row is None:
                if position is not None:
                    removals.append(position)
            elif position is None:
                inserts.append(row)
            else:
                if self._sort_column >= 0 and not resort:
                    old = self._rows[position]
                    resort = self.sort_key(old, self._sort_column) != self.sort_key(row, self._sort_column)
                    resort = resort or old.duplicate_of != row.duplicate_of  # it joins or leaves a group
                self._rows[position] = row
                changed.append(position)
        if changed:
            self._emit_changed(changed)
        if removals:
            self._remove_positions(removals)
        if inserts:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(inserts) - 1)
            for offset, row in enumerate(inserts):
                self._index[row.sys_id] = first + offset
            self._rows.extend(inserts)
            self.endInsertRows()
            resort = True
        if resort:
            self._resort()

    def _emit_changed(self, positions: list[int]) -> None:
        last_column = len(_HEADERS) - 1
        top, bottom = min(positions), max(positions)
        if len(positions) > self.SPAN_THRESHOLD and bottom - top < 4 * len(positions):
            self.dataChanged.emit(self.index(top, 0), self.index(bottom, last_column))
            return
        for position in positions:
            self.dataChanged.emit(self.index(position, 0), self.index(position, last_column))

    def _remove_positions(self, positions: list[int]) -> None:
        ranges: list[tuple[int, int]] = []  # (first, last), descending
        for position in sorted(set(positions), reverse=True):
            if ranges and ranges[-1][0] == position + 1:
                ranges[-1] = (position, ranges[-1][1])
            else:
                ranges.append((position, position))
        if len(ranges) > 2000:  # thousands of scattered removals: a reset is cheaper for the views
            doomed = set(positions)
            self.beginResetModel()
            self._rows = [row for position, row in enumerate(self._rows) if position not in doomed]
            self._reindex()
            self.endResetModel()
            return
        for first, last in ranges:
            self.beginRemoveRows(QModelIndex(), first, last)
            del self._rows[first : last + 1]
            self.endRemoveRows()
        lowest = ranges[-1][0]
        for sys_id in [sys_id for sys_id, position in self._index.items() if position >= lowest]:
            del self._index[sys_id]
        for position in range(lowest, len(self._rows)):
            self._index[self._rows[position].sys_id] = position

    def refresh_ages(self, now: datetime | None = None) -> None:
        """Age text moves with the clock: one narrow dataChanged for the age column only."""
        self._now = now or now_utc()
        if self._rows:
            self.dataChanged.emit(
                self.index(0, COL_AGE),
                self.index(len(self._rows) - 1, COL_AGE),
                [Qt.ItemDataRole.DisplayRole],
            )


def refilter(proxy: QSortFilterProxyModel, change: Callable[[], None]) -> None:
    """Change filter parameters and re-filter rows (Qt >= 6.9 API when present, else the older one)."""
    begin = getattr(proxy, "beginFilterChange", None)
    if begin is not None:
        begin()
        change()
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:
        change()
        proxy.invalidateRowsFilter()


STATE_FILTERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Active", ACTIVE_STATES),
    ("Waiting for approval", ("pending",)),
    ("Failed", ("failed",)),
    ("Rejected", ("rejected",)),
    ("All", tuple(sorted(VISIBLE_STATES))),
)


class QueueFilterProxy(QSortFilterProxyModel):
    """Text filter over number/description/category/caller plus a state filter."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._states: frozenset[str] = frozenset(ACTIVE_STATES)
        self._held: frozenset[str] = frozenset()  # numbers whose reject waits for its Undo window
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sorting is delegated to the source model (see QueueModel.sort); the proxy keeps its order."""
        model = self.sourceModel()
        if isinstance(model, QueueModel):
            model.sort(column, order)

    def set_text(self, text: str) -> None:
        text = text.strip().casefold()
        if text != self._text:
            refilter(self, lambda: setattr(self, "_text", text))

    def set_states(self, states: Iterable[str]) -> None:
        wanted = frozenset(states)
        if wanted != self._states:
            refilter(self, lambda: setattr(self, "_states", wanted))

    @property
    def states(self) -> frozenset[str]:
        return self._states

    def set_held(self, numbers: Iterable[str]) -> None:
        held = frozenset(numbers)
        if held != self._held:
            refilter(self, lambda: setattr(self, "_held", held))

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, QueueModel) or source_row >= len(model):
            return False
        row = model.row_at(source_row)
        if row.state not in self._states or row.number in self._held:
            return False
        if not self._text:
            return True
        text = self._text
        return (
            text in row.number.casefold()
            or text in row.short_description.casefold()
            or text in row.category.casefold()
            or text in row.caller.casefold()
        )
