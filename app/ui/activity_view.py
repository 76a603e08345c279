"""The Activity tab: pushes and the return trip as they happen, newest first.

Seeded from ``engine.list_audit()`` on start, then fed by the typed engine events (PushSucceeded,
PushFailed, ReturnApplied, ReturnFailed, and system-level AuditRecorded rows). A failed return can be
retried from the detail strip, a failed push too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QModelIndex, QObject, QPoint, QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QMenu,
    QPushButton,
    QSplitter,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.domain.return_sentence import return_sentence
from app.engine.events import (
    AuditRecorded,
    EngineEvent,
    PushFailed,
    PushSucceeded,
    ReturnApplied,
    ReturnFailed,
)
from app.engine.views import AuditRow
from app.ui.focus_ring import add_focus_ring
from app.ui.format import local_time, now_utc, tooltip_text
from app.ui.live_list import HeldRows, NewRowsButton
from app.ui.table_model import ModelIndex, RowTableModel, refilter
from app.ui.tasks import spawn
from app.ui.theme import Tone, foreground, std_icon, tint, tone_icon
from app.ui.widgets import add_record_actions, plain_label, show_row_menu

if TYPE_CHECKING:
    from app.engine.api import EngineAPI

COL_TIME = 0
COL_DIRECTION = 1
COL_INCIDENT = 2
COL_TICKET = 3
COL_WHAT = 4
_HEADERS = ("Time", "Direction", "Incident", "Ticket", "What happened")
EntryRole = Qt.ItemDataRole.UserRole + 1
DIRECTION_LABELS = {"outbound": "→ Autotask", "return": "← ServiceNow", "system": "System"}


@dataclass(frozen=True)
class ActivityEntry:
    at: datetime
    direction: str  # outbound, return, system
    outcome: str  # ok, failed, skipped, retry
    incident: str
    ticket: str
    text: str
    sys_id: str | None = None
    ticket_id: int | None = None
    retry: str | None = None  # "return" or "push" when the user may retry
    detail: str = ""


def entry_for_event(event: EngineEvent, now: datetime | None = None) -> ActivityEntry | None:
    at = now or now_utc()
    if isinstance(event, ReturnApplied):
        changes = return_sentence(event.ticket_number or f"ticket {event.ticket_id}", event.changes)
        return ActivityEntry(
            at, "return", "ok", event.number, event.ticket_number, changes, event.sys_id, event.ticket_id
        )
    if isinstance(event, ReturnFailed):
        retry = f" (next try {local_time(event.retry_at)})" if event.retry_at else ""
        return ActivityEntry(
            at,
            "return",
            "failed",
            event.number,
            event.ticket_number,
            f"Update of the incident failed: {event.error}{retry}",
            event.sys_id,
            event.ticket_id,
            retry="return",
            detail=event.error,
        )
    if isinstance(event, PushSucceeded):
        verb = "Linked existing ticket" if event.recovered else "Created ticket"
        # A fresh create answers with the id only; the number arrives with the write-back.
        ticket = event.ticket_number or f"id {event.ticket_id}"
        return ActivityEntry(
            at,
            "outbound",
            "ok",
            event.number,
            event.ticket_number,
            f"{verb} {ticket}",
            event.sys_id,
            event.ticket_id,
        )
    if isinstance(event, PushFailed):
        when = f" (next try {local_time(event.retry_at)})" if event.retry_at and not event.permanent else ""
        kind = "refused" if event.permanent else "failed, will retry"
        return ActivityEntry(
            at,
            "outbound",
            "failed",
            event.number,
            "",
            f"Ticket create {kind}: {event.error}{when}",
            event.sys_id,
            None,
            retry="push" if event.permanent else None,
            detail=event.error,
        )
    if isinstance(event, AuditRecorded) and (event.row.direction == "system" or event.from_store):
        return entry_for_audit(event.row)
    return None


def entry_for_audit(row: AuditRow) -> ActivityEntry:
    retry: str | None = None
    if row.outcome == "failed":
        retry = "return" if row.direction == "return" and row.ticket_id is not None else None
    return ActivityEntry(
        row.at,
        row.direction,
        row.outcome,
        row.incident_number or "",
        row.ticket_number or "",
        row.summary,
        row.sys_id,
        row.ticket_id,
        retry=retry,
        detail=row.response_body or "",
    )


class ActivityModel(RowTableModel):
    HEADERS = _HEADERS
    MAX_ROWS = 5000

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ActivityEntry] = []

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        entry = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                local_time(entry.at),
                DIRECTION_LABELS.get(entry.direction, entry.direction),
                entry.incident,
                entry.ticket,
                entry.text,
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if entry.outcome == "resolved":
                return tooltip_text(f"{entry.text}\nResolved: a later attempt succeeded.")
            return tooltip_text(entry.text) if column == COL_WHAT else local_time(entry.at, with_date=True)
        if role == EntryRole:
            return entry
        if role == Qt.ItemDataRole.ForegroundRole and entry.outcome == "failed":
            return QBrush(foreground(Tone.ERROR))
        if role == Qt.ItemDataRole.BackgroundRole and entry.outcome == "failed":
            return QBrush(tint(Tone.ERROR, strength=0.12))
        if role == Qt.ItemDataRole.DecorationRole and column == COL_WHAT:
            if entry.outcome == "failed":
                return tone_icon(Tone.ERROR)
            if entry.outcome in ("ok", "resolved"):
                return tone_icon(Tone.OK)
            if entry.outcome in ("retry", "skipped"):
                return tone_icon(Tone.WARNING)
        return None

    def entry(self, row: int) -> ActivityEntry:
        return self._rows[row]

    def entries(self) -> Sequence[ActivityEntry]:
        return self._rows

    def resolve(self, direction: str, sys_id: str) -> None:
        """A later success superseded earlier failures of the same incident: no longer red."""
        for position, entry in enumerate(self._rows):
            if entry.outcome == "failed" and entry.direction == direction and entry.sys_id == sys_id:
                self._rows[position] = replace(entry, outcome="resolved", retry=None)
                self.dataChanged.emit(self.index(position, 0), self.index(position, len(_HEADERS) - 1))

    def set_entries(self, entries: Sequence[ActivityEntry]) -> None:
        self.beginResetModel()
        self._rows = sorted(entries, key=lambda entry: entry.at, reverse=True)[: self.MAX_ROWS]
        self.endResetModel()

    def prepend(self, entries: Sequence[ActivityEntry]) -> None:
        """Newest first: a batch goes on top in one insert; the oldest fall off the end."""
        if not entries:
            return
        newest_first = list(reversed(entries))
        self.beginInsertRows(QModelIndex(), 0, len(newest_first) - 1)
        self._rows[0:0] = newest_first
        self.endInsertRows()
        excess = len(self._rows) - self.MAX_ROWS
        if excess > 0:
            self.beginRemoveRows(QModelIndex(), self.MAX_ROWS, len(self._rows) - 1)
            del self._rows[self.MAX_ROWS :]
            self.endRemoveRows()


class ActivityFilterProxy(QSortFilterProxyModel):
    """Search over incident, ticket and text; "problems only" keeps failures, skips and retries."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._problems = False

    def set_text(self, text: str) -> None:
        text = text.strip().casefold()
        if text != self._text:
            refilter(self, lambda: setattr(self, "_text", text))

    def set_problems_only(self, enabled: bool) -> None:
        if enabled != self._problems:
            refilter(self, lambda: setattr(self, "_problems", enabled))

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:
        model = self.sourceModel()
        if not isinstance(model, ActivityModel) or source_row >= len(model.entries()):
            return False
        entry = model.entry(source_row)
        if self._problems and entry.outcome in ("ok", "resolved"):
            return False
        if not self._text:
            return True
        return any(self._text in part.casefold() for part in (entry.incident, entry.ticket, entry.text))


class ActivityTab(QWidget):
    message = Signal(str)
    whyNot = Signal(str)

    def __init__(self, engine: EngineAPI, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.model = ActivityModel(self)
        self.proxy = ActivityFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setTabKeyNavigation(False)
        self.view.setAccessibleName("Activity")
        add_focus_ring(self.view)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 10)
        header = self.view.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in ((COL_TIME, 80), (COL_DIRECTION, 110), (COL_INCIDENT, 110), (COL_TICKET, 130)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(COL_TIME, QHeaderView.ResizeMode.ResizeToContents)

        self.detail = plain_label("Select a row to see its details.")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton(std_icon(QStyle.StandardPixmap.SP_BrowserReload), "Retry")
        self.retry_button.setEnabled(False)
        self.retry_button.clicked.connect(self.retry_selected)
        detail_box = QWidget()
        detail_layout = QHBoxLayout(detail_box)
        detail_layout.setContentsMargins(6, 6, 6, 6)
        detail_layout.addWidget(self.detail, 1)
        detail_layout.addWidget(self.retry_button, 0, Qt.AlignmentFlag.AlignTop)

        self.new_rows = NewRowsButton()
        self.held: HeldRows[ActivityEntry] = HeldRows(self.view, self.new_rows, self.model.prepend)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search incident, ticket or text")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search the activity")
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(150)
        timer.timeout.connect(lambda: self.proxy.set_text(self.search.text()))
        self.search.textChanged.connect(lambda _text: timer.start())
        self.problems_only = QCheckBox("&Problems only")
        self.problems_only.setToolTip("Show only failures, skips and retries")
        self.problems_only.toggled.connect(self.proxy.set_problems_only)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(8)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.problems_only)
        bar.addWidget(self.new_rows)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(6)
        top_layout.addLayout(bar)
        top_layout.addWidget(self.view, 1)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(top)
        self.splitter.addWidget(detail_box)
        self.splitter.setStretchFactor(0, 5)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.splitter)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)

    async def reload(self) -> None:
        rows = await self.engine.list_audit(limit=500)
        self.model.set_entries([entry_for_audit(row) for row in rows])

    def apply_events(self, events: Sequence[EngineEvent]) -> None:
        now = now_utc()
        entries = [entry for event in events if (entry := entry_for_event(event, now)) is not None]
        for event in events:
            if isinstance(event, PushSucceeded):
                self.model.resolve("outbound", event.sys_id)
            elif isinstance(event, ReturnApplied):
                self.model.resolve("return", event.sys_id)
            elif isinstance(event, AuditRecorded) and event.from_store and event.row.outcome == "ok":
                self.model.resolve(event.row.direction, event.row.sys_id or "")
        self.held.add(entries)  # never inserted under the user's cursor

    def selected_entry(self) -> ActivityEntry | None:
        index = self.view.currentIndex()
        entry = index.data(EntryRole) if index.isValid() else None
        return entry if isinstance(entry, ActivityEntry) else None

    def _context_menu(self, point: QPoint) -> None:
        show_row_menu(
            self.view, point, EntryRole, lambda e: self.row_menu(e) if isinstance(e, ActivityEntry) else None
        )

    def row_menu(self, entry: ActivityEntry) -> QMenu:
        menu = QMenu(self)
        add_record_actions(
            menu, self.engine, self.message, entry.sys_id, entry.incident, entry.ticket_id, entry.ticket
        )
        if entry.incident:
            why = menu.addAction("&Why not? / Why?")
            why.triggered.connect(lambda: self.whyNot.emit(entry.incident))
        if entry.retry is not None:
            menu.addSeparator()
            retry = menu.addAction("Re&try")
            retry.triggered.connect(self.retry_selected)
        return menu

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        entry = current.data(EntryRole) if current.isValid() else None
        if not isinstance(entry, ActivityEntry):
            self.detail.setText("Select a row to see its details.")
            self.retry_button.setEnabled(False)
            return
        parts = [f"{local_time(entry.at, with_date=True)} — {entry.text}"]
        if entry.detail and entry.detail not in entry.text:
            parts.append(f"\n{entry.detail}")
        self.detail.setText("".join(parts))
        self.retry_button.setEnabled(entry.retry is not None)
        self.retry_button.setText("Retry update" if entry.retry == "return" else "Retry push")

    def retry_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or entry.retry is None:
            return
        self.retry_button.setEnabled(False)
        spawn(
            self._retry(entry),
            name="retry",
            on_error=lambda error: self.message.emit(f"Retry failed: {error}"),
        )

    async def _retry(self, entry: ActivityEntry) -> None:
        if entry.retry == "return" and entry.ticket_id is not None:
            await self.engine.retry_return(entry.ticket_id)
            self.message.emit(f"Retrying the update of {entry.incident} from ticket {entry.ticket}")
        elif entry.retry == "push":
            results = await self.engine.retry([entry.incident])
            failed = [result.message for result in results if not result.ok]
            self.message.emit(f"Retry of {entry.incident}: " + (failed[0] if failed else "queued"))
