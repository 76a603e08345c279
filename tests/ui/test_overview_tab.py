"""The Overview tab: shows what the engine aggregated (the real pure aggregation over the fake
engine's audit points and samples), switches between 24 hours and 7 days, updates on an engine
event (throttled), and speaks each chart's numbers for keyboard and screen-reader users."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip
from ui_fakes import NOW, FakeEngine, make_row, wait_until

from app.domain.overview import AuditPoint, Overview, SamplePoint
from app.engine.events import ItemQueued, PollFinished
from app.ui.main_window import TAB_OVERVIEW, MainWindow


def day_of_work(engine: FakeEngine) -> None:
    engine.overview_audit = [
        AuditPoint(NOW - timedelta(hours=3, minutes=10), "outbound", "create", "ok"),
        AuditPoint(NOW - timedelta(hours=3, minutes=5), "outbound", "create", "ok"),
        AuditPoint(NOW - timedelta(hours=1), "outbound", "failure", "failed"),
    ]
    engine.overview_samples = [
        SamplePoint(NOW - timedelta(hours=2), queue_waiting=5, budget_used=300, budget_limit=1000),
        SamplePoint(NOW - timedelta(minutes=5), queue_waiting=3, budget_used=400, budget_limit=1000),
    ]


def test_overview_shows_the_data_and_updates_on_an_event(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    day_of_work(engine)
    tab = window.overview_tab
    tab.throttle.setInterval(10)  # the production throttle is seconds; the mechanism is the same

    async def scenario() -> None:
        await window.load()
        window.show()
        window.show_tab(TAB_OVERVIEW)
        assert window.tabs.tabText(TAB_OVERVIEW) == "Overview"
        pushes = tab.cards["pushes"]
        assert pushes.view.chart is not None
        assert sum(v or 0 for v in pushes.view.chart.series[0].values) == 2
        assert pushes.summary.text().startswith("Pushes: 2 ticket(s) linked")
        assert tab.cards["queue"].summary.text().startswith("Queue: 3 waiting now")
        assert tab.cards["failures"].summary.text().startswith("Failures: 1 refused or failed")
        assert (
            tab.cards["budget"]
            .view.accessibleDescription()
            .startswith("Autotask requests: we used at most 40 %")
        )

        # A push happens; the engine publishes; the tab asks again and draws the new number.
        engine.overview_audit.append(AuditPoint(NOW - timedelta(minutes=1), "outbound", "create", "ok"))
        calls = engine.calls.count(("overview", "24h"))
        engine.bus.publish(ItemQueued(make_row(1)))
        engine.bus.publish(PollFinished("servicenow", fetched=1, queued=1))
        await wait_until(lambda: pushes.summary.text().startswith("Pushes: 3 ticket(s) linked"))
        assert engine.calls.count(("overview", "24h")) == calls + 1  # two events, one query

        tab.week.click()
        await wait_until(lambda: tab.overview is not None and tab.overview.window == "7d")
        assert len(pushes.view.buckets) == 28
        assert tab.cards["pushes"].view.chart is not None
        assert tab.cards["pushes"].view.chart.title == "Pushes per 6 hours"
        assert (
            tab.cards["pushes"]
            .summary.text()
            .endswith("in the last 7 days; busiest 6 hours from Mon 06:00 UTC with 3.")
        )

    loop.run_until_complete(scenario())


def test_a_chart_says_its_numbers_to_the_keyboard(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    day_of_work(engine)
    engine.add_rows([make_row(1)])

    async def scenario() -> None:
        await window.load()
        window.show()
        window.activateWindow()
        qtbot.waitActive(window)
        await wait_until(lambda: QApplication.focusWidget() is not None)
        focused = QApplication.focusWidget()
        assert focused is not None
        QTest.keyClick(focused, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)  # View > Overview
        assert window.tabs.currentIndex() == TAB_OVERVIEW
        view = window.overview_tab.cards["queue"].view
        assert view.hasFocus()  # the keyboard lands in the first chart
        QTest.keyClick(view, Qt.Key.Key_End)
        assert view.picked == len(view.buckets) - 1
        assert view.accessibleDescription().endswith(": Waiting 3")
        QTest.keyClick(view, Qt.Key.Key_Left)
        assert view.accessibleDescription().endswith(": Waiting no data")
        # The mouse gets the same words as a tooltip over a bucket, the summary elsewhere.
        last = QPoint(view.width() - 10, view.height() // 2)
        QApplication.sendEvent(view, QHelpEvent(QEvent.Type.ToolTip, last, view.mapToGlobal(last)))
        assert QToolTip.text().endswith(": Waiting 3")
        corner = QPoint(2, 2)
        QApplication.sendEvent(view, QHelpEvent(QEvent.Type.ToolTip, corner, view.mapToGlobal(corner)))
        assert QToolTip.text().startswith("Queue: 3 waiting now")

    loop.run_until_complete(scenario())


def test_an_overview_that_cannot_be_read_does_not_stop_the_window(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(window_key: str = "24h") -> Overview:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(engine, "overview", broken)
    engine.add_rows([make_row(1)])

    async def scenario() -> None:
        await window.load()  # the queue still loads
        assert len(window.queue_tab.model) == 1
        assert window.toast.text() == "The overview could not be loaded: database is locked"

    loop.run_until_complete(scenario())
