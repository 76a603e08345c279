"""The queue table paints from cells Qt holds (app/ui/queue_cells.py), never asking Python per cell:
each Python call during a repaint had to take the interpreter lock, so a repaint beside a busy
engine worker took two frames. These tests pin that the painted cells are always what the queue
model says for every row on screen, through every kind of change, and that selection, tooltips and
sorting still work through them. (Speed is measured in benchmarks/desk.py, not asserted here.)"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import timedelta
from types import FrameType
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolTip,
)
from ui_fakes import NOW, make_row

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.ui.main_window import MainWindow
from app.ui.queue_cells import QueueCells
from app.ui.queue_model import COL_DESCRIPTION, COL_NUMBER, COL_PRIORITY, COL_STATE, QueueModel
from app.ui.queue_view import QueueTab

PAINTED_ROLES = (
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.TextAlignmentRole,
    Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.BackgroundRole,
)


def _every_look(count: int) -> list[Any]:
    rows = [make_row(n) for n in range(count)]
    rows[1] = replace(rows[1], state="failed", attempts=2, last_error="HTTP 500")
    rows[2] = replace(rows[2], priority=1)
    rows[3] = replace(rows[3], state="approved", reviewers=("anna",))
    return rows


def _tab(window: MainWindow, count: int = 300) -> QueueTab:
    tab = window.queue_tab
    window.resize(1280, 800)
    window.show()
    tab.model.set_rows(_every_look(count))
    deadline = time.monotonic() + 5
    while tab.stack.currentWidget() is not tab.view and time.monotonic() < deadline:
        QApplication.processEvents()  # the list replaces the empty placeholder (a 50 ms timer)
    QApplication.processEvents()  # the view lays out its rows (scroll range, geometry)
    assert tab.view.isVisible() and tab.view.viewport().height() > 300
    return tab


def assert_screen_matches(tab: QueueTab) -> int:
    """Every cell of every row on screen shows what the queue model says; returns rows checked."""
    model, cells = tab.model, tab.cells
    assert cells.rowCount() == model.rowCount()
    screen = cells.screen_rows()
    for position in screen:
        for column in range(model.columnCount()):
            for role in PAINTED_ROLES:
                painted = cells.index(position, column).data(role)
                expected = model.data(model.index(position, column), role)
                assert painted == expected, (position, column, role, painted, expected)
    return len(screen)


def test_a_repaint_of_the_queue_calls_no_python(window: MainWindow) -> None:
    tab = _tab(window, 1000)
    viewport = tab.view.viewport()
    viewport.grab()
    called: list[str] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and "/app/" in frame.f_code.co_filename:
            called.append(f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")

    sys.setprofile(profile)
    try:
        viewport.grab()  # paints every cell on screen (a repaint() of a hidden widget paints nothing)
    finally:
        sys.setprofile(None)
    assert called == []  # not per cell, and no event filter either (one call per event)
    assert tab.view.model() is tab.cells and assert_screen_matches(tab) > 20


def test_showing_the_queue_model_itself_would_call_python_per_cell(qapp: Any) -> None:
    """The other side of the test above: a view on the Python model asks it for every cell."""
    model = QueueModel()
    model.set_rows([make_row(n) for n in range(30)])
    view = QTableView()
    view.setModel(model)
    view.resize(900, 500)
    view.viewport().grab()
    calls = 0

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        nonlocal calls
        calls += event == "call" and frame.f_code.co_name in ("data", "rowCount")

    sys.setprofile(profile)
    try:
        view.viewport().grab()
    finally:
        sys.setprofile(None)
    assert calls > 100


def test_cells_follow_every_kind_of_change(window: MainWindow) -> None:
    tab = _tab(window)
    model = tab.model
    assert assert_screen_matches(tab) > 20
    tab.view.verticalScrollBar().setValue(150)  # scrolled: the rows now on screen get their cells
    assert tab.cells.screen_rows().start > 100
    assert_screen_matches(tab)
    tab.view.scrollToTop()
    model.sort(COL_PRIORITY, Qt.SortOrder.DescendingOrder)
    assert_screen_matches(tab)
    model.set_text("jams #1")
    assert 0 < model.rowCount() < 300
    assert_screen_matches(tab)
    model.set_text("")
    model.apply([ItemQueued(make_row(n)) for n in range(1000, 1100)])  # scattered among the rows
    assert_screen_matches(tab)
    first = model.row_at(0)
    model.apply([ItemUpdated(replace(first, state="failed", last_error="HTTP 503"))])  # in place
    assert_screen_matches(tab)
    model.apply([ItemRemoved(model.row_at(position).sys_id, "", "") for position in range(3)])
    assert_screen_matches(tab)
    model.refresh_ages(NOW + timedelta(days=3))
    assert_screen_matches(tab)
    model.set_rows(_every_look(40))  # a full reload
    assert assert_screen_matches(tab) > 20
    model.set_rows(list(model.rows()))  # reloaded with the very same rows
    assert_screen_matches(tab)


def test_scrolling_through_a_long_queue_keeps_the_record_of_written_rows_short(window: MainWindow) -> None:
    tab = _tab(window, 3000)
    bar = tab.view.verticalScrollBar()
    for value in range(0, bar.maximum() + 1, 20):  # a screenful at a time, to the end
        bar.setValue(value)
    screen = len(tab.cells.screen_rows())
    assert len(tab.cells._written) <= 5 * screen + 64
    bar.setValue(0)  # rows forgotten on the way are written again when they come back
    assert_screen_matches(tab)


def test_a_row_that_leaves_and_comes_back_at_the_end_gets_its_cells_again(window: MainWindow) -> None:
    tab = _tab(window, 12)  # every row on screen
    model = tab.model
    last = model.row_at(model.rowCount() - 1)
    model.apply([ItemRemoved(last.sys_id, "", "")])
    model.apply([ItemQueued(last)])  # the same row, back in the same (last) place
    assert model.row_at(model.rowCount() - 1) is last
    assert_screen_matches(tab)
    model.set_held([last.number])  # hidden and shown again by the filter (a reject and its undo)
    model.set_held([])
    assert_screen_matches(tab)


def test_selection_stays_on_its_row_through_filter_sort_held_and_new_rows(window: MainWindow) -> None:
    tab = _tab(window, 40)
    model = tab.model
    tab.select_number("INC0000009")

    def selected() -> list[str]:
        return [row.number for row in tab.selected_rows()]

    assert selected() == ["INC0000009"]
    model.set_text("jams #9")  # the selected row and few others
    assert selected() == ["INC0000009"] and model.rowCount() < 40
    model.set_text("")
    model.sort(COL_PRIORITY, Qt.SortOrder.DescendingOrder)
    model.apply([ItemQueued(make_row(n)) for n in range(200, 260)])  # scattered among the rows
    assert selected() == ["INC0000009"]
    tab.hold_back([model.row_at(0).number])  # a row above it hidden (a reject's undo window)
    assert selected() == ["INC0000009"]
    assert model.row_at(tab.view.currentIndex().row()).number == "INC0000009"
    model.set_text("lovelace")  # the selected row is filtered out: the selection goes with it
    assert selected() == []


def test_a_header_click_sorts_the_queue(window: MainWindow) -> None:
    tab = _tab(window, 30)
    header = tab.view.horizontalHeader()
    x = header.sectionViewportPosition(COL_PRIORITY) + header.sectionSize(COL_PRIORITY) // 2
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2))
    assert tab.model.sort_column == COL_PRIORITY
    priorities = [tab.model.row_at(position).priority for position in range(tab.model.rowCount())]
    assert priorities in (sorted(priorities), sorted(priorities, reverse=True))
    assert_screen_matches(tab)


def test_tooltips_come_from_the_queue_model(window: MainWindow, qapp: Any) -> None:
    """The mouse reaching a cell writes its tooltip (no event filter on the view: that would be a
    Python call for every paint); Qt shows it from the cell."""
    tab = _tab(window, 30)
    view = tab.view
    for column in (COL_DESCRIPTION, COL_STATE):
        rect = view.visualRect(tab.cells.index(1, column))
        QTest.mouseMove(view.viewport(), rect.center())
        event = QHelpEvent(QEvent.Type.ToolTip, rect.center(), view.viewport().mapToGlobal(rect.center()))
        qapp.sendEvent(view.viewport(), event)
        expected = tab.model.data(tab.model.index(1, column), Qt.ItemDataRole.ToolTipRole)
        assert expected and QToolTip.text() == expected
    QToolTip.hideText()
    tab.model.sort(COL_PRIORITY, Qt.SortOrder.DescendingOrder)  # another row under the mouse now
    tooltip = tab.cells.index(1, COL_DESCRIPTION).data(Qt.ItemDataRole.ToolTipRole)
    now = tab.model.data(tab.model.index(1, COL_DESCRIPTION), Qt.ItemDataRole.ToolTipRole)
    assert tooltip in (None, now)


def test_a_taller_window_shows_cells_for_the_rows_it_adds(window: MainWindow) -> None:
    tab = _tab(window, 300)
    shown = len(tab.cells.screen_rows())
    window.resize(1280, 1400)
    deadline = time.monotonic() + 5
    while len(tab.cells.screen_rows()) <= shown and time.monotonic() < deadline:
        QApplication.processEvents()
    assert len(tab.cells.screen_rows()) > shown
    assert_screen_matches(tab)


def test_cells_cannot_be_edited(window: MainWindow) -> None:
    tab = _tab(window, 10)
    assert tab.view.editTriggers() == QAbstractItemView.EditTrigger.NoEditTriggers
    rect = tab.view.visualRect(tab.cells.index(0, COL_NUMBER))
    QTest.mouseDClick(tab.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert tab.view.state() != QAbstractItemView.State.EditingState
    assert tab.cells.index(0, COL_NUMBER).data() == tab.model.row_at(0).number


def test_the_delegate_shows_each_cell_as_it_is_not_as_the_one_before(window: MainWindow) -> None:
    """Qt's delegate reuses one set of role slots for every cell it paints: a slot left alone
    kept the previous cell's badge colour and centring (the whole table in badge colours)."""
    tab = _tab(window, 10)
    cells: QueueCells = tab.cells
    delegate = QStyledItemDelegate()
    for position in range(cells.rowCount()):
        for column in range(cells.columnCount()):  # a badge, then a plain cell, with one delegate
            index = cells.index(position, column)
            option = QStyleOptionViewItem()
            delegate.initStyleOption(option, index)
            expected = tab.model.data(tab.model.index(position, column), Qt.ItemDataRole.BackgroundRole)
            assert (
                (option.backgroundBrush == expected)
                if expected is not None
                else option.backgroundBrush.style() == Qt.BrushStyle.NoBrush
            )
            alignment = tab.model.data(tab.model.index(position, column), Qt.ItemDataRole.TextAlignmentRole)
            if alignment is None:
                assert option.displayAlignment & Qt.AlignmentFlag.AlignLeft, (position, column)
            else:
                assert int(option.displayAlignment) == alignment, (position, column)


def test_selecting_through_the_selection_model_uses_the_cells(window: MainWindow) -> None:
    tab = _tab(window, 10)
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    tab.view.selectionModel().setCurrentIndex(tab.cells.index(4, COL_NUMBER), flags)
    assert [row.number for row in tab.selected_rows()] == [tab.model.row_at(4).number]
    menu = tab.row_menu(4)
    assert any("Why not" in action.text() for action in menu.actions())
