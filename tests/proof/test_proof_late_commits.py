"""Stamps are not commit times (api-contracts.md "Behaviours of live systems" 2): a record stamped
when its transaction began becomes visible minutes later, and imports write older stamps. The
overlap window of minutes catches the first; the reconciliation pass catches what no incremental
poll can see, and says so (a found record is a miss of the incremental path)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from proof_harness import IT, Harness

from app.engine.context import utcnow
from app.engine.engine import SyncEngine
from app.store import AuditDirection

HOURS_AGO = 3 * 3600


pytestmark = pytest.mark.usefixtures("fresh_clocks")  # these tests move the simulators' clocks


def later(minutes: float) -> Callable[[], datetime]:
    """The engine's own clock, ``minutes`` ahead: the reconciliation pass comes due."""
    return lambda: utcnow() + timedelta(minutes=minutes)


def reconcile_events(engine: SyncEngine) -> list[str]:
    return [
        e.summary for e in engine.store.list_audit(direction=AuditDirection.SYSTEM) if e.kind == "reconcile"
    ]


async def a_missed_ticket_change(h: Harness) -> tuple[SyncEngine, dict[str, Any], dict[str, Any]]:
    """A pushed incident whose ticket then changes with a stamp hours old: no return poll sees it."""
    engine = h.engine(h.config(outbound={"auto_push": True}))
    incident = h.incident()
    assert (await engine.run_once()).pushed == 1
    [ticket] = h.tickets_for(incident["sys_id"])
    h.at.technician_update(ticket["id"], status="In Progress", stamp_lag=HOURS_AGO)
    quiet = await engine.run_once()
    assert quiet.ok and quiet.applied == 0, quiet.failures
    assert h.sn.get_record(incident["sys_id"])["state"] == "1"
    return engine, incident, ticket


async def test_late_commit_inside_the_overlap_window_is_found(harness: Harness) -> None:
    h = harness
    engine = h.engine(h.config())
    slow = h.incident(short_description="a slow business rule", commit_delay=120)
    h.sn.clock.advance(30)
    h.incident(short_description="a quick one")
    first = await engine.run_once()
    assert first.ok and first.queued == 1, first.failures  # the slow one is not visible yet
    h.sn.clock.advance(100)  # now it has committed, stamped 130 s ago
    second = await engine.run_once()
    assert second.ok, second.failures
    assert engine.store.get_item(slow["sys_id"]) is not None
    assert reconcile_events(engine) == []  # the incremental path found it: no miss to report


async def test_reconciliation_finds_an_old_stamped_import_and_reports_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    engine = h.engine(h.config())
    h.incident(short_description="seen normally")
    assert (await engine.run_once()).queued == 1
    imported = h.sn.create_incident(
        **IT, short_description="imported", stamp=h.sn.clock.now() - timedelta(seconds=HOURS_AGO)
    )
    quiet = await engine.run_once()  # below every overlap, and not due yet: not found
    assert quiet.ok and quiet.queued == 0 and quiet.reconciled == []
    assert engine.store.get_item(imported["sys_id"]) is None
    engine.ctx.clock = later(61)
    with caplog.at_level(logging.WARNING):
        due = await engine.run_once()
    assert due.ok, due.failures
    item = engine.store.get_item(imported["sys_id"])
    assert item is not None and str(item.state) == "pending"
    [servicenow] = [r for r in due.reconciled if r.system == "servicenow"]
    assert servicenow.found == (imported["number"],)
    assert any(imported["number"] in text for text in reconcile_events(engine))
    assert any("missed by the incremental poll" in r.getMessage() for r in caplog.records)
    cursor = engine.store.get_cursor("servicenow")
    assert cursor.reconcile_found == 1 and cursor.reconciled_at is not None
    assert engine.health("servicenow").reconcile_found == (imported["number"],)  # the status bar
    assert cursor.reconcile_due_at is not None and cursor.reconcile_due_at > cursor.reconciled_at
    again = await engine.run_once()  # the schedule is in the store: not due again for an hour
    assert again.reconciled == []


async def test_reconciliation_applies_a_ticket_change_the_return_poll_missed(harness: Harness) -> None:
    h = harness
    engine, incident, ticket = await a_missed_ticket_change(h)
    engine.ctx.clock = later(61)
    due = await engine.run_once()
    assert due.ok, due.failures
    assert h.sn.get_record(incident["sys_id"])["state"] == "2"
    [autotask] = [r for r in due.reconciled if r.system == "autotask"]
    assert autotask.found == (ticket["ticketNumber"],)
    assert any(ticket["ticketNumber"] in text for text in reconcile_events(engine))
    assert engine.store.get_cursor("autotask").reconcile_found == 1


async def test_reconciliation_finds_nothing_when_nothing_was_missed(harness: Harness) -> None:
    h = harness
    engine = h.engine(h.config(outbound={"auto_push": True}))
    for n in range(3):
        h.incident(short_description=f"n{n}")
    assert (await engine.run_once()).pushed == 3
    engine.ctx.clock = later(61)
    report = await engine.run_once()
    assert report.ok, report.failures
    assert sorted(r.system for r in report.reconciled) == ["autotask", "servicenow"]
    assert all(r.found == () for r in report.reconciled)
    assert engine.store.get_cursor("servicenow").reconcile_found == 0


async def test_a_found_change_that_could_not_be_applied_is_tried_again_next_cycle(harness: Harness) -> None:
    """The pass finds a missed ticket change but ServiceNow is briefly unavailable for the PATCH:
    the pass stays due (like a poll keeps its window) instead of waiting another hour, since no
    incremental poll will see that change again."""
    h = harness
    engine, incident, _ticket = await a_missed_ticket_change(h)
    engine.ctx.clock = later(61)
    h.sn.faults.inject("status", method="PATCH", path=r"/incident/", status=503, count=20)
    assert not (await engine.run_once()).ok
    assert h.sn.get_record(incident["sys_id"])["state"] == "1"
    h.sn.faults.clear()

    engine.ctx.clock = later(62)  # the next cycle, a minute on
    again = await engine.run_once()

    assert again.ok, again.failures
    assert h.sn.get_record(incident["sys_id"])["state"] == "2"
