"""Suspected duplicates in the engine: marked on the queue, and auto-push leaves them for a person
while it pushes the primary."""

from __future__ import annotations

from datetime import timedelta

import pytest
from desk_helpers import repeated_report
from engine_harness import Harness
from sqlmodel import select

from app.domain.records import Incident
from app.engine.events import EngineEvent, ItemUpdated
from app.store import QueueItem, QueueState

ON = {"enabled": True}  # the shared harness switches the check off for the other tests


async def test_auto_push_holds_a_suspected_duplicate_and_pushes_the_primary(harness: Harness) -> None:
    sn = harness.sn
    exchange = sn.configuration_item("EXCH-PRD-01")
    primary = harness.incident(
        short_description="Outlook cannot connect to the mail server",
        caller_id=sn.users["abel.tuter"],
        cmdb_ci=exchange,
        stamp=sn.clock.now() - timedelta(minutes=30),
    )
    repeat = harness.incident(  # ten minutes later, someone else calls about the same outage
        short_description="Outlook not connecting to mail server",
        caller_id=sn.users["sam.triage"],
        cmdb_ci=exchange,
        stamp=sn.clock.now() - timedelta(minutes=20),
    )
    unrelated = harness.incident(
        short_description="Keyboard keys sticking", caller_id=sn.users["sam.triage"], cmdb_ci=exchange
    )
    events: list[EngineEvent] = []
    engine = harness.engine(harness.config(outbound={"auto_push": True}, duplicates=ON), events=events)

    report = await engine.run_once()

    assert len(harness.tickets_for(primary["sys_id"])) == 1
    assert len(harness.tickets_for(unrelated["sys_id"])) == 1
    assert harness.tickets_for(repeat["sys_id"]) == []  # held, not pushed
    held = engine.store.get_item(repeat["sys_id"])
    assert held is not None and held.state == QueueState.PENDING
    assert held.duplicate_of == primary["number"]
    assert held.duplicate_note is not None and "same CI EXCH-PRD-01" in held.duplicate_note
    # The reason is visible: the run's warnings, the audit, the queue row the UI gets.
    assert report.ok, (report.failures, report.undone)  # waiting for a person is not "undone"
    assert f"{repeat['number']} held: possible duplicate of {primary['number']}; waiting for a person" in (
        report.warnings
    )
    audit = [e.summary for e in engine.store.list_audit(sys_id=repeat["sys_id"]) if e.kind == "duplicate"]
    assert len(audit) == 1 and audit[0].endswith("auto-push leaves it for a person")
    rows = [e.row for e in events if isinstance(e, ItemUpdated) and e.row.sys_id == repeat["sys_id"]]
    assert rows and rows[-1].duplicate_of == primary["number"]

    # Still held on the next cycles; a person's approval sends it.
    again = await engine.run_once()
    assert harness.tickets_for(repeat["sys_id"]) == [] and again.pushed == 0
    await engine.approve([repeat["number"]], by="anna")
    await engine.run_once()
    assert len(harness.tickets_for(repeat["sys_id"])) == 1


async def test_reject_as_duplicate_records_the_reason_and_who(harness: Harness) -> None:
    primary, repeat = repeated_report(harness)
    engine = harness.engine(harness.config(duplicates=ON))
    await engine.run_once()
    [row] = [r for r in await engine.list_queue() if r.sys_id == repeat["sys_id"]]
    assert row.duplicate_of == primary["number"] and row.duplicate_note
    assert "same caller Abel Tuter" in row.duplicate_note

    [result] = await engine.reject([repeat["number"]], by="anna", reason=f"duplicate of {row.duplicate_of}")
    assert result.ok
    item = engine.store.get_item(repeat["sys_id"])
    assert item is not None and item.state == QueueState.REJECTED
    assert (item.decided_by, item.drop_reason) == ("anna", f"duplicate of {primary['number']}")


async def test_rejecting_the_primary_does_not_let_auto_push_send_its_repeat(harness: Harness) -> None:
    primary, repeat = repeated_report(harness)
    engine = harness.engine(harness.config(duplicates=ON))
    await engine.run_once()
    await engine.reject([primary["number"]], by="anna", reason="known VPN maintenance")
    engine.set_auto_push(True)
    harness.sn.update_incident(repeat["sys_id"], urgency="1")  # a change: compared again
    report = await engine.run_once()
    assert harness.at.tickets() == [] and report.pushed == 0
    item = engine.store.get_item(repeat["sys_id"])
    assert item is not None and item.state == QueueState.PENDING and item.duplicate_of == primary["number"]


async def test_each_poll_parses_only_the_snapshots_that_changed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every poll compares the waiting items; parsing all their snapshots again each time held the
    interpreter (and so the desktop's GUI thread) for a long while with thousands waiting."""
    from app.domain.duplicates import Candidate

    printers = [harness.incident(short_description=f"Printer {n} out of toner") for n in range(12)]
    engine = harness.engine(harness.config(duplicates=ON))
    await engine.run_once()
    parsed: list[str] = []
    real = Candidate.from_incident

    def counting(incident: Incident) -> Candidate:
        parsed.append(incident.number)
        return real(incident)

    monkeypatch.setattr(Candidate, "from_incident", staticmethod(counting))
    new = harness.incident(short_description="Scanner jams")
    await engine.run_once()
    assert parsed == [new["number"]]  # the twelve already compared are not parsed again
    parsed.clear()
    harness.sn.update_incident(printers[3]["sys_id"], short_description="Printer 3 jams")
    await engine.run_once()
    assert parsed == [printers[3]["number"]]  # a new update of an incident is a new snapshot


def test_overlapping_comparisons_do_not_trip_over_the_shared_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll and auto-push can compare at the same time, each in a worker thread: one pruned the
    parsed-candidate cache while the other filled it ("dictionary changed size during iteration")."""
    import sys
    import threading
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from app.engine import duplicates

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads as often as possible
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    fields = ("s", "n", "d", "c", "cn", "ci", "cin", stamp)
    monkeypatch.setattr(duplicates.Incident, "model_validate_json", staticmethod(lambda text: text))
    parsed = SimpleNamespace(fields=lambda: fields)
    monkeypatch.setattr(duplicates.Candidate, "from_incident", staticmethod(lambda incident: parsed))
    monkeypatch.setattr(duplicates, "suspicions", lambda candidates, rules: {})
    watch = duplicates.DuplicateWatch.__new__(duplicates.DuplicateWatch)
    watch._cache, watch.rules = ({}, {}), SimpleNamespace()
    errors: list[BaseException] = []

    def compare(prefix: str) -> None:
        try:
            for round_ in range(8):
                # As a scan does: the store leaves out the snapshots of the cache it was given.
                known = watch._cache[1]
                ids = [f"{prefix}{n}" if n % 2 else f"{prefix}{round_}-{n}" for n in range(20_000)]
                watch._compare([(i, "n", (0, stamp), None if i in known else "{}") for i in ids], known)
        except BaseException as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=compare, args=(prefix,)) for prefix in "ab"]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == []


async def test_marking_loads_only_the_items_whose_mark_changes(harness: Harness) -> None:
    """All waiting items are compared each poll; writing the verdict loaded each as a full ORM
    object (18 s of Python at 100,000 waiting). Only the items whose mark changes are loaded."""
    from sqlalchemy import event

    from app.store import QueueItem

    for n in range(8):
        harness.incident(short_description=f"Badge reader {n} offline on floor {n}")
    engine = harness.engine(harness.config(duplicates=ON))
    await engine.run_once()
    loaded: list[str] = []

    def on_load(target: QueueItem, _context: object) -> None:
        loaded.append(target.number)

    event.listen(QueueItem, "load", on_load)
    try:
        store = engine.store
        compared = sorted(store.open_sys_ids())
        assert len(compared) == 8
        loaded.clear()
        assert store.mark_duplicates(compared, {}, now=engine.ctx.clock()) == []  # nothing changes
        assert loaded == []
        first = store.get_item(compared[0])
        assert first is not None
        loaded.clear()
        changed = store.mark_duplicates(
            compared, {first.sys_id: ("INC0000001", "same caller")}, now=engine.ctx.clock()
        )
        assert [item.sys_id for item in changed] == [first.sys_id] and loaded == [first.number]
    finally:
        event.remove(QueueItem, "load", on_load)


async def test_marks_touch_only_waiting_items_that_were_compared_and_audit_once(harness: Harness) -> None:
    for n in range(6):
        harness.incident(short_description=f"Badge reader {n} offline on floor {n}")
    engine = harness.engine(harness.config(duplicates=ON))
    await engine.run_once()
    store = engine.store
    ids = sorted(store.open_sys_ids())
    a, b, c, d, e, f = ids
    with store._desk_write() as session:
        for item in session.exec(select(QueueItem)).all():
            if item.sys_id == c:
                item.state = QueueState.PUSHED
            if item.sys_id == f:
                item.state = QueueState.APPROVED
            if item.sys_id in (d, e):
                item.duplicate_of, item.duplicate_note = "INC9", "old"
            session.add(item)
    now = engine.ctx.clock()
    found = {a: ("INC1", "same caller"), b: ("INC1", "same caller"), c: ("INC1", "x"), f: ("INC2", "y")}
    changed = store.mark_duplicates([a, c, d, f], found, now=now)
    assert sorted(item.sys_id for item in changed) == sorted([a, d, f])
    got = {sys_id: store.get_item(sys_id) for sys_id in ids}
    assert (got[a].duplicate_of, got[a].duplicate_note) == ("INC1", "same caller")
    assert got[b].duplicate_of is None  # not compared: untouched
    assert got[c].duplicate_of is None  # pushed: never marked
    assert got[d].duplicate_of is None  # compared, no longer a suspect: cleared
    assert got[e].duplicate_of == "INC9"  # not compared: keeps its mark
    assert got[f].duplicate_of == "INC2"  # approved is waiting too
    assert store.mark_duplicates([a, c, d, f], found, now=now) == []  # stable
    store.mark_duplicates([a], {a: ("INC1", "another reason")}, now=now)
    audits = [x for x in store.list_audit(sys_id=a) if x.kind == "duplicate"]
    assert len(audits) == 1


async def test_the_cache_kept_between_polls_is_invisible_to_the_garbage_collector(harness: Harness) -> None:
    """A full garbage collection holds every thread (the desktop's GUI thread too) for as long as it
    walks what the collector tracks: the cache of 100,000 parsed candidates made each full pass
    30-120 ms. It is plain tuples of strings and times, which the collector stops tracking."""
    import gc

    abel = harness.sn.users["abel.tuter"]
    for n in range(6):
        harness.incident(short_description=f"VPN drops every hour {n}", caller_id=abel)
    engine = harness.engine(harness.config(duplicates=ON))
    await engine.run_once()
    gc.collect()  # the pass that stops tracking tuples of plain values, then the dicts holding them
    versions, fields = engine.outbound.duplicates._cache
    assert len(versions) == len(fields) == 6
    assert not any(gc.is_tracked(entry) for entry in [*versions.values(), *fields.values()])
    assert not gc.is_tracked(versions) and not gc.is_tracked(fields)
