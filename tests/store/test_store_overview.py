"""The Overview's reads: audit rows in a half-open time range (four columns), samples kept 8 days."""

from __future__ import annotations

from datetime import timedelta

from store_helpers import T0, IncidentFactory

from app.domain.overview import AuditPoint, SamplePoint
from app.store import Store
from app.store.overview import KEEP


def test_audit_points_are_bounded_by_time(store: Store, make_incident: IncidentFactory) -> None:
    for n, minutes in enumerate((0, 30, 60, 90), start=1):
        store.upsert_from_incident(make_incident(n), now=T0 + timedelta(minutes=minutes))
    points = store.audit_points(T0 + timedelta(minutes=30), T0 + timedelta(minutes=90))
    assert points == [
        AuditPoint(T0 + timedelta(minutes=30), "outbound", "queued", "ok"),
        AuditPoint(T0 + timedelta(minutes=60), "outbound", "queued", "ok"),
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
