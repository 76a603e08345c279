"""The states a SIGKILL leaves in each crash window, set up exactly (no timing luck), then a restart.

The random-kill test (test_proof_crash_safety.py) finds these windows by chance; here each one is
hit every time. Windows: after the create, before the link (covered in tests/engine); after the
write-back PATCH, before it is marked done; after a return-trip PATCH, before its values are stored.
"""

from __future__ import annotations

from proof_harness import Harness
from sqlmodel import select

from app.store import Cursor, Link, WritebackState


async def test_kill_after_writeback_patch_does_not_append_a_second_note(harness: Harness) -> None:
    h = harness
    incident = h.incident()
    engine = h.engine(h.config(outbound={"auto_push": True}))
    assert (await engine.run_once()).ok
    assert len(h.writeback_notes(incident["sys_id"])) == 1
    with engine.store._write() as session:  # as a kill before mark_writeback(DONE) leaves it
        link = session.exec(select(Link)).one()
        link.writeback_state = WritebackState.PENDING
        link.writeback_attempts = 1  # counted before the PATCH went out
    await engine.close()

    restarted = h.engine(h.config(outbound={"auto_push": True}), holder="restarted")
    report = await restarted.run_once()
    assert report.ok, report.failures
    link_after = restarted.store.get_link(sys_id=incident["sys_id"])
    assert link_after is not None and link_after.writeback_state == WritebackState.DONE
    assert len(h.writeback_notes(incident["sys_id"])) == 1


async def test_kill_after_return_patch_does_not_apply_twice(harness: Harness) -> None:
    h = harness
    incident = h.incident()
    engine = h.engine(h.config(outbound={"auto_push": True}))
    assert (await engine.run_once()).ok
    mark = engine.store.get_cursor("autotask").watermark
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None
    synced_before = dict(link.return_synced)
    h.at.technician_update(link.ticket_id, status="In Progress")
    report = await engine.run_once()
    assert report.ok and report.applied == 1
    with engine.store._write() as session:  # as a kill before update_return_synced leaves it
        stored = session.exec(select(Link)).one()
        stored.return_synced = synced_before
        stored.return_in_flight = True  # marked before the PATCH went out
        cursor = session.exec(select(Cursor).where(Cursor.system == "autotask")).one()
        cursor.watermark = mark
    await engine.close()

    restarted = h.engine(h.config(outbound={"auto_push": True}), holder="restarted")
    report = await restarted.run_once()
    assert report.ok, report.failures
    assert h.sn.get_record(incident["sys_id"])["state"] == "2"
    assert len(h.return_notes(incident["sys_id"])) == 1
