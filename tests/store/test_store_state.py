"""Engine memory that outlives a process: write, read back, replace, list by prefix, delete."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_helpers import T0

from app.store import Store


def test_state_round_trip(store: Store) -> None:
    assert store.get_state("autotask.threshold") is None
    store.put_state("autotask.threshold", {"count": 9600, "limit": 10000}, now=T0)
    row = store.get_state("autotask.threshold")
    assert row is not None and row.value == {"count": 9600, "limit": 10000} and row.updated_at == T0
    later = T0 + timedelta(minutes=1)
    store.put_state("autotask.threshold", {"count": 9700, "limit": 10000}, now=later)
    row = store.get_state("autotask.threshold")
    assert row is not None and row.value["count"] == 9700 and row.updated_at == later


def test_prefix_listing_and_delete(store: Store) -> None:
    store.put_state("hold.servicenow.poll", {"until": "x"}, now=T0)
    store.put_state("hold.autotask.push", {"until": "y"}, now=T0)
    store.put_state("autotask.picklists", {}, now=T0)
    assert [row.key for row in store.states_with_prefix("hold.")] == [
        "hold.autotask.push",
        "hold.servicenow.poll",
    ]
    store.delete_state("hold.autotask.push")
    store.delete_state("hold.never.there")
    assert [row.key for row in store.states_with_prefix("hold.")] == ["hold.servicenow.poll"]


def test_naive_time_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.put_state("x", {}, now=T0.replace(tzinfo=None))
