"""The Queue tab: filter bar, the queue table (or its empty state) and the preview pane."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.engine.views import QueueRow
from app.ui.preview_pane import PreviewPane
from app.ui.queue_model import (
    COL_AGE,
    COL_ATTEMPTS,
    COL_CALLER,
    COL_CATEGORY,
    COL_DESCRIPTION,
    COL_NUMBER,
    COL_PRIORITY,
    COL_STATE,
    STATE_FILTERS,
    VISIBLE_STATES,
    QueueFilterProxy,
    QueueModel,
    RowRole,
)
from app.ui.widgets import EmptyState

if TYPE_CHECKING:
    from app.engine.api import EngineAPI


class QueueTab(QWidget):
    countChanged = Signal(int)  # rows in the model (for the tab title and tray)

    def __init__(
        self, engine: EngineAPI, trigger_lines: Sequence[str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.trigger_lines = list(trigger_lines)
        self.model = QueueModel(self)
        self.proxy = QueueFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by number, description, category or caller")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(220)
        self.state_filter = QComboBox()
        self.state_filter.setToolTip("Active = waiting for approval, approved, pushing or failed")
        for label, states in STATE_FILTERS:
            self.state_filter.addItem(label, list(states))
        self.count_label = QLabel()
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(150)  # debounce typing over 100k rows
        self._filter_timer.timeout.connect(lambda: self.proxy.set_text(self.search.text()))
        self.search.textChanged.connect(lambda _text: self._filter_timer.start())
        self.state_filter.currentIndexChanged.connect(self._state_filter_changed)

        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.search, 1)
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.state_filter)
        bar.addWidget(self.count_label)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COL_AGE, Qt.SortOrder.DescendingOrder)  # oldest first
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.verticalHeader().hide()
        vertical = self.view.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: fast with 100k
        vertical.setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        widths = {
            COL_NUMBER: 95,
            COL_DESCRIPTION: 220,
            COL_CATEGORY: 75,
            COL_PRIORITY: 90,
            COL_CALLER: 105,
            COL_AGE: 70,
            COL_STATE: 140,
            COL_ATTEMPTS: 150,
        }
        for column, width in widths.items():
            header.resizeSection(column, width)

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
        self.splitter.setSizes([860, 540])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        self.preview.install_shortcuts(self)

        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset):
            signal.connect(self._schedule_counts)
        self.proxy.layoutChanged.connect(self._schedule_counts)
        self._counts_timer = QTimer(self)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(50)
        self._counts_timer.timeout.connect(self._update_counts)
        self._age_timer = QTimer(self)
        self._age_timer.setInterval(30_000)
        self._age_timer.timeout.connect(lambda: self.model.refresh_ages())
        self._age_timer.start()
        self._update_counts()

    # ---- data ---------------------------------------------------------------------------------
    async def reload(self) -> None:
        rows = await self.engine.list_queue(states=sorted(VISIBLE_STATES))
        self.model.set_rows(rows)
        self._update_counts()

    def apply_events(self, events: Sequence[ItemQueued | ItemUpdated | ItemRemoved]) -> None:
        selected = {row.sys_id for row in self.selected_rows()}
        self.model.apply(events)
        if selected and any(self._key(event) in selected for event in events):
            self._refresh_preview()
        self._schedule_counts()

    @staticmethod
    def _key(event: ItemQueued | ItemUpdated | ItemRemoved) -> str:
        return event.sys_id if isinstance(event, ItemRemoved) else event.row.sys_id

    def selected_rows(self) -> list[QueueRow]:
        rows: list[QueueRow] = []
        selection = self.view.selectionModel()
        if selection is None:
            return rows
        for index in selection.selectedRows(COL_NUMBER):
            row = index.data(RowRole)
            if isinstance(row, QueueRow):
                rows.append(row)
        return rows

    def select_number(self, number: str) -> bool:
        for position in range(self.proxy.rowCount()):
            index = self.proxy.index(position, COL_NUMBER)
            if index.data() == number:
                self.view.selectRow(position)
                self.view.scrollTo(index)
                return True
        return False

    # ---- slots --------------------------------------------------------------------------------
    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._refresh_preview()

    def _refresh_preview(self) -> None:
        self.preview.set_rows(self.selected_rows())

    def _state_filter_changed(self, _index: int) -> None:
        states = self.state_filter.currentData()
        self.proxy.set_states(states if isinstance(states, list) else [])
        self._update_counts()

    def _schedule_counts(self, *_args: object) -> None:
        if not self._counts_timer.isActive():
            self._counts_timer.start()

    def _update_counts(self) -> None:
        total = len(self.model)
        shown = self.proxy.rowCount()
        self.count_label.setText(f"{shown:,} of {total:,}" if shown != total else f"{total:,} incidents")
        if shown:
            self.stack.setCurrentWidget(self.view)
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

    def focus_index(self) -> QModelIndex:
        return self.view.currentIndex()
