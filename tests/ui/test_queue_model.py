"""QueueModel: in-place updates, batched inserts/removals, sort and filter."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from ui_fakes import make_row

from app.engine.events import ItemQueued, ItemRemoved, ItemUpdated
from app.engine.views import QueueRow
from app.ui.main_window import MainWindow
from app.ui.queue_model import (
    ACTIVE_STATES,
    COL_AGE,
    COL_ATTEMPTS,
    COL_NUMBER,
    COL_PRIORITY,
    COL_STATE,
    QueueModel,
    RowRole,
)


class Recorder:
    def __init__(self, model: QueueModel) -> None:
        self.changed: list[tuple[int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        self.resets = 0
        model.dataChanged.connect(lambda a, b, *_: self.changed.append((a.row(), b.row())))
        model.rowsInserted.connect(lambda _p, a, b: self.inserted.append((a, b)))
        model.rowsRemoved.connect(lambda _p, a, b: self.removed.append((a, b)))
        model.modelReset.connect(self._reset)

    def _reset(self) -> None:
        self.resets += 1


def test_model_passes_qtmodeltester(qtmodeltester: Any) -> None:
    model = QueueModel()
    model.set_rows([make_row(n) for n in range(20)])
    qtmodeltester.check(model)
    model.sort(COL_PRIORITY)
    qtmodeltester.check(model)


def test_display_columns() -> None:
    model = QueueModel()
    model.set_rows([make_row(2, priority=3, attempts=2, last_error="HTTP 500: queueID invalid")])
    assert model.index(0, COL_NUMBER).data() == "INC0000002"
    assert model.index(0, COL_PRIORITY).data() == "3 - Moderate"
    assert model.index(0, COL_STATE).data() == "Waiting"
    assert model.index(0, COL_ATTEMPTS).data() == "2 · HTTP 500: queueID invalid"
    assert model.index(0, COL_AGE).data()  # humanised, e.g. "2 min" or "3 d 4 h"
    assert model.index(0, 0).data(RowRole).sys_id == "sys000002"


def test_update_in_place_emits_narrow_data_changed() -> None:
    model = QueueModel()
    model.set_rows([make_row(n) for n in range(10)])
    record = Recorder(model)
    updated = replace(make_row(5), state="failed", attempts=1, last_error="refused")
    model.apply([ItemUpdated(updated)])
    assert record.changed == [(5, 5)]
    assert record.inserted == [] and record.removed == [] and record.resets == 0
    assert model.index(5, COL_STATE).data() == "Failed"
    assert model.rowCount() == 10


def test_batch_insert_is_one_block_and_last_event_wins() -> None:
    model = QueueModel()
    model.set_rows([make_row(n) for n in range(3)])
    record = Recorder(model)
    events = [ItemQueued(make_row(n)) for n in range(3, 103)]
    events.append(ItemUpdated(make_row(50, short_description="changed")))
    model.apply(events)
    assert record.inserted == [(3, 102)]
    assert model.rowCount() == 103
    assert model.row_for("sys000050") is not None
    assert model.row_for("sys000050").short_description == "changed"  # type: ignore[union-attr]


def test_removals_and_pushed_rows_leave_and_index_stays_consistent() -> None:
    model = QueueModel()
    model.set_rows([make_row(n) for n in range(10)])
    record = Recorder(model)
    model.apply(
        [
            ItemRemoved("sys000002", "INC0000002", "no longer matches"),
            ItemUpdated(replace(make_row(3), state="pushed")),
            ItemRemoved("sys000007", "INC0000007", "cancelled"),
            ItemRemoved("unknown", "INC9", "never queued"),
        ]
    )
    assert sorted(record.removed) == [(2, 3), (7, 7)]
    assert record.resets == 0
    assert model.rowCount() == 7
    for position in range(model.rowCount()):
        row = model.row_at(position)
        assert model.position_of(row.sys_id) == position
    assert model.row_for("sys000003") is None


def test_sort_by_priority_numeric_and_age_by_time() -> None:
    model = QueueModel()
    model.set_rows([make_row(n, priority=p) for n, p in ((1, 4), (2, 1), (3, 3), (4, 2), (5, 5))])
    model.sort(COL_PRIORITY, Qt.SortOrder.AscendingOrder)
    labels = [model.index(r, COL_PRIORITY).data() for r in range(5)]
    assert labels == ["1 - Critical", "2 - High", "3 - Moderate", "4 - Low", "5 - Planning"]
    model.sort(COL_AGE, Qt.SortOrder.DescendingOrder)  # oldest first
    numbers = [model.index(r, COL_NUMBER).data() for r in range(5)]
    assert numbers == ["INC0000005", "INC0000004", "INC0000003", "INC0000002", "INC0000001"]


def test_text_and_state_filter() -> None:
    model = QueueModel()
    rows = [make_row(n) for n in range(8)]
    rows[1] = replace(rows[1], caller="Ada Lovelace")
    rows[2] = replace(rows[2], state="rejected")
    rows[3] = replace(rows[3], state="failed")
    model.set_rows(rows)
    model.set_states(ACTIVE_STATES)  # the queue tab's first choice
    assert model.rowCount() == 7  # rejected hidden by the "active" filter
    model.set_text("lovelace")
    assert model.rowCount() == 1
    model.set_text("INC0000004")
    assert model.rowCount() == 1
    model.set_text("network")  # category of n % 4 == 2 -> rows 2 (rejected) and 6
    assert model.rowCount() == 1
    model.set_text("")
    model.set_states(["failed"])
    assert [model.index(r, COL_NUMBER).data() for r in range(model.rowCount())] == ["INC0000003"]
    model.set_states(["rejected"])
    assert model.rowCount() == 1


def test_filtered_rows_follow_in_place_updates(qtmodeltester: Any) -> None:
    model = QueueModel()
    model.set_rows([make_row(n) for n in range(5)])
    model.set_states(["pending"])
    model.apply([ItemUpdated(replace(make_row(1), state="failed"))])
    assert model.rowCount() == 4
    model.apply([ItemUpdated(make_row(1))])
    assert model.rowCount() == 5
    qtmodeltester.check(model)


def test_hundred_thousand_rows_stay_fast() -> None:
    model = QueueModel()
    model.sort(COL_AGE, Qt.SortOrder.DescendingOrder)
    started = time.perf_counter()
    model.set_rows([make_row(n) for n in range(100_000)])
    updates = [ItemUpdated(replace(make_row(n * 97 % 100_000), attempts=1)) for n in range(1000)]
    model.apply(updates)
    model.apply([ItemQueued(make_row(n)) for n in range(100_000, 105_000)])
    model.apply([ItemRemoved(f"sys{n:06d}", "", "gone") for n in range(0, 100_000, 1000)])
    elapsed = time.perf_counter() - started
    assert model.rowCount() == 104_900
    assert model.rowCount() == 104_900
    assert model.index(0, COL_NUMBER).data() == "INC0104999"  # oldest first
    assert model.index(0, 0, QModelIndex()).isValid()
    assert elapsed < 10.0, f"100k-row operations took {elapsed:.1f}s"


def test_reviewers_follow_claims_without_walking_every_row() -> None:
    """Claims are re-read every few seconds; comparing them with each of 100,000 rows took ~25 ms
    of the GUI thread each time. Only rows claimed now or last time are looked at."""
    model = QueueModel()
    model.set_rows([make_row(n, reviewers=("anna",) if n == 1 else ()) for n in range(6)])
    recorder = Recorder(model)
    model.set_reviewers({make_row(2).sys_id: ("ben",)})  # anna let go of 1, ben opened 2
    by_id = {row.sys_id: row.reviewers for row in model.rows()}
    assert by_id[make_row(1).sys_id] == () and by_id[make_row(2).sys_id] == ("ben",)
    assert len(recorder.changed) == 2
    model.apply([ItemUpdated(replace(make_row(3), reviewers=("cleo",)))])  # a row arriving claimed
    model.set_reviewers({})
    assert all(row.reviewers == () for row in model.rows())

    class Watched(dict[str, QueueRow]):
        touched = 0

        def values(self) -> Any:  # a walk over every row
            Watched.touched += 1
            return super().values()

    model._queue.by_id = Watched(model._queue.by_id)
    model.set_reviewers({make_row(4).sys_id: ("dan",)})
    assert Watched.touched == 0


def test_badges_follow_a_switch_to_the_dark_palette(window: MainWindow, qapp: Any) -> None:
    """A child widget hears of a new application palette as PaletteChange, not the
    ApplicationPaletteChange only windows get: the badges kept the light colours."""
    from PySide6.QtGui import QColor, QPalette

    from app.ui.badges import badge_brushes

    tab = window.queue_tab
    tab.model.set_rows([make_row(1, state="approved")])
    light = qapp.palette()
    dark = QPalette(light)
    for role, colour in ((QPalette.ColorRole.Window, "#202020"), (QPalette.ColorRole.Base, "#181818")):
        dark.setColor(role, QColor(colour))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    dark.setColor(QPalette.ColorRole.Text, QColor("#eeeeee"))
    index = tab.model.index(0, COL_STATE)
    assert not tab.model._dark
    try:
        qapp.setPalette(dark)
        qapp.processEvents()
        expected = badge_brushes("state", "approved", True)
        assert tab.model._dark and expected is not None
        assert tab.model.data(index, Qt.ItemDataRole.BackgroundRole) == expected[0]
    finally:
        qapp.setPalette(light)
        qapp.processEvents()
    assert not tab.model._dark
