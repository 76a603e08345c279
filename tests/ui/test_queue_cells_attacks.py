"""Attacks on the queue's painted cells and the steady tab titles (an adversarial review): the cells
and the selection stay on their incidents through any sequence of changes, a filter writes only a
screenful, and tab titles never skip a layout that is needed."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from ui_fakes import make_row

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.ui.main_window import MainWindow
from app.ui.queue_model import COL_AGE, COL_NUMBER, COL_PRIORITY, COL_STATE
from app.ui.queue_view import QueueTab
from app.ui.widgets import SteadyTabs

ROLES = (
    Qt.ItemDataRole.DisplayRole,
    Qt.ItemDataRole.TextAlignmentRole,
    Qt.ItemDataRole.ForegroundRole,
    Qt.ItemDataRole.BackgroundRole,
)


def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def _tab(window: MainWindow, rows: list[Any]) -> QueueTab:
    tab = window.queue_tab
    window.resize(1280, 800)
    window.show()
    tab.model.set_rows(rows)
    deadline = time.monotonic() + 5
    while tab.stack.currentWidget() is not tab.view and time.monotonic() < deadline:
        QApplication.processEvents()
    settle()
    return tab


def visible_positions(tab: QueueTab) -> range:
    """What the view really shows once its layout settled (not what QueueCells thinks)."""
    settle()
    view = tab.view
    top = view.rowAt(0)
    bottom = view.rowAt(view.viewport().height() - 1)
    if bottom < 0:
        bottom = tab.model.rowCount() - 1
    return range(max(top, 0), bottom + 1)


def assert_visible_match(tab: QueueTab) -> None:
    model, cells = tab.model, tab.cells
    assert cells.rowCount() == model.rowCount()
    for position in visible_positions(tab):
        for column in range(model.columnCount()):
            for role in ROLES:
                painted = cells.index(position, column).data(role)
                expected = model.data(model.index(position, column), role)
                assert painted == expected, (position, column, role, painted, expected)


def selected_ids(tab: QueueTab) -> set[str]:
    return {row.sys_id for row in tab.selected_rows()}


# ---- selection: the user must never act on an incident they did not select ------------------------


def test_select_all_then_switch_state_filter_selects_nothing_new(window: MainWindow) -> None:
    """Ctrl+A on 200 waiting incidents, then Show: Failed. The failed incidents were never
    selected; they must not come up selected (an Approve would send them)."""
    rows = [make_row(n) for n in range(200)] + [
        make_row(n, state="failed", attempts=1, last_error="HTTP 500") for n in range(200, 350)
    ]
    tab = _tab(window, rows)
    tab.select_state_filter("Waiting for approval")
    settle()
    assert tab.model.rowCount() == 200
    tab.view.setFocus()
    tab.view.selectAll()  # Ctrl+A
    assert len(tab.selected_rows()) == 200
    tab.select_state_filter("Failed")  # a layout change: 200 rows leave, 150 others come
    settle()
    assert tab.model.rowCount() == 150
    wrongly = [row.number for row in tab.selected_rows()]
    assert wrongly == [], f"{len(wrongly)} never-selected failed incidents are selected"
    assert tab.preview is not None


def test_select_all_then_a_batch_with_a_duplicate_does_not_select_the_arrival(window: MainWindow) -> None:
    """Ctrl+A, then a poll batch: two incidents leave (pushed), one suspected duplicate arrives
    (the grouped order is recomputed whole: one layout change, fewer rows)."""
    tab = _tab(window, [make_row(n) for n in range(200)])
    tab.view.setFocus()
    tab.view.selectAll()
    before = selected_ids(tab)
    assert len(before) == 200
    arrival = make_row(500, duplicate_of="INC0000001", duplicate_note="same caller")
    tab.model.apply(
        [
            ItemRemoved(make_row(10).sys_id, "", ""),
            ItemRemoved(make_row(11).sys_id, "", ""),
            ItemQueued(arrival),
        ]
    )
    settle()
    assert tab.model.rowCount() == 199
    assert arrival.sys_id not in selected_ids(tab), "an incident that just arrived is selected"


def test_select_all_then_hold_back_and_release_keeps_only_selected(window: MainWindow) -> None:
    """Held as it holds (reject's undo window): passes if the released row is not newly selected
    and nothing else appears selected."""
    tab = _tab(window, [make_row(n) for n in range(200)])
    tab.view.selectAll()
    held = tab.model.row_at(5).number
    tab.hold_back([held])
    assert len(tab.selected_rows()) == 199
    tab.release([held])
    assert held not in {row.number for row in tab.selected_rows()}
    assert len(tab.selected_rows()) == 199


def test_random_sequences_keep_cells_and_selection_on_their_rows(window: MainWindow) -> None:
    """Scroll, bursts (contiguous and scattered), in-place updates, removals, filter, sort,
    hold/release, full reload: after each step the visible cells are the model's and the selected
    incidents are exactly the ones selected before that are still shown."""
    rng = random.Random(20261202)
    tab = _tab(window, [make_row(n) for n in range(400)])
    model, view = tab.model, tab.view
    next_id = 1000
    for step in range(120):
        before = selected_ids(tab)
        current = view.currentIndex()
        current_id = (
            model.row_at(current.row()).sys_id
            if current.isValid() and current.row() < model.rowCount()
            else None
        )
        op = rng.choice(
            ["scroll", "burst", "scatter", "update", "remove", "filter", "sort", "hold", "select", "reload"]
        )
        if op == "scroll":
            bar = view.verticalScrollBar()
            bar.setValue(rng.randint(0, max(bar.maximum(), 0)))
        elif op == "burst":
            rows = [make_row(next_id + k) for k in range(rng.randint(1, 40))]
            next_id += len(rows)
            model.apply([ItemQueued(row) for row in rows])
        elif op == "scatter":
            rows = [make_row(rng.randint(2000, 90000)) for _ in range(rng.randint(30, 120))]
            model.apply([ItemQueued(row) for row in rows if model.row_for(row.sys_id) is None])
        elif op == "update" and model.rowCount():
            picks = [model.row_at(rng.randrange(model.rowCount())) for _ in range(rng.randint(1, 10))]
            model.apply(
                [
                    ItemUpdated(
                        replace(
                            row,
                            state=rng.choice(["pending", "failed", "approved"]),
                            priority=rng.randint(1, 5),
                        )
                    )
                    for row in picks
                ]
            )
        elif op == "remove" and model.rowCount():
            picks = {model.row_at(rng.randrange(model.rowCount())).sys_id for _ in range(rng.randint(1, 50))}
            model.apply([ItemRemoved(sys_id, "", "") for sys_id in picks])
        elif op == "filter":
            model.set_text(rng.choice(["", "", "floor 1", "jams #1", "caller 3", "hardware"]))
        elif op == "sort":
            model.sort(
                rng.choice([COL_NUMBER, COL_PRIORITY, COL_AGE, COL_STATE]), rng.choice(list(Qt.SortOrder))
            )
        elif op == "hold" and model.rowCount():
            if tab._held_back:
                tab.release(list(tab._held_back))
            else:
                tab.hold_back([model.row_at(rng.randrange(model.rowCount())).number])
        elif op == "select" and model.rowCount():
            tab.select_number(model.row_at(rng.randrange(model.rowCount())).number)
            before = selected_ids(tab)
            current_id = model.row_at(view.currentIndex().row()).sys_id
        elif op == "reload":
            model.set_rows(list(model.rows()))
            before, current_id = set(), None
        settle(3)
        shown = {model.row_at(p).sys_id for p in range(model.rowCount())}
        assert selected_ids(tab) == before & shown, (step, op)
        now = view.currentIndex()
        if current_id is not None and current_id in shown:
            assert now.isValid() and model.row_at(now.row()).sys_id == current_id, (step, op)
        assert_visible_match(tab)


def test_keyboard_end_pagedown_and_shift_end_reach_written_rows(window: MainWindow) -> None:
    tab = _tab(window, [make_row(n) for n in range(3000)])
    view = tab.view
    view.setFocus()
    tab.select_number(tab.model.row_at(0).number)
    QTest.keyClick(view, Qt.Key.Key_PageDown)
    assert_visible_match(tab)
    QTest.keyClick(view, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    assert_visible_match(tab)
    assert view.currentIndex().row() == tab.model.rowCount() - 1
    view.scrollToTop()
    settle()
    first = view.visualRect(tab.cells.index(0, COL_NUMBER)).center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=first)
    view.scrollToBottom()
    settle()
    last = view.visualRect(tab.cells.index(2999, COL_NUMBER)).center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, last)
    numbers = [row.number for row in tab.selected_rows()]
    assert len(numbers) == 3000  # Shift+click across 2,900 rows never written
    assert numbers == [tab.model.row_at(p).number for p in range(3000)]
    assert_visible_match(tab)


def test_palette_restyle_rewrites_cells_scrolled_away(window: MainWindow) -> None:
    rows = [
        make_row(n, state="failed", last_error="x", attempts=1) if n % 3 == 0 else make_row(n)
        for n in range(600)
    ]
    tab = _tab(window, rows)
    bar = tab.view.verticalScrollBar()
    bar.setValue(300)
    settle()
    bar.setValue(0)
    settle()
    tab.model._dark = not tab.model._dark  # as restyle() would find after a palette switch
    from PySide6.QtGui import QBrush, QColor

    tab.model._failed_tint = QBrush(QColor("#123456"))
    model = tab.model
    model.dataChanged.emit(model.index(0, 0), model.index(model.rowCount() - 1, 7))
    assert_visible_match(tab)
    bar.setValue(300)
    assert_visible_match(tab)


def test_filter_while_scrolled_to_the_bottom_writes_only_a_screenful(window: MainWindow) -> None:
    """Performance: a filter that leaves fewer rows than the old top row must not write every row."""
    tab = _tab(window, [make_row(n) for n in range(6000)])
    tab.view.scrollToBottom()
    settle()
    written: list[int] = []
    original = tab.cells.setItemData

    def spy(index: Any, roles: Any) -> bool:
        written.append(index.row())
        return original(index, roles)

    tab.cells.setItemData = spy  # type: ignore[method-assign]
    tab.model.set_text("floor 1")  # ~667 rows, far fewer than the top row's position
    settle()
    rows_written = len(set(written))
    assert rows_written < 200, f"{rows_written} rows written for one filter change"
    assert_visible_match(tab)


# ---- SteadyTabs --------------------------------------------------------------------------------------


def _tabs() -> tuple[SteadyTabs, QWidget]:
    tabs = SteadyTabs()
    page = QWidget()
    tabs.addTab(page, "Queue")
    tabs.addTab(QWidget(), "Other")
    tabs.resize(600, 400)
    tabs.show()
    settle()
    return tabs, page


def test_steady_tabs_hiding_the_tab_bar_gives_the_page_the_room(qapp: Any) -> None:
    tabs, page = _tabs()
    height = page.height()
    tabs.tabBar().hide()
    settle()
    assert page.height() > height, "the page did not grow into the hidden bar's room"
    tabs.tabBar().show()
    settle()
    assert page.height() == height
    tabs.close()


def test_steady_tabs_corner_widget_growing_is_laid_out(qapp: Any) -> None:
    tabs, _page = _tabs()
    corner = QLabel("x")
    tabs.setCornerWidget(corner, Qt.Corner.TopRightCorner)
    settle()
    corner.setText("a much longer corner text than before, surely")
    settle()
    assert corner.width() >= corner.sizeHint().width(), (corner.width(), corner.sizeHint().width())
    tabs.close()


def test_steady_tabs_shorter_title_then_new_tab(qapp: Any) -> None:
    tabs, _page = _tabs()
    tabs.set_title(0, "Queue (100,000)")
    settle()
    tabs.set_title(0, "Queue")
    settle()
    tabs.set_title(1, "Other (1)")
    settle()
    bar = tabs.tabBar()
    assert bar.tabRect(1).right() <= bar.width()
    assert bar.tabText(0) == tabs.tabText(0) == "Queue"
    tabs.close()


def test_first_arrivals_on_a_never_shown_table_get_their_cells(window: MainWindow) -> None:
    """Start on an empty queue (the table hidden behind the placeholder, never laid out), then a
    poll brings 500 incidents: once the table shows, every visible cell is the model's."""
    tab = window.queue_tab
    window.resize(1280, 800)
    window.show()
    settle()
    assert tab.stack.currentWidget() is not tab.view
    tab.apply_events([ItemQueued(make_row(n)) for n in range(500)])
    deadline = time.monotonic() + 5
    while (tab.pending_events or tab.stack.currentWidget() is not tab.view) and time.monotonic() < deadline:
        QApplication.processEvents()
    assert_visible_match(tab)
    tab.view.verticalScrollBar().setValue(200)
    assert_visible_match(tab)
