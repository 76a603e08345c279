"""The Overview's aggregation (pure): buckets aligned to whole hours, rows outside the window
ignored, gaps where nothing was sampled, and summaries that say the numbers in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.overview import AuditPoint, SamplePoint, build_overview, duration_text, window_range

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def test_window_buckets_end_at_the_next_whole_bucket() -> None:
    start, end, bucket = window_range("24h", NOW)
    assert (start, end, bucket) == (
        datetime(2026, 5, 3, 10, tzinfo=UTC),
        datetime(2026, 5, 4, 10, tzinfo=UTC),
        timedelta(hours=1),
    )
    start, end, bucket = window_range("7d", NOW)
    assert (end, bucket, end - start) == (
        datetime(2026, 5, 4, 12, tzinfo=UTC),
        timedelta(hours=6),
        timedelta(days=7),
    )
    with pytest.raises(ValueError, match="unknown overview window"):
        window_range("1y", NOW)


def test_counts_per_bucket_and_rows_outside_are_ignored() -> None:
    audit = [
        AuditPoint(NOW - timedelta(minutes=10), "outbound", "create", "ok"),
        AuditPoint(NOW - timedelta(minutes=20), "outbound", "adopted", "ok"),
        AuditPoint(NOW - timedelta(hours=2), "outbound", "create", "ok"),
        AuditPoint(NOW - timedelta(hours=2), "outbound", "queued", "ok"),  # not a push
        AuditPoint(NOW - timedelta(hours=2), "return", "update", "ok"),
        AuditPoint(NOW - timedelta(hours=3), "outbound", "failure", "failed"),
        AuditPoint(NOW - timedelta(hours=3), "outbound", "push", "retry"),
        AuditPoint(NOW - timedelta(hours=30), "outbound", "create", "ok"),  # before the window
    ]
    overview = build_overview("24h", NOW, audit, [])
    linked, returned = overview.chart("pushes").series
    assert linked.values[-1] == 2 and linked.values[-3] == 1 and sum(v or 0 for v in linked.values) == 3
    assert returned.values[-3] == 1
    failed, retried, polls = overview.chart("failures").series
    assert (failed.values[-4], retried.values[-4], sum(v or 0 for v in polls.values)) == (1, 1, 0)
    assert overview.chart("pushes").summary.startswith(
        "Pushes: 3 ticket(s) linked and 1 return-trip update(s)"
    )


def test_levels_take_the_last_queue_and_the_worst_lag_with_gaps() -> None:
    samples = [
        SamplePoint(NOW - timedelta(minutes=25), 4, 100, 1000, 5000, 10_000, 30.0),
        SamplePoint(NOW - timedelta(minutes=5), 2, 150, 1000, 6000, 10_000, 90.0, poll_failures=3),
        SamplePoint(NOW - timedelta(hours=5), 7, 10, 1000),
    ]
    overview = build_overview("24h", NOW, [], samples)
    [queue] = overview.chart("queue").series
    assert queue.values[-1] == 2 and queue.values[-6] == 7 and queue.values[-2] is None  # a gap
    [lag] = overview.chart("lag").series
    assert lag.values[-1] == 90.0
    ours, tenant = overview.chart("budget").series
    assert (ours.values[-1], tenant.values[-1]) == (15.0, 60.0)
    assert overview.chart("failures").series[2].values[-1] == 3
    assert (
        "2 waiting now" in overview.chart("queue").summary and "at most 7" in overview.chart("queue").summary
    )
    assert "worst 2 min" in overview.chart("lag").summary


def test_empty_overview_says_so() -> None:
    overview = build_overview("7d", NOW, [], [])
    assert len(overview.buckets) == 28
    assert "no samples" in overview.chart("queue").summary
    assert "no ticket changes came back" in overview.chart("lag").summary
    assert overview.chart("lag").value_text(None) == "no data"


def test_duration_text() -> None:
    assert [duration_text(s) for s in (5, 600, 7200)] == ["5 s", "10 min", "2.0 h"]
