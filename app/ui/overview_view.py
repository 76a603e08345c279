"""The Overview tab: how the last 24 hours (or 7 days) went, as five small charts with summaries.

The engine computes the numbers (:meth:`EngineAPI.overview`, from the audit trail and its periodic
samples); this tab only asks and draws. Engine events mark it stale and a throttle timer asks again
at most every ``throttle_ms``, and only while the tab is visible (a hidden tab refreshes when shown),
so a busy poll costs one bounded query, not one per event.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.domain.overview import Overview
from app.engine.api import EngineAPI
from app.ui.charts import ChartView
from app.ui.format import local_time, now_utc
from app.ui.tasks import TaskSlot
from app.ui.theme import hint_palette
from app.ui.widgets import plain_label

log = logging.getLogger(__name__)

CHART_KEYS = ("queue", "pushes", "failures", "lag", "budget")
THROTTLE_MS = 5000  # at most one overview query per this many ms while events stream in
TICK_MS = 60_000  # the time axis moves on even when nothing happens


class ChartCard(QWidget):
    """A chart with its one-sentence summary under it (selectable text, read by screen readers)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = ChartView()
        self.summary = plain_label()
        self.summary.setWordWrap(True)
        self.summary.setPalette(hint_palette())
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.summary)


class OverviewTab(QWidget):
    message = Signal(str)
    refreshed = Signal(object)  # Overview, after it is drawn (tests, diagnostics)

    def __init__(
        self, engine: EngineAPI, parent: QWidget | None = None, *, throttle_ms: int = THROTTLE_MS
    ) -> None:
        super().__init__(parent)
        self.engine = engine
        self.window_key = "24h"
        self.overview: Overview | None = None
        self._stale = True
        self._task = TaskSlot("overview", on_error=self._failed)

        self.day = QRadioButton("Last &24 hours")
        self.week = QRadioButton("Last &7 days")
        self.day.setChecked(True)
        self.range_group = QButtonGroup(self)
        self.range_group.addButton(self.day)
        self.range_group.addButton(self.week)
        self.day.toggled.connect(self._range_toggled)
        self.updated = plain_label()
        self.updated.setPalette(hint_palette())
        header = QHBoxLayout()
        header.addWidget(plain_label("Show:"))
        header.addWidget(self.day)
        header.addWidget(self.week)
        header.addStretch(1)
        header.addWidget(self.updated)

        self.cards: dict[str, ChartCard] = {key: ChartCard() for key in CHART_KEYS}
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(12)
        grid.addWidget(self.cards["queue"], 0, 0)
        grid.addWidget(self.cards["pushes"], 0, 1)
        grid.addWidget(self.cards["failures"], 1, 0)
        grid.addWidget(self.cards["lag"], 1, 1)
        grid.addWidget(self.cards["budget"], 2, 0, 1, 2)
        for row in range(3):
            grid.setRowStretch(row, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(header)
        layout.addLayout(grid, 1)
        # Tab order: the range switch, then the charts left to right, top to bottom.
        chain: list[QWidget] = [self.day, self.week, *(self.cards[key].view for key in CHART_KEYS)]
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)

        self.throttle = QTimer(self)
        self.throttle.setSingleShot(True)
        self.throttle.setInterval(throttle_ms)
        self.throttle.timeout.connect(self._refresh_if_visible)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self.mark_stale)
        self._tick.start()

    @property
    def view(self) -> QWidget:
        """What View > Overview focuses (the main window focuses a tab's ``view``)."""
        return self.cards["queue"].view

    # ---- refresh ---------------------------------------------------------------------------------

    def mark_stale(self, _events: Sequence[object] | None = None) -> None:
        """Something happened: ask again soon (throttled), or when the tab is next shown."""
        self._stale = True
        if not self.throttle.isActive():
            self.throttle.start()

    def _refresh_if_visible(self) -> None:
        if self.isVisible() and self._stale:
            self.refresh()

    def refresh(self) -> None:
        self._stale = False
        self._task.start(self._load(self.window_key))

    async def reload(self) -> None:
        """Initial load (the main window's ``load``): a failure here never stops the other tabs."""
        self._stale = False
        try:
            await self._load(self.window_key)
        except Exception as error:  # shown as a message; the next event or tick tries again
            self._failed(error)

    async def _load(self, window: str) -> None:
        overview = await self.engine.overview(window)
        if window == self.window_key:
            self.show_overview(overview)

    def show_overview(self, overview: Overview) -> None:
        self.overview = overview
        for chart in overview.charts:
            card = self.cards.get(chart.key)
            if card is None:
                continue
            card.view.set_chart(chart, overview.buckets, overview.bucket)
            card.summary.setText(chart.summary)
        self.updated.setText(f"Updated {local_time(now_utc())}")
        self.refreshed.emit(overview)

    def _failed(self, error: BaseException) -> None:
        log.warning("overview not loaded: %s", error)
        self.message.emit(f"The overview could not be loaded: {error}")

    def _range_toggled(self, _checked: bool) -> None:
        # The charts' titles and time axis change at once: no toast over the charts.
        self.window_key = "24h" if self.day.isChecked() else "7d"
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.refresh()
