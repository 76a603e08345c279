"""Each crash window hit for real, every time: a fault drops the connection right AFTER the
simulator processed the PATCH (the write landed, the engine never hears back, as when it is killed
at that moment), then the engine is closed and a new one starts on the same database.

The random-kill test (test_proof_crash_safety.py) finds these windows by chance; here each one is
hit deterministically. Nothing here writes the "fixed" state by hand: moving an in-flight marker
after its PATCH makes these tests fail. Windows: after the create, before the link (covered in
tests/engine and the fault matrix); after the write-back PATCH, before it is marked done; after a
return-trip PATCH, before its values are stored.
"""

from __future__ import annotations

from proof_harness import Harness

from app.store import WritebackState

INCIDENT_PATCH = r"/table/incident/[0-9a-f]{32}$"


async def test_kill_after_writeback_patch_does_not_append_a_second_note(harness: Harness) -> None:
    h = harness
    incident = h.incident()
    engine = h.engine(h.config(outbound={"auto_push": True}))
    h.sn.faults.inject("reset_after", method="PATCH", path=INCIDENT_PATCH, count=1)
    report = await engine.run_once()
    assert h.sn.faults.active() == []  # the fault fired: the PATCH landed, its answer was lost
    assert len(h.writeback_notes(incident["sys_id"])) == 1
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.writeback_state == WritebackState.PENDING
    assert not report.ok
    await engine.close()  # the process is gone; only the database remains

    restarted = h.engine(h.config(outbound={"auto_push": True}), holder="restarted")
    report = await restarted.run_once()
    assert report.ok, (report.failures, report.undone)
    link_after = restarted.store.get_link(sys_id=incident["sys_id"])
    assert link_after is not None and link_after.writeback_state == WritebackState.DONE
    assert len(h.writeback_notes(incident["sys_id"])) == 1
    assert len(h.tickets_for(incident["sys_id"])) == 1


async def test_kill_after_return_patch_does_not_apply_twice(harness: Harness) -> None:
    h = harness
    incident = h.incident()
    engine = h.engine(h.config(outbound={"auto_push": True}))
    assert (await engine.run_once()).ok
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None
    h.at.technician_update(link.ticket_id, status="In Progress")
    h.sn.faults.inject("reset_after", method="PATCH", path=INCIDENT_PATCH, count=1)
    report = await engine.run_once()
    assert h.sn.faults.active() == []
    assert h.sn.get_record(incident["sys_id"])["state"] == "2"  # landed
    assert len(h.return_notes(incident["sys_id"])) == 1
    assert not report.ok
    await engine.close()

    restarted = h.engine(h.config(outbound={"auto_push": True}), holder="restarted")
    report = await restarted.run_once()
    assert report.ok, (report.failures, report.undone)
    assert h.sn.get_record(incident["sys_id"])["state"] == "2"
    assert len(h.return_notes(incident["sys_id"])) == 1
    stored = restarted.store.get_link(sys_id=incident["sys_id"])
    assert stored is not None and stored.return_synced.get("status") == "In Progress"
    assert not stored.return_in_flight
