"""The queue's fast paths (issue 14, "Never sluggish"), as behaviour: the filter and order kept beside
the rows, typing debounced, events applied in slices, the reload's index built off the GUI thread.
Speed itself is measured in benchmarks/ (benchmarks/desk.py), never asserted here."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import qasync
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QTableView
from ui_fakes import FakeEngine, make_row, wait_until

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.engine.views import QueueRow
from app.ui.main_window import MainWindow
from app.ui.queue_model import ACTIVE_STATES, COL_NUMBER, COL_PRIORITY, COL_STATE, QueueModel, RowRole
from app.ui.queue_rows import QueueRows, RowFilter
from app.ui.queue_view import APPLY_SPACING_MS, COUNTS_SPACING_MS, EVENT_SLICE


def _shown(model: QueueModel) -> list[str]:
    return [model.index(position, COL_NUMBER).data() for position in range(model.rowCount())]


def _queue(count: int = 12) -> QueueModel:
    model = QueueModel()
    rows = [make_row(n) for n in range(count)]
    rows[3] = replace(rows[3], caller="Ada Lovelace", short_description="Disk full")
    rows[4] = replace(rows[4], short_description="Printer", category="network", state="failed")
    model.set_rows(rows)
    model.set_states(ACTIVE_STATES)  # the queue tab's first choice
    return model


def test_text_filter_matches_any_one_field_case_blind() -> None:
    model = _queue()
    model.set_text("  LOVELACE ")
    assert _shown(model) == ["INC0000003"]
    model.set_text("inc0000004")  # the number
    assert _shown(model) == ["INC0000004"]
    model.set_text("network")  # category of rows 2, 4, 6, 10 (make_row: n % 4 == 2) and row 4's own
    assert sorted(_shown(model)) == ["INC0000002", "INC0000004", "INC0000006", "INC0000010"]
    model.set_text("full ada")  # a phrase never matches across two fields
    assert _shown(model) == []
    model.set_text("")
    assert len(_shown(model)) == 12


def test_filter_follows_rows_that_change_arrive_and_leave() -> None:
    model = _queue()
    model.set_text("printer")  # every make_row description but row 3's
    model.set_states(["pending"])
    assert "INC0000004" not in _shown(model)  # failed
    model.apply([ItemUpdated(replace(make_row(4), short_description="Printer again"))])  # pending now
    assert "INC0000004" in _shown(model)
    model.apply([ItemUpdated(replace(make_row(5), short_description="Scanner"))])  # text no longer matches
    assert "INC0000005" not in _shown(model)
    model.apply([ItemQueued(make_row(40)), ItemQueued(replace(make_row(41), short_description="Fax"))])
    shown = _shown(model)
    assert "INC0000040" in shown and "INC0000041" not in shown
    assert model.row_for(make_row(41).sys_id) is not None  # held, only filtered out
    model.apply([ItemRemoved(make_row(40).sys_id, "INC0000040", "gone")])
    assert "INC0000040" not in _shown(model)
    counts = model.state_counts()  # kept as rows come and go: row 4 is pending again
    assert counts["failed"] == 0 and counts["pending"] == len(model) == 13


def test_order_holds_as_rows_arrive_by_binary_search() -> None:
    model = _queue(30)
    model.sort(COL_STATE)  # needs attention: failed first, then priority, then age
    model.apply([ItemQueued(replace(make_row(n), priority=n % 5 + 1)) for n in range(100, 160)])
    model.apply([ItemUpdated(replace(make_row(7), state="failed"))])
    rows = [model.row_at(position) for position in range(model.rowCount())]
    keys = [QueueModel.sort_key(row, COL_STATE) for row in rows]
    assert keys == sorted(keys)
    assert {rows[0].number, rows[1].number} == {"INC0000004", "INC0000007"}
    for position, row in enumerate(rows):
        assert model.position_of(row.sys_id) == position
        assert model.position_of_number(row.number) == position


def test_selection_survives_filter_sort_and_new_rows(qtbot: Any) -> None:
    model = _queue(40)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    target = model.index(model.position_of(make_row(9).sys_id) or 0, COL_NUMBER)
    view.selectionModel().setCurrentIndex(
        target, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
    )

    def selected() -> list[str]:
        return [index.data(RowRole).number for index in view.selectionModel().selectedRows(COL_NUMBER)]

    assert selected() == ["INC0000009"]
    model.set_text("jams #9")  # rows 9 only ("jams #9" is not a prefix of any other description)
    assert selected() == ["INC0000009"] and model.rowCount() == 1
    model.set_text("")
    model.sort(COL_PRIORITY, Qt.SortOrder.DescendingOrder)
    model.apply([ItemQueued(make_row(n)) for n in range(200, 260)])  # scattered among the rows
    assert selected() == ["INC0000009"]
    assert view.currentIndex().data(RowRole).number == "INC0000009"
    model.set_text("lovelace")  # the selected row is filtered out: the selection goes with it
    assert selected() == []


def test_index_is_pure_python_and_complete() -> None:
    rows = [make_row(n) for n in range(20)]
    built = QueueRows.build(
        rows, QueueModel.sort_key, RowFilter(frozenset({"pending"}), text="#1"), COL_NUMBER
    )
    assert [row.number for row in built.shown.rows] == [f"INC{n:07d}" for n in (1, *range(10, 20))]
    assert len(built.every) == 20 and built.counts["pending"] == 20


def test_typing_is_debounced_into_one_filter_change(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    engine.add_rows([make_row(n) for n in range(50)])
    tab = window.queue_tab
    changes: list[RowFilter] = []
    real = tab.model.set_filter

    def counting(row_filter: RowFilter) -> None:
        changes.append(row_filter)
        real(row_filter)

    tab.model.set_filter = counting  # type: ignore[method-assign]

    async def scenario() -> None:
        await window.load()
        window.show()
        tab.search.setFocus()
        qtbot.keyClicks(tab.search, "jams #42")  # eight keystrokes
        await wait_until(lambda: bool(changes))
        await asyncio.sleep(0.3)  # well past the 150 ms debounce: no second change comes

    loop.run_until_complete(scenario())
    assert [change.text for change in changes] == ["jams #42"]
    assert _shown(tab.model) == ["INC0000042"]


def test_a_burst_of_events_is_applied_in_slices(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    tab = window.queue_tab
    events = [ItemQueued(make_row(n)) for n in range(EVENT_SLICE * 2 + 100)]

    async def scenario() -> None:
        await window.load()
        tab.apply_events(events)
        # one slice at once; the rest on the following turns of the event loop
        assert len(tab.model) == EVENT_SLICE
        assert tab.pending_events == EVENT_SLICE + 100
        await wait_until(lambda: len(tab.model) == len(events))
        assert tab.pending_events == 0

    loop.run_until_complete(scenario())


def test_during_a_burst_the_table_changes_at_most_every_spacing(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """A poll queueing thousands sends a batch every 100 ms; applying (and repainting) each at once
    kept the GUI thread busy a fifth of the time. The first change shows at once, the next waits."""
    tab = window.queue_tab
    changes: list[int] = []
    tab.model.rowsInserted.connect(lambda *_args: changes.append(len(tab.model)))
    tab.model.layoutChanged.connect(lambda *_args: changes.append(len(tab.model)))

    async def scenario() -> None:
        await window.load()
        tab.apply_events([ItemQueued(make_row(1))])
        assert len(tab.model) == 1 and changes == [1]  # after a quiet spell: at once
        for n in range(2, 12):  # ten more batches arrive right behind it
            tab.apply_events([ItemQueued(make_row(n))])
        assert len(tab.model) == 1 and tab.pending_events == 10
        assert 0 < tab._slice_timer.remainingTime() <= APPLY_SPACING_MS * 1.1  # a coarse timer
        await wait_until(lambda: tab.pending_events == 0)
        assert len(tab.model) == 11 and changes[-1] == 11
        assert sorted(set(changes)) == [1, 11]  # the ten batches as one change: never 2, 3, ... rows

    loop.run_until_complete(scenario())


def test_during_a_burst_the_counts_change_at_most_every_counts_spacing(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """Each new count text (filter, tab title) lays out and repaints the whole window: during a
    burst they change once a second, not with every batch; the last batch is counted."""
    tab = window.queue_tab
    counted: list[int] = []
    tab.countChanged.connect(counted.append)

    async def scenario() -> None:
        await window.load()
        counted.clear()
        tab.apply_events([ItemQueued(make_row(1))])
        await wait_until(lambda: counted[-1:] == [1])  # after a quiet spell: 50 ms later
        for n in range(2, 6):  # batches right behind it, each applied (spacing 0 for this test)
            tab._applied_at = -1.0
            tab.apply_events([ItemQueued(make_row(n))])
            assert tab.pending_events == 0
        assert counted == [1]
        assert tab._counts_timer.remainingTime() > COUNTS_SPACING_MS / 2  # waits out the second
        await wait_until(lambda: counted[-1:] == [5])
        assert counted == [1, 5]

    loop.run_until_complete(scenario())


class SlowListEngine(FakeEngine):
    """list_queue waits for a gate: events can arrive while the window reloads."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def list_queue(self, states: Any = None, search: str | None = None) -> list[QueueRow]:
        rows = await super().list_queue(states, search)  # read before the events below
        await self.gate.wait()
        return rows


def test_reload_builds_off_the_gui_thread_and_keeps_events_that_arrive_meanwhile(
    qtbot: Any, loop: qasync.QEventLoop, settings: Any
) -> None:
    engine = SlowListEngine()
    engine.add_rows([make_row(n) for n in range(5)])
    window = MainWindow(engine, use_tray=False, settings=settings)
    qtbot.addWidget(window)
    tab = window.queue_tab
    built_in: list[threading.Thread] = []
    real_prepare = tab.model.prepare

    def prepare(rows: Any) -> QueueRows:
        built_in.append(threading.current_thread())
        return real_prepare(rows)

    tab.model.prepare = prepare  # type: ignore[method-assign]

    async def scenario() -> None:
        reload = asyncio.ensure_future(tab.reload())
        await asyncio.sleep(0.05)
        # while the list is being read: one new incident, one change to a listed one
        tab.apply_events([ItemQueued(make_row(7)), ItemUpdated(replace(make_row(2), state="failed"))])
        engine.gate.set()
        await reload

    loop.run_until_complete(scenario())
    assert built_in and threading.main_thread() not in built_in
    assert tab.model.row_for(make_row(7).sys_id) is not None
    assert tab.model.row_for(make_row(2).sys_id).state == "failed"  # type: ignore[union-attr]
    assert len(tab.model) == 6
