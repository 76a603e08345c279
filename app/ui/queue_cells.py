"""What the queue's table paints: the cells of the rows on screen, held by Qt in C++.

A Python model answers every painted cell with Python calls (``rowCount``, ``columnCount`` and
``multiData``: three per cell, ~500 per repaint). Each call must take the interpreter lock, so while
the engine's worker threads run Python (a poll storing 5,000 incidents) a repaint took 20-35 ms
instead of one frame; and the calls alone cost half of an idle repaint. The view therefore shows
this :class:`QueueCells`, a ``QStandardItemModel`` that follows :class:`QueueModel` row for row
(the same positions, structure changes and persistent indexes) but holds cell values only for the
rows on screen, written from Python when they change or scroll into view. Painting then runs in
C++ from start to end, without the interpreter lock.

:class:`QueueModel` stays the source of truth: rows, order, filter, tooltips and sort keys are asked
there by position (``QueueModel.row_at``), never from these items.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, QObject, Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QTableView

if TYPE_CHECKING:
    from app.engine.views import QueueRow
    from app.ui.queue_model import QueueModel

#: Rows written beyond each edge of the screen, so a small scroll finds them ready.
MARGIN_ROWS = 8
_TOOLTIP = Qt.ItemDataRole.ToolTipRole.value
PAINTED_ROLES = tuple(
    role.value
    for role in (
        Qt.ItemDataRole.DisplayRole,
        Qt.ItemDataRole.TextAlignmentRole,
        Qt.ItemDataRole.ForegroundRole,
        Qt.ItemDataRole.BackgroundRole,
    )
)
WRITTEN_ROLES = (*PAINTED_ROLES, _TOOLTIP)


class QueueCells(QStandardItemModel):
    """The view's model: ``source``'s shown rows, cell values only for the rows on screen.

    Only ``sort`` is overridden in Python (a header click). Nothing a repaint asks (``rowCount``,
    ``index``, ``multiData``, ``flags``, ``headerData``) may be: Qt would call into Python per cell.
    """

    def __init__(self, source: QueueModel, parent: QObject | None = None) -> None:
        super().__init__(0, source.columnCount(), parent)
        self.source = source
        self.setHorizontalHeaderLabels(list(source.HEADERS))
        self._view: QTableView | None = None
        self._written: dict[int, QueueRow] = {}  # position -> the row its items show
        self._before: list[QueueRow] = []  # the source's order when a layout change began
        source.rowsInserted.connect(self._inserted)
        source.rowsRemoved.connect(self._removed)
        source.layoutAboutToBeChanged.connect(self._before_layout)
        source.layoutChanged.connect(self._after_layout)
        source.modelReset.connect(self._reset)
        source.dataChanged.connect(self._changed)
        self._resize(source.rowCount())

    # ---- the view -------------------------------------------------------------------------------
    def attach(self, view: QTableView) -> None:
        """Show in ``view``: cells follow its scrolling and size; a cell's tooltip is written when
        the mouse enters it. No event filter: that is a Python call for every event of the view
        (each paint too), waiting for the interpreter lock while the engine's workers run Python."""
        self._view = view
        view.setModel(self)
        view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        scroll = view.verticalScrollBar()
        scroll.valueChanged.connect(lambda _value: self.write_screen())
        scroll.rangeChanged.connect(lambda _low, _high: self.write_screen())  # the view's height
        view.setMouseTracking(True)  # for ``entered``: emitted when the mouse reaches another cell
        view.entered.connect(self.write_tooltip)

    def write_tooltip(self, index: QModelIndex) -> None:
        """The cell under the mouse gets its tooltip from the queue model (Qt shows it from here)."""
        source = self.source
        if index.isValid() and index.row() < source.rowCount():
            tip = source.data(source.index(index.row(), index.column()), _TOOLTIP)
            self.setData(index, tip if isinstance(tip, str) and tip else None, _TOOLTIP)

    def screen_rows(self) -> range:
        """The positions on screen, with a margin each side (all of them, up to a screenful, when
        there is no view yet)."""
        count = self.rowCount()
        view = self._view
        if view is None:
            return range(min(count, 64))
        height = view.viewport().height()
        per_screen = height // max(view.verticalHeader().defaultSectionSize(), 1) + 1
        top = view.rowAt(0)
        if top < 0:
            # Scrolled past the end (the list just got shorter, the view has not scrolled back
            # yet): it is about to show the last screenful.
            top, bottom = max(count - per_screen, 0), count - 1
        else:
            bottom = view.rowAt(height - 1)
            if bottom < 0:  # the rows end above the bottom edge
                bottom = min(top + per_screen, count) - 1
        return range(max(top - MARGIN_ROWS, 0), min(bottom + MARGIN_ROWS + 1, count))

    def write_screen(self) -> None:
        """Write the cells of every on-screen row whose items do not show its current row."""
        source = self.source
        columns = source.columnCount()
        screen = self.screen_rows()
        if len(self._written) > 4 * len(screen) + 64:
            # Scrolled far: forget rows written long ago (they are written again if they come
            # back), so the record stays a few screenfuls long.
            self._written = {position: row for position, row in self._written.items() if position in screen}
        written = self._written
        for position in screen:
            row = source.row_at(position)
            if written.get(position) is row:
                continue
            for column in range(columns):
                # Into the item in place (made on first use): replacing an item (setItem) is a
                # layout change for Qt, ~0.5 ms each with 100,000 rows. Every painted role is
                # given, None for the absent ones: the item keeps roles it is not told about.
                values = dict.fromkeys(WRITTEN_ROLES)  # the tooltip too: it was another row's
                values.update(source.cell(row, column))
                self.setItemData(self.index(position, column), values)
            written[position] = row

    # ---- following the source --------------------------------------------------------------------
    def _resize(self, count: int) -> None:
        if count > self.rowCount():
            self.insertRows(self.rowCount(), count - self.rowCount())
        elif count < self.rowCount():
            self.removeRows(count, self.rowCount() - count)

    def _inserted(self, parent: QModelIndex, first: int, last: int) -> None:
        if not parent.isValid():
            # Items move down with their rows. Each position's written row is checked by identity,
            # so a shifted one is rewritten (a row never sits at two positions at once).
            self.insertRows(first, last - first + 1)
            self.write_screen()

    def _removed(self, parent: QModelIndex, first: int, last: int) -> None:
        if not parent.isValid():
            # Forget it all: a position past the new end would otherwise still name its old row,
            # and an empty item made there later would pass for that row's cells.
            self._written.clear()
            self.removeRows(first, last - first + 1)
            self.write_screen()

    def _before_layout(self, *_args: Any) -> None:
        """The source is about to move rows (sort, filter, scattered arrivals): keep its order as it
        is now (a copy of the list, not of the rows) to find each persistent index's row after."""
        self._before = list(self.source.shown_rows())

    def _after_layout(self, *_args: Any) -> None:
        """Rows moved (and may have come or gone): grow, move every persistent index (the view's
        selection and current row) to its row's new place or drop it (the row left), shrink.

        The persistent indexes are listed only after this model announced its own layout change:
        the selection model makes new ones for the selected rows at that moment."""
        source = self.source
        before, self._before = self._before, []
        count = source.rowCount()
        if count > self.rowCount():
            self.insertRows(self.rowCount(), count - self.rowCount())
        everything = self._selects_everything()
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        new: list[QModelIndex] = []
        for index in old:
            position = source.position_of(before[index.row()].sys_id) if index.row() < len(before) else None
            new.append(self.index(position, index.column()) if position is not None else QModelIndex())
        self.changePersistentIndexList(old, new)
        self._written.clear()
        self.layoutChanged.emit()
        if count < self.rowCount():
            self.removeRows(count, self.rowCount() - count)
        if everything:
            self._select_again(before)
        self.write_screen()

    def _selects_everything(self) -> bool:
        """The view's selection is one range over the whole table (Ctrl+A). Qt's selection model
        keeps such a selection through a layout change by selecting the whole table again when the
        row count is the same: rows that arrived (a filter's, a poll's) would come up selected."""
        view = self._view
        selection = view.selectionModel() if view is not None else None
        if selection is None:
            return False
        ranges = selection.selection()
        if ranges.size() != 1:
            return False
        only = ranges.at(0)
        return (only.top(), only.left(), only.bottom(), only.right()) == (
            0,
            0,
            self.rowCount() - 1,
            self.columnCount() - 1,
        )

    def _select_again(self, rows: list[QueueRow]) -> None:
        """Select exactly the rows that were selected (all of ``rows``) where they are now."""
        view = self._view
        selection = view.selectionModel() if view is not None else None
        if selection is None:
            return
        source = self.source
        found = (source.position_of(row.sys_id) for row in rows)
        positions = sorted(position for position in found if position is not None)
        chosen = QItemSelection()
        last_column = self.columnCount() - 1
        start = 0
        for at in range(1, len(positions) + 1):  # contiguous runs, one range each
            if at == len(positions) or positions[at] != positions[at - 1] + 1:
                chosen.select(self.index(positions[start], 0), self.index(positions[at - 1], last_column))
                start = at
        selection.select(chosen, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _reset(self) -> None:
        self._written.clear()
        self.removeRows(0, self.rowCount())
        self._resize(self.source.rowCount())
        self.write_screen()

    def _changed(self, top: QModelIndex, bottom: QModelIndex, *_roles: Any) -> None:
        first, last = top.row(), bottom.row()
        for position in [position for position in self._written if first <= position <= last]:
            del self._written[position]  # a few screenfuls at most (write_screen keeps it so)
        self.write_screen()

    # ---- Qt API ---------------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """A header click: the source sorts; its layout change reaches here."""
        self.source.sort(column, order)
