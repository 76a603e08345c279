"""A small bar/line chart drawn with QPainter, for the Overview tab.

Why not a charting library: PySide6-Essentials has no QtCharts (PySide6-Addons adds it, at well
over 100 MB installed, for five simple charts), and pyqtgraph needs numpy in the bundle. Five
charts of at most 42 points need axes, bars, lines, a legend and tooltips; that is this file.
Colours come from the palette and the theme's tones, so light and dark both read.

Accessibility: the chart's accessible description is its text summary; hovering or the arrow keys
(the chart takes focus) pick a bucket and show its values as a tooltip and as the description.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFocusEvent,
    QFontMetrics,
    QHelpEvent,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.domain.overview import Chart
from app.ui.theme import Tone, foreground, hint_color

# Colours per chart: a tone per series (the theme lightens them in dark palettes).
SERIES_TONES: dict[str, tuple[Tone, ...]] = {
    "queue": (Tone.INFO,),
    "pushes": (Tone.OK, Tone.INFO),
    "failures": (Tone.ERROR, Tone.WARNING, Tone.INFO),
    "lag": (Tone.INFO,),
    "budget": (Tone.INFO, Tone.WARNING),
}


def nice_ceiling(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at least ``value`` (and at least 1)."""
    if value <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0):
        if step * power >= value:
            return step * power
    return 10.0 * power


# Axis tops for durations (seconds) whose halves read well too: 30 s, 1 min, 5 min, 10 min, 15 min...
DURATION_TOPS = (10.0, 20.0, 60.0, 120.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0)


def duration_ceiling(seconds: float) -> float:
    return next((top for top in DURATION_TOPS if top >= seconds), nice_ceiling(seconds))


def bucket_label(start: datetime, bucket: timedelta) -> str:
    """A bucket's time span in local time, e.g. "Tue 14:00–15:00"."""
    local_start = start.astimezone()
    local_end = (start + bucket).astimezone()
    return f"{local_start:%a %H:%M}–{local_end:%H:%M}"


class ChartView(QWidget):
    """Draws one :class:`Chart`; ``bucketPicked`` says which bucket the user points at."""

    bucketPicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.chart: Chart | None = None
        self.buckets: tuple[datetime, ...] = ()
        self.bucket = timedelta(hours=1)
        self.picked: int | None = None
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setMinimumSize(QSize(260, 140))
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # ---- data ------------------------------------------------------------------------------------

    def set_chart(self, chart: Chart, buckets: tuple[datetime, ...], bucket: timedelta) -> None:
        self.chart = chart
        self.buckets = buckets
        self.bucket = bucket
        if self.picked is not None and self.picked >= len(buckets):
            self.picked = None
        self.setAccessibleName(chart.title)
        self.setAccessibleDescription(chart.summary)
        self.update()

    def bucket_text(self, index: int) -> str:
        """One bucket's values in words: "Tue 14:00–15:00: Tickets linked 4, Return-trip updates 0"."""
        chart = self.chart
        if chart is None or not 0 <= index < len(self.buckets):
            return ""
        values = ", ".join(
            f"{series.name} {chart.value_text(series.values[index])}" for series in chart.series
        )
        return f"{bucket_label(self.buckets[index], self.bucket)}: {values}"

    def top(self) -> float:
        chart = self.chart
        if chart is None:
            return 1.0
        if chart.unit == "%":
            return 100.0
        if chart.style == "bars":
            totals = [sum(series.values[i] or 0 for series in chart.series) for i in range(len(self.buckets))]
            return nice_ceiling(max(totals, default=0))
        known = [v for series in chart.series for v in series.values if v is not None]
        if chart.unit == "s":
            return duration_ceiling(max(known, default=0))
        return nice_ceiling(max(known, default=0))

    # ---- geometry --------------------------------------------------------------------------------

    def _plot_rect(self) -> QRectF:
        metrics = QFontMetrics(self.font())
        line = metrics.height()
        left = metrics.horizontalAdvance("00,000 %") + 8
        return QRectF(
            left, line * 2 + 6, max(10, self.width() - left - 8), max(10, self.height() - line * 3 - 12)
        )

    def _index_at(self, x: float) -> int | None:
        plot = self._plot_rect()
        if not self.buckets or not plot.left() <= x <= plot.right():
            return None
        index = int((x - plot.left()) / plot.width() * len(self.buckets))
        return min(index, len(self.buckets) - 1)

    # ---- painting --------------------------------------------------------------------------------

    def _colors(self) -> list[QColor]:
        key = self.chart.key if self.chart is not None else ""
        tones = SERIES_TONES.get(key, (Tone.INFO, Tone.OK))
        return [foreground(tone, self.palette()) for tone in tones]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.WindowText)
        quiet = hint_color(pal)
        metrics = QFontMetrics(self.font())
        chart = self.chart
        title_font = self.font()
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.setPen(text)
        painter.drawText(QPointF(4, metrics.ascent() + 2), chart.title if chart else "")
        painter.setFont(self.font())
        if chart is None or not self.buckets:
            painter.end()
            return
        colors = self._colors()
        # Legend, right-aligned on the title line.
        x = float(self.width() - 6)
        for series, color in reversed(list(zip(chart.series, colors, strict=False))):
            width = metrics.horizontalAdvance(series.name)
            x -= width
            painter.setPen(text)
            painter.drawText(QPointF(x, metrics.ascent() + 2), series.name)
            x -= 14
            painter.fillRect(QRectF(x, 2 + (metrics.height() - 10) / 2, 10, 10), color)
            x -= 12
        plot = self._plot_rect()
        top = self.top()
        # Grid and value axis: 0, half, top.
        grid = QColor(quiet)
        grid.setAlpha(90)
        # A half-way line only where it is a whole number of things (never "0.5 pushes").
        fractions = (0.0, 0.5, 1.0) if chart.unit or top % 2 == 0 else (0.0, 1.0)
        for fraction in fractions:
            y = plot.bottom() - plot.height() * fraction
            painter.setPen(QPen(grid, 1, Qt.PenStyle.DashLine if fraction else Qt.PenStyle.SolidLine))
            painter.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            painter.setPen(quiet)
            label = chart.value_text(top * fraction) if chart.unit != "s" or fraction else "0"
            painter.drawText(
                QRectF(0, y - metrics.height() / 2, plot.left() - 6, metrics.height()),
                int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                label,
            )
        count = len(self.buckets)
        slot = plot.width() / count
        if self.picked is not None:
            highlight = QColor(pal.color(QPalette.ColorRole.Highlight))
            highlight.setAlpha(60)
            painter.fillRect(
                QRectF(plot.left() + slot * self.picked, plot.top(), slot, plot.height()), highlight
            )
        if chart.style == "bars":
            self._paint_bars(painter, plot, slot, top, colors)
        else:
            self._paint_lines(painter, plot, slot, top, colors)
        # Time axis: a label every few buckets, in local time.
        painter.setPen(quiet)
        every = max(
            1, math.ceil(count / max(1, plot.width() / (metrics.horizontalAdvance("Mon 00:00") + 12)))
        )
        for index in range(0, count, every):
            moment = self.buckets[index].astimezone()
            label = f"{moment:%H:%M}" if self.bucket < timedelta(hours=6) else f"{moment:%a %H:%M}"
            painter.drawText(QPointF(plot.left() + slot * index, plot.bottom() + metrics.ascent() + 4), label)
        if self.hasFocus():
            focus = QPen(pal.color(QPalette.ColorRole.Highlight), 2)
            painter.setPen(focus)
            painter.drawRect(QRectF(1, 1, self.width() - 2, self.height() - 2))
        painter.end()

    def _paint_bars(
        self, painter: QPainter, plot: QRectF, slot: float, top: float, colors: list[QColor]
    ) -> None:
        assert self.chart is not None
        gap = min(4.0, slot * 0.2)
        for index in range(len(self.buckets)):
            base = plot.bottom()
            for series, color in zip(self.chart.series, colors, strict=False):
                value = series.values[index] or 0.0
                if value <= 0:
                    continue
                height = plot.height() * value / top
                painter.fillRect(
                    QRectF(plot.left() + slot * index + gap / 2, base - height, slot - gap, height), color
                )
                base -= height

    def _paint_lines(
        self, painter: QPainter, plot: QRectF, slot: float, top: float, colors: list[QColor]
    ) -> None:
        assert self.chart is not None
        for series, color in zip(self.chart.series, colors, strict=False):
            painter.setPen(QPen(color, 2))
            path = QPainterPath()
            drawing = False
            for index, value in enumerate(series.values):
                if value is None:
                    drawing = False  # a gap: nothing known for that bucket
                    continue
                point = QPointF(
                    plot.left() + slot * (index + 0.5), plot.bottom() - plot.height() * min(value, top) / top
                )
                if drawing:
                    path.lineTo(point)
                else:
                    path.moveTo(point)
                    drawing = True
                painter.drawEllipse(point, 2.0, 2.0)
            painter.drawPath(path)

    # ---- interaction -----------------------------------------------------------------------------

    def pick(self, index: int | None, *, tooltip: bool = True) -> None:
        """Point at a bucket: highlight it, say its values (tooltip and accessible description)."""
        self.picked = index
        self.update()
        if index is None or self.chart is None:
            if self.chart is not None:
                self.setAccessibleDescription(self.chart.summary)
            return
        words = self.bucket_text(index)
        self.setAccessibleDescription(words)
        if not tooltip:
            self.bucketPicked.emit(index)
            return
        plot = self._plot_rect()
        where = QPoint(int(plot.left() + plot.width() * (index + 0.5) / len(self.buckets)), int(plot.top()))
        QToolTip.showText(self.mapToGlobal(where), words, self)
        self.bucketPicked.emit(index)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        index = self._index_at(event.position().x())
        if index != self.picked:
            self.pick(index, tooltip=False)  # Qt's tooltip event shows the text (event())

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            index = self._index_at(event.pos().x())
            text = self.bucket_text(index) if index is not None else ""
            if not text and self.chart is not None:
                text = self.chart.summary
            QToolTip.showText(event.globalPos(), text, self)
            return True
        return super().event(event)

    def leaveEvent(self, event: object) -> None:  # noqa: N802
        if not self.hasFocus():
            self.pick(None)

    def focusOutEvent(self, event: QFocusEvent) -> None:  # noqa: N802
        self.pick(None)
        super().focusOutEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        count = len(self.buckets)
        if not count or event.key() not in (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
            Qt.Key.Key_Home,
            Qt.Key.Key_End,
        ):
            super().keyPressEvent(event)
            return
        current = self.picked if self.picked is not None else count
        index = {
            Qt.Key.Key_Left: max(0, current - 1),
            Qt.Key.Key_Right: min(count - 1, current + 1 if self.picked is not None else count - 1),
            Qt.Key.Key_Home: 0,
            Qt.Key.Key_End: count - 1,
        }[Qt.Key(event.key())]
        self.pick(index)
