"""The Links tab: incident <-> ticket pairs, with each link's history and the bodies as sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPoint,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import QBrush, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.engine.events import LinkChanged
from app.engine.views import AuditRow, LinkRow
from app.ui.focus_ring import add_focus_ring
from app.ui.format import local_time, tooltip_text
from app.ui.live_list import HeldRows, NewRowsButton
from app.ui.table_model import ModelIndex, RowTableModel, refilter
from app.ui.tasks import TaskSlot
from app.ui.theme import Tone, foreground, monospace_font, std_icon, tone_icon
from app.ui.widgets import EmptyState, add_record_actions, plain_label, show_row_menu

if TYPE_CHECKING:
    from app.engine.api import EngineAPI
    from app.engine.events import SystemName

COL_INCIDENT = 0
COL_TICKET = 1
COL_TITLE = 2
COL_LINKED = 3
COL_OUTBOUND = 4
COL_RETURN = 5
COL_WRITEBACK = 6
COL_NOTE = 7
COL_TICKET_NOW = 8
_HEADERS = (
    "Incident",
    "Ticket",
    "Title",
    "Linked at",
    "Last outbound",
    "Last return",
    "Write-back",
    "Note",
    "Ticket now",
)
LinkRole = Qt.ItemDataRole.UserRole + 1
SortRole = Qt.ItemDataRole.UserRole + 2
WRITEBACK_LABELS = {"pending": "Pending", "done": "Done", "failed": "Failed"}


def ticket_now_text(row: LinkRow) -> str:
    """The ticket's status and priority as last read from Autotask (labels, not ids); its title has
    a column of its own."""
    parts = [row.return_synced.get("status", ""), row.return_synced.get("priority", "")]
    return " · ".join(part for part in parts if part) or "not read yet"


def writeback_text(row: LinkRow) -> str:
    label = WRITEBACK_LABELS.get(row.writeback_state, row.writeback_state)
    if row.writeback_state == "failed" and row.writeback_error:
        return f"{label}: {row.writeback_error}"
    return label


def note_text(row: LinkRow) -> str:
    """How the link came to be (adopted: found in Autotask, not created here) and its latest remark
    (a closed incident skipped, a foreign correlation_id left alone, a value the instance kept)."""
    parts = ["Adopted: the ticket already existed in Autotask"] if row.adopted else []
    if row.note:
        parts.append(row.note)
    return "; ".join(parts)


class LinksModel(RowTableModel):
    HEADERS = _HEADERS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[LinkRow] = []
        self._index: dict[str, int] = {}

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                row.incident_number,
                row.ticket_number,
                row.ticket_title or "not read yet",
                local_time(row.linked_at, with_date=True),
                local_time(row.last_outbound_at),
                local_time(row.last_return_at),
                writeback_text(row),
                note_text(row),
                ticket_now_text(row),
            )[column]
        if role == LinkRole:
            return row
        if role == SortRole:
            if column == COL_LINKED:
                return row.linked_at.timestamp()
            if column == COL_OUTBOUND:
                return row.last_outbound_at.timestamp() if row.last_outbound_at else 0.0
            if column == COL_RETURN:
                return row.last_return_at.timestamp() if row.last_return_at else 0.0
            return str(self.data(index, Qt.ItemDataRole.DisplayRole))
        if column == COL_TITLE and role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_text(row.ticket_title or None)
        if column == COL_NOTE and role == Qt.ItemDataRole.ToolTipRole:
            return note_text(row) or None
        if column == COL_TICKET_NOW and role == Qt.ItemDataRole.ToolTipRole:
            return "Status and priority of the ticket as last read from Autotask"
        if column == COL_WRITEBACK and row.writeback_state == "failed":
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(foreground(Tone.ERROR))
            if role == Qt.ItemDataRole.DecorationRole:
                return tone_icon(Tone.ERROR)
            if role == Qt.ItemDataRole.ToolTipRole:
                return tooltip_text(row.writeback_error)
        return None

    def has(self, sys_id: str) -> bool:
        return sys_id in self._index

    def link(self, row: int) -> LinkRow:
        return self._rows[row]

    def set_rows(self, rows: Sequence[LinkRow]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self._index = {row.sys_id: position for position, row in enumerate(self._rows)}
        self.endResetModel()

    def upsert(self, rows: Sequence[LinkRow]) -> None:
        fresh: list[LinkRow] = []
        for row in rows:
            position = self._index.get(row.sys_id)
            if position is None:
                fresh.append(row)
            else:
                self._rows[position] = row
                self.dataChanged.emit(self.index(position, 0), self.index(position, len(_HEADERS) - 1))
        if fresh:
            unique = list({row.sys_id: row for row in fresh}.values())
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(unique) - 1)
            for offset, row in enumerate(unique):
                self._index[row.sys_id] = first + offset
            self._rows.extend(unique)
            self.endInsertRows()


class LinksFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self.setSortRole(SortRole)

    def set_text(self, text: str) -> None:
        text = text.strip().casefold()
        if text != self._text:
            refilter(self, lambda: setattr(self, "_text", text))

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        if not self._text:
            return True
        model = self.sourceModel()
        if not isinstance(model, LinksModel):
            return True
        row = model.link(source_row)
        return self._text in row.incident_number.casefold() or self._text in row.ticket_number.casefold()


class LinksTab(QWidget):
    message = Signal(str)
    whyNot = Signal(str)
    historyShown = Signal(str)  # sys_id

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.model = LinksModel(self)
        self.proxy = LinksFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._history_task = TaskSlot("link-history", on_error=lambda e: self.message.emit(f"History: {e}"))
        self._history: list[AuditRow] = []

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search incident or ticket number")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search the links")
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(150)
        timer.timeout.connect(lambda: self.proxy.set_text(self.search.text()))
        self.search.textChanged.connect(lambda _text: timer.start())
        self.open_incident = QPushButton(std_icon(QStyle.StandardPixmap.SP_DirLinkIcon), "Open incident")
        self.open_ticket = QPushButton(std_icon(QStyle.StandardPixmap.SP_DirLinkIcon), "Open ticket")
        self.open_incident.clicked.connect(lambda: self._open("servicenow"))
        self.open_ticket.clicked.connect(lambda: self._open("autotask"))
        self.open_incident.setEnabled(False)
        self.open_ticket.setEnabled(False)
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.search, 1)
        self.new_rows = NewRowsButton()
        bar.addWidget(self.new_rows)
        bar.addWidget(self.open_incident)
        bar.addWidget(self.open_ticket)

        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COL_LINKED, Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Stretch)  # the title gets the room
        header.resizeSection(COL_TICKET_NOW, 170)
        widths = (
            (COL_INCIDENT, 110),
            (COL_TICKET, 130),
            (COL_TITLE, 220),
            (COL_LINKED, 150),
            (COL_OUTBOUND, 110),
        )
        for column, width in widths:
            header.resizeSection(column, width)
        self.held: HeldRows[LinkRow] = HeldRows(self.view, self.new_rows, self.model.upsert)
        self.view.setTabKeyNavigation(False)
        self.view.setAccessibleName("Links")
        add_focus_ring(self.view)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.doubleClicked.connect(self._double_clicked)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self.empty = EmptyState(
            "No links yet", "Approved incidents appear here once their Autotask ticket is created."
        )

        # detail: history + bodies
        self.detail_title = plain_label("Select a link to see its history.")
        bold = self.detail_title.font()
        bold.setBold(True)
        self.detail_title.setFont(bold)
        self.history = QTableWidget(0, 4)
        self.history.setHorizontalHeaderLabels(["Time", "Direction", "Outcome", "Summary"])
        self.history.verticalHeader().hide()
        self.history.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.history.horizontalHeader().setStretchLastSection(True)
        self.history.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.history.currentCellChanged.connect(lambda row, *_: self._show_body(row))
        self.history.setAccessibleName("Link history")
        self.history.setTabKeyNavigation(False)
        add_focus_ring(self.history)
        self.body = QPlainTextEdit()
        self.body.setReadOnly(True)
        self.body.setFont(monospace_font())
        self.body.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.body.setPlaceholderText("Request body exactly as sent, and the outcome")
        self.body.setAccessibleName("Request and response bodies")

        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(4, 4, 4, 4)
        detail_layout.setSpacing(6)
        detail_layout.addWidget(self.detail_title)
        detail_split = QSplitter(Qt.Orientation.Horizontal)
        detail_split.addWidget(self.history)
        detail_split.addWidget(self.body)
        detail_split.setStretchFactor(0, 1)
        detail_split.setStretchFactor(1, 1)
        detail_layout.addWidget(detail_split, 1)
        self.detail_splitter = detail_split

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(4, 4, 4, 4)
        top_layout.setSpacing(6)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.view, 1)
        top_layout.addWidget(self.empty, 1)
        self.empty.hide()

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(detail)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
        for signal in (self.model.modelReset, self.model.rowsInserted):
            signal.connect(self._update_empty)

    async def reload(self) -> None:
        self.model.set_rows(await self.engine.list_links(limit=5000))

    def apply_events(self, events: Sequence[LinkChanged]) -> None:
        known = [event.row for event in events if self.model.has(event.row.sys_id)]
        self.model.upsert(known)  # changes in place; new links wait while the user works
        self.held.add([event.row for event in events if not self.model.has(event.row.sys_id)])
        current = self.selected_link()
        if current is not None and any(event.row.sys_id == current.sys_id for event in events):
            self._load_history(current)

    def audit_recorded(self, sys_id: str | None) -> None:
        current = self.selected_link()
        if current is not None and sys_id == current.sys_id:
            self._load_history(current)

    def _update_empty(self, *_args: object) -> None:
        empty = self.model.rowCount() == 0
        self.view.setVisible(not empty)
        self.empty.setVisible(empty)

    def selected_link(self) -> LinkRow | None:
        index = self.view.currentIndex()
        row = index.data(LinkRole) if index.isValid() else None
        return row if isinstance(row, LinkRow) else None

    def show_number(self, number: str) -> bool:
        """Filter to an incident (or ticket) number and select its link."""
        self.held.show()
        self.search.setText(number)
        self.proxy.set_text(number)
        for position in range(self.proxy.rowCount()):
            link = self.proxy.index(position, COL_INCIDENT).data(LinkRole)
            if isinstance(link, LinkRow) and number in (link.incident_number, link.ticket_number):
                self.view.selectRow(position)
                self.view.setFocus()
                return True
        return False

    def select_row(self, position: int) -> None:
        self.view.selectRow(position)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        link = current.data(LinkRole) if current.isValid() else None
        has = isinstance(link, LinkRow)
        self.open_incident.setEnabled(has)
        self.open_ticket.setEnabled(has)
        if isinstance(link, LinkRow):
            self._load_history(link)

    def _load_history(self, link: LinkRow) -> None:
        self.detail_title.setText(f"History of {link.incident_number} ↔ {link.ticket_number}")
        self._history_task.start(self._fetch_history(link))

    async def _fetch_history(self, link: LinkRow) -> None:
        rows = await self.engine.list_audit(sys_id=link.sys_id, limit=200)
        current = self.selected_link()
        if current is None or current.sys_id != link.sys_id:
            return
        self._history = list(rows)
        self.history.setRowCount(len(rows))
        for position, row in enumerate(rows):
            items = [
                QTableWidgetItem(local_time(row.at, with_date=True)),
                QTableWidgetItem(row.direction),
                QTableWidgetItem(row.outcome),
                QTableWidgetItem(row.summary),
            ]
            if row.outcome == "failed":
                for item in items:
                    item.setForeground(QBrush(foreground(Tone.ERROR)))
                items[2].setIcon(tone_icon(Tone.ERROR))
            items[3].setToolTip(tooltip_text(row.summary))
            for column, item in enumerate(items):
                self.history.setItem(position, column, item)
        if rows:
            self.history.setCurrentCell(0, 0)
            self._show_body(0)
        else:
            self.body.setPlainText("")
            self.body.setPlaceholderText("No recorded events for this link yet.")
        self.historyShown.emit(link.sys_id)

    def _show_body(self, position: int) -> None:
        if not 0 <= position < len(self._history):
            return
        row = self._history[position]
        parts = [f"# {row.kind} · {row.direction} · {row.outcome} · {local_time(row.at, with_date=True)}"]
        parts.append(f"# {row.summary}")
        parts.append("")
        parts.append("# Request body (as sent)")
        parts.append(row.request_body or "(none)")
        parts.append("")
        parts.append("# Response")
        parts.append(row.response_body or "(none)")
        self.body.setPlainText("\n".join(parts))

    def _context_menu(self, point: QPoint) -> None:
        show_row_menu(
            self.view, point, LinkRole, lambda r: self.row_menu(r) if isinstance(r, LinkRow) else None
        )

    def row_menu(self, link: LinkRow) -> QMenu:
        menu = QMenu(self)
        add_record_actions(
            menu,
            self.engine,
            self.message,
            link.sys_id,
            link.incident_number,
            link.ticket_id,
            link.ticket_number,
        )
        why = menu.addAction("&Why? (this incident)")
        why.triggered.connect(lambda: self.whyNot.emit(link.incident_number))
        return menu

    def _double_clicked(self, index: QModelIndex) -> None:
        self._open("servicenow" if index.column() == COL_INCIDENT else "autotask")

    def _open(self, system: SystemName) -> None:
        link = self.selected_link()
        if link is None:
            return
        record = link.sys_id if system == "servicenow" else str(link.ticket_id)
        url = self.engine.record_url(system, record)
        if not url:
            self.message.emit("The instance URL is not known; set it in Settings to open records.")
            return
        QDesktopServices.openUrl(QUrl(url))
