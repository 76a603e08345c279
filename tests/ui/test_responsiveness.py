"""The UI stays responsive while the engine publishes a burst of 5,000 queued incidents."""

from __future__ import annotations

import time

import qasync
from PySide6.QtCore import QTimer
from ui_fakes import FakeEngine, make_row, wait_until

from app.engine.events import ItemQueued, ItemUpdated
from app.ui.main_window import MainWindow


def test_5000_item_burst_keeps_timer_ticking(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.add_rows([make_row(n) for n in range(20_000)])
    ticks: list[float] = []
    flushes: list[int] = []
    window.bridge.flushed.connect(flushes.append)

    async def scenario() -> None:
        await window.load()
        window.show()
        window.queue_tab.select_number("INC0000005")
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        await wait_until(lambda: len(ticks) > 3)
        # one "poll": 5,000 new incidents plus updates of rows already shown, published at once
        for n in range(20_000, 25_000):
            engine.publish(ItemQueued(make_row(n)))
        for n in range(0, 20_000, 10):
            engine.publish(ItemUpdated(make_row(n, attempts=1)))
        await wait_until(lambda: len(window.queue_tab.model) == 25_000, timeout=10)
        start = len(ticks)
        await wait_until(lambda: len(ticks) > start + 5)
        timer.stop()

    loop.run_until_complete(scenario())
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    assert max(gaps) < 0.5, f"longest gap between timer ticks: {max(gaps) * 1000:.0f} ms"
    assert sum(flushes) == 7_000 and len(flushes) <= 3  # coalesced into few batches
    assert window.queue_tab.model.rowCount() == 25_000
