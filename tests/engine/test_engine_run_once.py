"""`run --once` tells the truth: an unknown create outcome is resolved in the same run (the search by
externalID is read-only), and the run is not ok while anything it was responsible for is left
undone, one line each saying what."""

from __future__ import annotations

from engine_harness import Harness

from app.engine.backoff import Backoff
from app.store import QueueState, WritebackState

SLOW = Backoff(base_seconds=600, max_seconds=600)  # a retry is never due within the test


async def test_a_lost_create_answer_is_resolved_in_the_same_run(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    engine.ctx.backoff = SLOW  # the usual retry would come only in a later run
    harness.at.faults.inject("reset_after", method="POST", path=r"/Tickets$")  # created, answer lost
    report = await engine.run_once()
    assert report.ok, (report.failures, report.undone)
    [ticket] = harness.tickets_for(incident["sys_id"])
    link = engine.store.get_link(sys_id=incident["sys_id"])
    assert link is not None and link.ticket_id == ticket["id"] and not link.adopted
    assert link.writeback_state == WritebackState.DONE
    assert len(harness.writeback_notes(incident["sys_id"])) == 1


async def test_an_unresolved_create_is_undone_and_said(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    engine.ctx.backoff = SLOW
    harness.at.faults.inject("reset_before", method="POST", path=r"/Tickets$")  # never processed
    report = await engine.run_once()
    assert harness.at.tickets() == []
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHING
    assert not report.ok
    [line] = [u for u in report.undone if incident["number"] in u]
    assert "outcome unknown" in line and "no ticket" in line


async def test_work_left_from_an_earlier_run_is_not_reported_as_done(harness: Harness) -> None:
    """The second run has nothing due (the retries wait), so it does nothing, and says so."""
    pushed_later = harness.incident(short_description="push refused for now")
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    engine.ctx.backoff = SLOW
    harness.at.faults.inject("status", method="POST", path=r"/Tickets$", status=429, count=10)
    first = await engine.run_once()
    assert not first.ok
    harness.at.faults.clear()
    second = await engine.run_once()
    assert not second.ok
    assert second.failures == []  # nothing failed in this run...
    [line] = second.undone  # ...but the item is not through
    assert pushed_later["number"] in line and "not pushed" in line and "next try" in line


async def test_a_pending_write_back_keeps_the_run_from_saying_done(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    engine.ctx.backoff = SLOW
    harness.sn.faults.inject("status", method="PATCH", path="/table/incident/", status=503, count=10)
    first = await engine.run_once()
    harness.sn.faults.clear()
    assert first.pushed == 1 and not first.ok
    second = await engine.run_once()
    assert second.failures == [] and not second.ok
    [line] = second.undone
    assert incident["number"] in line and "write-back" in line


async def test_settling_in_a_new_process_reads_the_stored_picklists_not_autotasks(harness: Harness) -> None:
    """A `run --once` from cron that settles an unknown outcome left by the previous run uses the
    picklists kept in the store (fresh), like every other path: no extra metadata request."""
    incident = harness.incident()
    config = harness.config(outbound={"auto_push": True})
    first = harness.engine(config)
    first.ctx.backoff = SLOW
    harness.at.faults.inject("reset_after", method="POST", path=r"/Tickets$")  # created, answer lost
    await first.outbound.poll()
    await first.outbound.push_due()  # the run was killed before it could settle
    assert first.store.get_item(incident["sys_id"]).state == QueueState.PUSHING  # type: ignore[union-attr]
    await first.close()
    harness.at.requests.clear()

    cron = harness.engine(config)
    cron.ctx.backoff = SLOW
    report = await cron.run_once()

    assert report.ok, (report.failures, report.undone)
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    assert harness.at.requests.count(path_contains="entityInformation") == 0
