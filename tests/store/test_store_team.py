"""Team mode in the store: soft claims, two desks deciding one item at once, desk requests.

Every test runs on SQLite and PostgreSQL (``db_url``). The concurrency tests open one Store per
desk (its own connection pool, like two processes) and release both decisions through a barrier,
so the transactions really run at the same time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session
from store_helpers import T0, IncidentFactory, sys_id

from app.store import QueueItem, QueueState, Store, TransitionResult

S1, S2 = sys_id(1), sys_id(2)
ITEMS = 12


@pytest.fixture
def two_desks(db_url: str) -> Iterator[tuple[Store, Store]]:
    anna, bob = Store.open(db_url), Store.open(db_url)
    try:
        yield anna, bob
    finally:
        anna.close()
        bob.close()


# ---- claims ----------------------------------------------------------------------------------------


def test_claim_is_seen_by_the_others_and_expires(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.claim(S1, "anna", now=T0)
    assert store.others_reviewing(S1, "bob", now=T0 + timedelta(seconds=30)) == ["anna"]
    assert store.others_reviewing(S1, "anna", now=T0) == []  # her own claim never asks her
    assert store.others_reviewing(S1, "bob", now=T0 + timedelta(minutes=2)) == []  # expired on its own


def test_renewal_keeps_the_claim_alive(store: Store) -> None:
    store.claim(S1, "anna", now=T0)
    store.claim(S1, "anna", now=T0 + timedelta(seconds=90))  # the desk renews while the item is open
    later = T0 + timedelta(seconds=150)
    assert store.others_reviewing(S1, "bob", now=later) == ["anna"]
    [claim] = store.live_claims(later)[S1]
    assert claim.claimed_at == T0  # renewing keeps when she started


def test_selecting_another_item_or_closing_releases(store: Store) -> None:
    store.claim(S1, "anna", now=T0)
    store.claim(S1, "bob", now=T0)
    store.claim(S2, "anna", now=T0)  # Anna moved on: one item at a time per desk
    live = store.live_claims(T0)
    assert [c.desk for c in live[S1]] == ["bob"] and [c.desk for c in live[S2]] == ["anna"]
    assert store.release_claims("anna") == 1
    assert S2 not in store.live_claims(T0)
    assert store.release_claims("bob", S1) == 1
    assert store.live_claims(T0) == {}


def test_claiming_sweeps_expired_claims(store: Store) -> None:
    store.claim(S1, "anna", now=T0)
    store.claim(S2, "bob", now=T0 + timedelta(minutes=5))
    assert store.release_claims("anna") == 0  # swept by Bob's claim: nothing left to release


# ---- two desks, one item, at the same time -----------------------------------------------------------


def _race(
    first: Callable[[], list[TransitionResult]], second: Callable[[], list[TransitionResult]]
) -> list[TransitionResult]:
    """Run both decisions at once (a barrier releases them together); their results in order."""
    barrier = threading.Barrier(2, timeout=30)

    def run(decide: Callable[[], list[TransitionResult]]) -> list[TransitionResult]:
        barrier.wait()
        return decide()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run, first), pool.submit(run, second)]
        return [result for future in futures for result in future.result(timeout=60)]


def _queue(store: Store, make_incident: IncidentFactory) -> list[str]:
    numbers = []
    for n in range(1, ITEMS + 1):
        item, _, _ = store.upsert_from_incident(make_incident(n), now=T0)
        numbers.append(item.number)
    return numbers


def test_approve_against_reject_exactly_one_wins(
    two_desks: tuple[Store, Store], make_incident: IncidentFactory
) -> None:
    anna, bob = two_desks
    numbers = _queue(anna, make_incident)
    for number in numbers:
        approve, reject = _race(
            lambda n=number: anna.approve([n], "anna", seen={n: "pending"}),
            lambda n=number: bob.reject([n], "bob", seen={n: "pending"}, reason="duplicate"),
        )
        assert sorted([approve.status, reject.status]) == ["changed", "conflict"], (approve, reject)
        winner, loser = (approve, reject) if approve.status == "changed" else (reject, approve)
        who = "anna" if winner is approve else "bob"
        state = "approved" if winner is approve else "rejected"
        assert f"already {state} by {who} at " in loser.message and not loser.ok
        item = anna.get_item(number)
        assert item is not None and item.state == state and item.decided_by == who
        decisions = [e.kind for e in anna.list_audit(sys_id=item.sys_id) if e.kind != "queued"]
        assert decisions == [state]  # one decision recorded, nothing lost, nothing doubled


def test_approve_against_approve_one_push(
    two_desks: tuple[Store, Store], make_incident: IncidentFactory
) -> None:
    anna, bob = two_desks
    numbers = _queue(anna, make_incident)
    for number in numbers:
        first, second = _race(
            lambda n=number: anna.approve([n], "anna", seen={n: "pending"}),
            lambda n=number: bob.approve([n], "bob", seen={n: "pending"}),
        )
        assert sorted([first.status, second.status]) == ["changed", "unchanged"]
        loser = second if first.status == "changed" else first
        assert "already approved by " in loser.message
    to_push = anna.items_to_push(T0, auto_push=False)
    assert sorted(item.number for item in to_push) == sorted(numbers)  # each once: one push each
    assert all(item.attempts == 0 for item in to_push)


def test_a_decision_on_a_stale_view_is_refused(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    store.approve([S1], "anna", now=T0.replace(hour=10, minute=14))
    [result] = store.reject([S1], "bob", seen={S1: QueueState.PENDING})  # Bob still saw it pending
    assert result.status == "conflict"
    assert result.message == "INC0000001: already approved by anna at 10:14 UTC (not rejected)"
    [plain] = store.reject([S1], "cli")  # without `seen` (the CLI): the old rules, explicit on purpose
    assert plain.status == "changed"


def test_a_write_from_a_stale_read_fails_instead_of_winning(
    two_desks: tuple[Store, Store], make_incident: IncidentFactory
) -> None:
    """The compare-and-set under the decisions: an UPDATE carries the version it read."""
    anna, bob = two_desks
    anna.upsert_from_incident(make_incident(1), now=T0)
    with Session(bob.engine, expire_on_commit=False) as session:
        stale = session.get(QueueItem, 1)
        assert stale is not None and stale.version == 1
        session.commit()  # the read is over; Bob's copy stays in his session
        anna.approve([S1], "anna", now=T0)  # version 2 now
        stale.state = QueueState.REJECTED
        stale.decided_by = "bob"
        with pytest.raises(StaleDataError):
            session.commit()
    item = anna.get_item(S1)
    assert item is not None and item.state == QueueState.APPROVED and item.decided_by == "anna"


# ---- desk requests ---------------------------------------------------------------------------------


def test_request_round_trip(store: Store) -> None:
    request_id = store.ask("explain", " INC0000042 ", "anna", now=T0)
    [pending] = store.pending_requests()
    assert (pending.id, pending.kind, pending.key, pending.asked_by) == (
        request_id,
        "explain",
        "INC0000042",
        "anna",
    )
    assert store.answer_request(request_id, now=T0, answer={"summary": "matches"})
    assert not store.answer_request(request_id, now=T0, error="late")  # first answer wins
    answered = store.get_request(request_id)
    assert answered is not None and answered.answer == {"summary": "matches"} and answered.error is None
    assert store.pending_requests() == []
    assert store.purge_requests(before=T0 + timedelta(minutes=10)) == 1
    assert store.get_request(request_id) is None


def test_what_happened_names_the_last_decision(store: Store, make_incident: IncidentFactory) -> None:
    store.upsert_from_incident(make_incident(1), now=T0)
    [fresh] = store.restore([S1], "anna", seen={S1: "rejected"})
    assert (fresh.status, fresh.message) == ("unchanged", "INC0000001: already pending")  # nobody decided
    store.reject([S1], "anna", now=T0)
    store.restore([S1], "anna", now=T0.replace(minute=5))
    [again] = store.restore([S1], "bob")
    assert again.message == "INC0000001: already pending (restored by anna at 09:05 UTC)"
    store.approve([S1], "anna", now=T0)
    store.mark_pushing(S1, now=T0)
    [late] = store.approve([S1], "bob", seen={S1: "pending"})
    assert late.message == "INC0000001: already pushing (approved by anna at 09:00 UTC) (not approved)"
