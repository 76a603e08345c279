"""Pacing that holds on a busy tenant, and Retry-After honoured across cycles and processes."""

from __future__ import annotations

import logging
import re
from datetime import datetime

import pytest
from engine_harness import Harness, Shift
from sim_harness import Sleeps

from app.engine.engine import SyncEngine
from app.store import QueueState


def engine_on_sim_time(harness: Harness, **options: object) -> SyncEngine:
    return harness.engine(clock=harness.at.clock.now, **options)  # type: ignore[arg-type]


def now(harness: Harness) -> datetime:
    return harness.at.clock.now()


async def test_a_busy_tenant_slows_pushes_down_but_never_locks_them_out(
    harness: Harness, shift: Shift
) -> None:
    harness.at.set_other_integrations(9950)  # other integrations used 99.5 % of the hour
    incident = harness.incident(short_description="Mail server down")
    sleeps = Sleeps()
    engine = engine_on_sim_time(harness, sleeps=sleeps, max_inline_wait=15)
    await engine.run_once()
    await engine.approve([incident["number"]])
    text = engine.budget().describe(now(harness))
    assert re.search(
        r"Autotask is 99 % busy this hour \(others [\d,]+, us \d+\): pushes are paced, next in", text
    )

    shift(15 * 60)  # a quarter of the hour rolls on: their oldest requests leave the window
    report = await engine.run_once()

    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED, (item.last_error if item else None, report)
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    assert any(delay > 0 for delay in sleeps.delays)  # paced, not stopped
    assert "busy this hour" in engine.budget().describe(now(harness))


async def test_run_once_starts_from_the_stored_reading_and_picklists(harness: Harness) -> None:
    first = harness.engine()
    assert (await first.run_once()).ok
    await first.close()
    harness.at.requests.clear()
    harness.sn.requests.clear()

    cron = harness.engine()  # the next `run --once` from cron: a new process, the same store
    report = await cron.run_once()

    assert report.ok, report.failures
    assert harness.at.requests.count(path_contains="ThresholdInformation") == 0
    assert harness.at.requests.count(path_contains="entityInformation") == 0
    assert harness.at.requests.count() == 1  # an idle cycle: one query per system
    assert harness.sn.requests.count() == 1
    assert cron.budget().tenant_limit == 10000


async def test_retry_after_on_the_servicenow_poll_holds_across_cycles_and_processes(
    harness: Harness, shift: Shift
) -> None:
    engine = engine_on_sim_time(harness)
    harness.sn.faults.inject("status", method="GET", path=r"/table/incident$", status=429, retry_after=120)
    first = await engine.run_once()
    assert not first.ok
    polls = harness.sn.requests.count("GET", "/table/incident")

    assert (await engine.run_once()).ok
    assert harness.sn.requests.count("GET", "/table/incident") == polls  # not sent again on the next cycle
    hold_text = engine.budget().describe(now(harness))
    assert "ServiceNow poll held until" in hold_text and "Retry-After 120 s" in hold_text

    await engine.close()
    cron = engine_on_sim_time(harness)  # a `run --once` from cron honours it too
    await cron.run_once()
    assert harness.sn.requests.count("GET", "/table/incident") == polls

    shift(121)
    assert (await cron.run_once()).ok
    assert harness.sn.requests.count("GET", "/table/incident") == polls + 1


async def test_retry_after_on_a_return_update_holds_the_return_trip(harness: Harness, shift: Shift) -> None:
    incident = harness.incident()
    engine = engine_on_sim_time(harness, config=harness.config(outbound={"auto_push": True}))
    assert (await engine.run_once()).pushed == 1
    [ticket] = harness.tickets_for(incident["sys_id"])
    harness.at.technician_update(ticket["id"], status="In Progress")
    harness.sn.faults.inject("status", method="PATCH", path=r"/incident/", status=429, retry_after=120)

    assert not (await engine.run_once()).ok
    patches = harness.sn.requests.count("PATCH", "/incident/")
    await engine.run_once()
    assert harness.sn.requests.count("PATCH", "/incident/") == patches  # held, not hammered
    assert harness.sn.get_record(incident["sys_id"])["state"] != "2"

    shift(121)
    assert (await engine.run_once()).ok
    assert harness.sn.get_record(incident["sys_id"])["state"] == "2"
    assert harness.sn.requests.count("PATCH", "/incident/") == patches + 1


async def test_retry_after_on_a_push_holds_every_push(harness: Harness, shift: Shift) -> None:
    incidents = [harness.incident(short_description=f"Disk {n}") for n in range(3)]
    engine = engine_on_sim_time(
        harness, config=harness.config(outbound={"auto_push": True, "push_concurrency": 1})
    )
    harness.at.faults.inject("status", method="POST", path=r"/Tickets$", status=429, retry_after=300)
    await engine.run_once()
    assert creates(harness) == 1  # the others waited for the Retry-After instead of trying too
    await engine.run_once()
    assert creates(harness) == 1
    shift(301)
    assert (await engine.run_once()).pushed == 3
    assert all(len(harness.tickets_for(i["sys_id"])) == 1 for i in incidents)


def creates(harness: Harness) -> int:
    return sum(
        1 for entry in harness.at.requests.entries("POST") if entry.path.rstrip("/").endswith("/Tickets")
    )


@pytest.mark.parametrize("header", ["inf", "1e12", "nan", "-5"])
async def test_absurd_retry_after_is_clamped_and_logged(
    harness: Harness, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = engine_on_sim_time(harness)
    harness.sn.faults.inject("status", method="GET", path=r"/table/incident$", status=429, retry_after=header)
    with caplog.at_level(logging.WARNING):
        await engine.run_once()
    assert any("Retry-After" in r.getMessage() and header in r.getMessage() for r in caplog.records)
    hold = engine.ctx.pacing.held("servicenow", "poll")
    if header in ("inf", "1e12"):
        assert hold is not None and (hold.until - now(harness)).total_seconds() <= 3600
    else:
        assert hold is None  # nonsense or the past: back off as if no Retry-After was sent


async def test_retry_after_on_a_write_back_holds_every_write_back(harness: Harness, shift: Shift) -> None:
    incidents = [harness.incident(short_description=f"Fan {n}") for n in range(2)]
    config = harness.config(outbound={"auto_push": True, "push_concurrency": 1})
    engine = engine_on_sim_time(harness, config=config)
    harness.sn.faults.inject("status", method="PATCH", path=r"/incident/", status=429, retry_after=120)
    await engine.run_once()
    assert harness.sn.requests.count("PATCH", "/incident/") == 1  # the second one waited
    assert "ServiceNow write-backs held until" in engine.budget().describe(now(harness))
    shift(121)
    assert (await engine.run_once()).ok
    assert all(len(harness.writeback_notes(i["sys_id"])) == 1 for i in incidents)


async def test_retry_after_on_the_return_trips_incident_read_holds_the_return_trip(
    harness: Harness, shift: Shift
) -> None:
    """The return trip reads the incidents it is about to change in one batched GET: a 429 with
    Retry-After there is a hold too, not a read sent again on the very next cycle."""
    incident = harness.incident()
    engine = engine_on_sim_time(harness, config=harness.config(outbound={"auto_push": True}))
    assert (await engine.run_once()).pushed == 1
    [ticket] = harness.tickets_for(incident["sys_id"])
    harness.at.technician_update(ticket["id"], status="In Progress")
    # ServiceNow's rate limit covers every call: the poll and then the batched read are refused.
    harness.sn.faults.inject(
        "status", method="GET", path=r"/table/incident$", status=429, retry_after=120, count=2
    )

    assert not (await engine.run_once()).ok
    reads = harness.sn.requests.count("GET", "/table/incident")
    await engine.run_once()
    assert harness.sn.requests.count("GET", "/table/incident") == reads  # held, not hammered
    assert engine.ctx.pacing.held("servicenow", "return") is not None

    shift(121)
    assert (await engine.run_once()).ok
    assert harness.sn.get_record(incident["sys_id"])["state"] == "2"


async def test_retry_after_on_a_webhook_re_read_holds_the_next_re_reads(harness: Harness) -> None:
    """A webhook's id-only notification is re-read with a GET: a 429 with Retry-After there holds
    the next re-reads (and the poll) instead of sending the next batch at once."""
    first, second = harness.incident(), harness.incident()
    engine = engine_on_sim_time(harness)
    await engine.ctx.pacing.load()
    harness.sn.faults.inject("status", method="GET", path=r"/table/incident/", status=429, retry_after=120)
    with pytest.raises(Exception, match="429|rate"):
        await engine.ingest_incident_ids([first["sys_id"]])
    sent = harness.sn.requests.count("GET", "/table/incident/")

    await engine.ingest_incident_ids([second["sys_id"]])

    assert harness.sn.requests.count("GET", "/table/incident/") == sent
    assert engine.ctx.pacing.held("servicenow", "poll") is not None


async def test_settling_unknown_outcomes_honours_a_push_hold(harness: Harness, shift: Shift) -> None:
    """One create's answer is lost, the next create is answered 429 with Retry-After: the search
    that settles the lost one waits for the hold like every other push call, and the run says the
    item is undone instead of querying a tenant that asked for quiet."""
    lost, refused = harness.incident(short_description="Lost"), harness.incident(short_description="Later")
    engine = engine_on_sim_time(
        harness, config=harness.config(outbound={"auto_push": True, "push_concurrency": 1})
    )
    await engine.ctx.pacing.load()
    harness.at.faults.inject("reset_after", method="POST", path=r"/Tickets$")  # created, answer lost
    harness.at.faults.inject("status", method="POST", path=r"/Tickets$", status=429, retry_after=300)
    await engine.outbound.poll()
    await engine.outbound.push_due()
    assert engine.ctx.pacing.held("autotask", "push") is not None
    harness.at.requests.clear()

    await engine.outbound.settle_unknown()

    assert harness.at.requests.count() == 0
    shift(301)
    report = await engine.run_once()
    assert report.ok, (report.failures, report.undone)
    assert all(len(harness.tickets_for(i["sys_id"])) == 1 for i in (lost, refused))
