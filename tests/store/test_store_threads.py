"""The engine calls the store through asyncio.to_thread: concurrent calls must just work."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from store_helpers import T0, make_incident

from app.store import QueueState, Store


def test_threads_upsert_and_decide(store: Store) -> None:
    def work(worker: int) -> int:
        created = 0
        for n in range(1, 41):
            # every worker sees every incident: shared rows contend on purpose
            _, was_created, _ = store.upsert_from_incident(
                make_incident(n, mod=worker), now=T0 + timedelta(seconds=worker)
            )
            created += was_created
            if n % 4 == worker:
                store.approve([f"INC{n:07d}"], f"worker-{worker}", now=T0)
            store.list_items(limit=5)
        return created

    with ThreadPoolExecutor(max_workers=4) as pool:
        created = sum(pool.map(work, range(4)))
    assert created == 40
    counts = store.counts_by_state()
    assert sum(counts.values()) == 40
    assert counts[QueueState.APPROVED] == 40  # each incident approved by exactly one worker
    assert all(item.sn_mod_count == 3 for item in store.list_items())  # the newest snapshot won


async def test_to_thread_calls(store: Store) -> None:
    await asyncio.gather(
        *(asyncio.to_thread(store.upsert_from_incident, make_incident(n), now=T0) for n in range(1, 21))
    )
    assert len(await asyncio.to_thread(store.list_items)) == 20


def test_a_long_list_is_released_a_slice_at_a_time() -> None:
    """Freeing 100,000 rows with their snapshots in one go is one uninterrupted stretch of C
    holding the interpreter lock (up to 70 ms while the desktop's GUI thread waits): the list is
    emptied a slice at a time instead, whoever else still holds a row keeps it."""
    from app.store.session import release_in_slices

    kept = ("kept", "x" * 100)
    rows = [(f"{n:06d}", "x" * 100) for n in range(1_201)] + [kept]
    slices: list[int] = []

    class Watched(list[tuple[str, str]]):
        def __delitem__(self, index: slice) -> None:  # type: ignore[override]
            slices.append(len(self[index]))
            super().__delitem__(index)

    watched = Watched(rows)
    del rows
    release_in_slices(watched)
    assert watched == [] and slices == [500, 500, 202]
    assert kept == ("kept", "x" * 100)  # still alive: only the list's references went


def test_a_long_read_collects_its_young_objects_as_it_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loop keeping a new tuple per row while freeing a temporary never reaches Python's young
    collection threshold: 106,000 tuples piled up and the one collection walked them all (17 ms
    holding every thread). young_collected() collects every 2,000 rows instead."""
    from app.store import session

    young: list[int] = []
    monkeypatch.setattr(session.gc, "collect", lambda generation=2: young.append(generation) or 0)
    rows = list(session.young_collected(iter(range(5_001))))
    assert rows == list(range(5_001))
    assert young == [0, 0]  # after the 2,000th and the 4,000th: young ones only
