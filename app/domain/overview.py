"""How the day went, in numbers a chart can draw: pure aggregation of audit rows and samples.

The Overview tab shows, per time bucket (an hour over the last 24 hours, six hours over the last
7 days): the queue size, tickets linked and return-trip updates, failures and retries, the worst
return-trip lag and the Autotask request budget. Counts come from the audit trail (every push,
update and failure is an audit row); the queue size, the budget and the return-trip lag are not
events but levels, so the engine samples them every few minutes (``overview_sample`` rows).

No IO here: the store reads bounded, indexed ranges and hands the rows in; the UI only draws.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

OverviewWindow = Literal["24h", "7d"]
# window -> (how far back, bucket size)
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "24h": (timedelta(hours=24), timedelta(hours=1)),
    "7d": (timedelta(days=7), timedelta(hours=6)),
}
# Outbound audit kinds that mean "the incident now has its ticket" (created, found after an
# unknown outcome, or adopted); see app/engine/outbound.py.
LINKED_KINDS = frozenset({"create", "recovered", "adopted"})
RETURN_UPDATE_KINDS = frozenset({"update"})


@dataclass(frozen=True)
class AuditPoint:
    """``count`` audit rows with these columns at ``at`` (the store counts them per bucket)."""

    at: datetime
    direction: str  # outbound | return | system
    kind: str
    outcome: str  # ok | failed | skipped | retry
    count: int = 1


@dataclass(frozen=True)
class SamplePoint:
    """One periodic engine sample: levels that are not events."""

    at: datetime
    queue_waiting: int
    budget_used: int
    budget_limit: int
    tenant_count: int | None = None
    tenant_limit: int | None = None
    return_lag_seconds: float | None = None  # worst lag of the updates applied since the last sample
    poll_failures: int = 0  # failed polls since the last sample (not audit rows: a poll is no record)


@dataclass(frozen=True)
class Series:
    """One named line or bar stack: a value per bucket (None: nothing known for that bucket)."""

    name: str
    values: tuple[float | None, ...]


@dataclass(frozen=True)
class Chart:
    """What a chart widget draws, plus the sentence a screen reader (or a tooltip) says instead."""

    key: str
    title: str
    unit: str  # shown on the value axis and in tooltips: "", "%", "s"
    style: Literal["bars", "line"]
    series: tuple[Series, ...]
    summary: str

    def value_text(self, value: float | None) -> str:
        if value is None:
            return "no data"
        if self.unit == "s":
            return duration_text(value)
        if self.unit == "%":
            return percent_text(value)
        return f"{value:,.0f}"


@dataclass(frozen=True)
class Overview:
    window: str
    start: datetime
    end: datetime
    bucket: timedelta
    buckets: tuple[datetime, ...]  # the start of each bucket, oldest first
    charts: tuple[Chart, ...]

    def chart(self, key: str) -> Chart:
        return next(chart for chart in self.charts if chart.key == key)


def duration_text(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def percent_text(value: float) -> str:
    """Whole percent, but never "0 %" for something that is not nothing."""
    return "under 1 %" if 0 < value < 0.5 else f"{value:.0f} %"


def window_range(window: str, now: datetime) -> tuple[datetime, datetime, timedelta]:
    """``(start, end, bucket)``: buckets end at the next whole bucket after ``now`` (UTC), so the
    bars of one hour stay put as the minutes pass."""
    if window not in WINDOWS:
        raise ValueError(f"unknown overview window {window!r}; use one of {', '.join(WINDOWS)}")
    span, bucket = WINDOWS[window]
    now = now.astimezone(UTC)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    size = bucket.total_seconds()
    end = epoch + timedelta(seconds=math.floor((now - epoch).total_seconds() / size) * size) + bucket
    return end - span, end, bucket


def _index(at: datetime, start: datetime, bucket: timedelta, count: int) -> int | None:
    offset = (at - start) / bucket
    index = math.floor(offset)
    return index if 0 <= index < count else None


def _counts(
    points: Iterable[AuditPoint],
    start: datetime,
    bucket: timedelta,
    count: int,
    wanted: Callable[[AuditPoint], bool],
) -> tuple[float | None, ...]:
    values = [0.0] * count
    for point in points:
        index = _index(point.at, start, bucket, count)
        if index is not None and wanted(point):
            values[index] += point.count
    return tuple(values)


def _levels(
    samples: Sequence[SamplePoint],
    start: datetime,
    bucket: timedelta,
    count: int,
    pick: Callable[[SamplePoint], float | None],
    combine: Callable[[list[float]], float],
) -> tuple[float | None, ...]:
    grouped: list[list[float]] = [[] for _ in range(count)]
    for sample in samples:
        index = _index(sample.at, start, bucket, count)
        value = pick(sample)
        if index is not None and value is not None:
            grouped[index].append(value)
    return tuple(combine(group) if group else None for group in grouped)


def _last(values: list[float]) -> float:
    return values[-1]


def _percent(used: int | None, limit: int | None) -> float | None:
    if used is None or not limit:
        return None
    return min(100.0, 100.0 * used / limit)


def _known(values: Sequence[float | None]) -> list[float]:
    return [value for value in values if value is not None]


def _total(values: Sequence[float | None]) -> int:
    return round(sum(_known(values)))


def _bucket_words(bucket: timedelta) -> str:
    hours = bucket.total_seconds() / 3600
    return "hour" if hours == 1 else f"{hours:.0f} hours"


def build_overview(
    window: str,
    now: datetime,
    audit: Iterable[AuditPoint],
    samples: Iterable[SamplePoint],
) -> Overview:
    """The charts for ``window`` ("24h" or "7d") ending at ``now``; rows outside it are ignored."""
    start, end, bucket = window_range(window, now)
    count = round((end - start) / bucket)
    buckets = tuple(start + bucket * i for i in range(count))
    points = list(audit)
    ordered = sorted(samples, key=lambda sample: sample.at)
    per = _bucket_words(bucket)
    span = "24 hours" if window == "24h" else "7 days"

    queue = _levels(ordered, start, bucket, count, lambda s: float(s.queue_waiting), _last)
    queue_known = _known(queue)
    queue_summary = (
        f"Queue: {queue_known[-1]:,.0f} waiting now (latest sample); at most {max(queue_known):,.0f} "
        f"in the last {span}."
        if queue_known
        else f"Queue: no samples in the last {span} yet (the engine samples every few minutes)."
    )

    def succeeded(direction: str, kinds: frozenset[str]) -> Callable[[AuditPoint], bool]:
        return lambda p: p.direction == direction and p.kind in kinds and p.outcome == "ok"

    linked = _counts(points, start, bucket, count, succeeded("outbound", LINKED_KINDS))
    returned = _counts(points, start, bucket, count, succeeded("return", RETURN_UPDATE_KINDS))
    busiest = max(range(count), key=lambda i: linked[i] or 0) if count else 0
    pushes_summary = (
        f"Pushes: {_total(linked):,} ticket(s) linked and {_total(returned):,} return-trip update(s) "
        f"in the last {span}"
        + (
            f"; busiest {per} from {buckets[busiest]:%a %H:%M} UTC with {linked[busiest]:,.0f}."
            if _total(linked)
            else "."
        )
    )

    failed = _counts(points, start, bucket, count, lambda p: p.outcome == "failed")
    retried = _counts(points, start, bucket, count, lambda p: p.outcome == "retry")
    polls = _levels(ordered, start, bucket, count, lambda s: float(s.poll_failures), sum)
    failures_summary = (
        f"Failures: {_total(failed):,} refused or failed, {_total(retried):,} to be retried, "
        f"{_total(polls):,} failed poll(s), in the last {span}."
    )

    lag = _levels(ordered, start, bucket, count, lambda s: s.return_lag_seconds, max)
    lag_known = _known(lag)
    lag_summary = (
        f"Return-trip lag: worst {duration_text(max(lag_known))}, latest {duration_text(lag_known[-1])} "
        f"(from a technician's change in Autotask to the incident update)."
        if lag_known
        else f"Return-trip lag: no ticket changes came back in the last {span}."
    )

    ours = _levels(ordered, start, bucket, count, lambda s: _percent(s.budget_used, s.budget_limit), max)
    tenant = _levels(ordered, start, bucket, count, lambda s: _percent(s.tenant_count, s.tenant_limit), max)
    ours_known, tenant_known = _known(ours), _known(tenant)
    budget_summary = (
        (
            "Autotask requests: we used under 1 % of our hourly share"
            if max(ours_known) < 0.5
            else f"Autotask requests: we used at most {percent_text(max(ours_known))} of our hourly share"
        )
        + (
            f"; the whole tenant peaked at {percent_text(max(tenant_known))} of its limit"
            if tenant_known
            else ""
        )
        + "."
        if ours_known
        else f"Autotask requests: no budget samples in the last {span} yet."
    )

    charts = (
        Chart("queue", "Queue size", "", "line", (Series("Waiting", queue),), queue_summary),
        Chart(
            "pushes",
            f"Pushes per {per}",
            "",
            "bars",
            (Series("Tickets linked", linked), Series("Return-trip updates", returned)),
            pushes_summary,
        ),
        Chart(
            "failures",
            f"Failures per {per}",
            "",
            "bars",
            (Series("Failed", failed), Series("Will retry", retried), Series("Polls failed", polls)),
            failures_summary,
        ),
        Chart("lag", "Return-trip lag (worst)", "s", "line", (Series("Worst lag", lag),), lag_summary),
        Chart(
            "budget",
            "Autotask request budget",
            "%",
            "line",
            (Series("Our share used", ours), Series("Whole tenant", tenant)),
            budget_summary,
        ),
    )
    return Overview(window, start, end, bucket, buckets, charts)
