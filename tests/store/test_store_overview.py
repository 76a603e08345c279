"""The Overview's reads: audit rows in a half-open time range (four columns), samples kept 8 days."""

from __future__ import annotations

from datetime import timedelta

from store_helpers import T0, IncidentFactory

from app.domain.overview import AuditPoint, SamplePoint
from app.store import Store
from app.store.overview import KEEP


def test_audit_rows_are_counted_per_bucket_within_the_range(
    store: Store, make_incident: IncidentFactory
) -> None:
    hour = timedelta(hours=1)
    since = T0.replace(minute=0, second=0, microsecond=0)
    moments = [since - timedelta(seconds=1), since, since + timedelta(minutes=59, seconds=59)]
    moments += [since + hour, since + hour + timedelta(minutes=30), since + 2 * hour]
    for n, moment in enumerate(moments, start=1):
        store.upsert_from_incident(make_incident(n), now=moment)
    store.reject([make_incident(5).sys_id], "lead", now=since + hour + timedelta(minutes=31))
    points = store.audit_counts(since, since + 2 * hour, hour)
    assert sorted(points, key=lambda p: (p.at, p.kind)) == [
        AuditPoint(since, "outbound", "queued", "ok", count=2),
        AuditPoint(since + hour, "outbound", "queued", "ok", count=2),
        AuditPoint(since + hour, "outbound", "rejected", "ok", count=1),
    ]


def test_samples_round_trip_and_old_ones_are_dropped(store: Store) -> None:
    old = SamplePoint(T0, queue_waiting=3, budget_used=10, budget_limit=100)
    store.add_overview_sample(old)
    newer = SamplePoint(
        T0 + KEEP + timedelta(minutes=5),
        queue_waiting=4,
        budget_used=20,
        budget_limit=100,
        tenant_count=900,
        tenant_limit=10_000,
        return_lag_seconds=42.5,
        poll_failures=2,
    )
    store.add_overview_sample(newer)
    assert store.overview_samples(T0 - timedelta(days=30), T0 + timedelta(days=30)) == [newer]
