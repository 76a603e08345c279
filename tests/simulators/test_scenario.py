"""The scenario generator: deterministic by seed, driven by simulated time (no sleeps)."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import UTC, datetime

import pytest

from app.domain.duplicates import Candidate, DuplicateRules, suspicions
from app.domain.records import Incident
from app.simulators.autotask import AutotaskSimulator
from app.simulators.clock import ManualClock
from app.simulators.scenario import (
    CATEGORIES,
    IT_CATEGORIES,
    NON_IT_CATEGORIES,
    Scenario,
    ScenarioAction,
)
from app.simulators.servicenow import ServiceNowSimulator

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def world(seed: int, name: str = "lively", *, drive_clock: bool = False) -> Scenario:
    clock = ManualClock(T0)
    sn = ServiceNowSimulator(seed=seed, clock=clock)
    at = AutotaskSimulator(seed=seed, clock=clock)
    return Scenario(sn, at, random.Random(seed), name, drive_clock=drive_clock)


def link_some(scenario: Scenario, count: int) -> list[int]:
    """Stand in for the engine: tickets whose externalID is an incident's sys_id."""
    records = [r for r in scenario.servicenow.records() if r["category"] in IT_CATEGORIES][:count]
    return [
        scenario.autotask.add_ticket(externalID=r["sys_id"], title=r["short_description"]) for r in records
    ]


def run(scenario: Scenario, seconds: float, chunk: float = 7.0) -> list[ScenarioAction]:
    done: list[ScenarioAction] = []
    elapsed = 0.0
    while elapsed < seconds:
        done += scenario.step(chunk)
        elapsed += chunk
    return done


def test_same_seed_same_actions_and_records() -> None:
    first, second = world(42), world(42)
    for scenario in (first, second):
        scenario.seed(10)
        link_some(scenario, 4)
        run(scenario, 300)
    assert first.actions == second.actions
    assert len(first.actions) > 30
    assert first.servicenow.records() == second.servicenow.records()
    assert first.autotask.tickets() == second.autotask.tickets()


def test_different_seed_different_actions() -> None:
    first, second = world(1), world(2)
    for scenario in (first, second):
        scenario.seed(10)
        run(scenario, 120)
    assert first.actions != second.actions


def test_step_chunking_does_not_change_the_outcome() -> None:
    """What happens depends on simulated time only, not on how often step is called."""
    coarse, fine = world(7), world(7)
    coarse.seed()
    fine.seed()
    coarse.step(200)
    run(fine, 200, chunk=0.5)
    assert coarse.actions == fine.actions


def test_seed_creates_every_category_and_unlinked_tickets() -> None:
    scenario = world(3)
    actions = scenario.seed(10, unlinked_tickets=3)
    records = scenario.servicenow.records()
    assert len(records) == 10
    assert {r["category"] for r in records} == set(CATEGORIES)
    assert all(r["active"] == "true" for r in records)
    assert all(r["short_description"] and r["description"] for r in records)
    assert len({r["caller_id"] for r in records}) > 1
    tickets = scenario.autotask.tickets()
    assert len(tickets) == 3 and not any(t["externalID"] for t in tickets)
    assert [a.kind for a in actions].count("create_ticket") == 3


def test_lively_creates_it_and_non_it_incidents_with_mixed_priority() -> None:
    scenario = world(5)
    created = [a for a in run(scenario, 600) if a.kind == "create_incident"]
    assert len(created) >= 50  # one every 3-9 s
    records = scenario.servicenow.records()
    categories = {r["category"] for r in records}
    assert categories & set(NON_IT_CATEGORIES)
    assert categories & set(IT_CATEGORIES)
    assert len({r["priority"] for r in records}) >= 3
    assert len({r["short_description"] for r in records}) > 10


def test_incidents_are_cancelled_and_recategorised() -> None:
    scenario = world(11)
    scenario.seed()
    done = run(scenario, 600)
    kinds = {a.kind for a in done}
    assert {"cancel_incident", "recategorise_incident"} <= kinds
    records = {r["number"]: r for r in scenario.servicenow.records()}
    for action in done:
        if action.kind == "cancel_incident":
            assert records[action.target]["state"] == "8"
            assert records[action.target]["active"] == "false"
    last_category = {a.target: a.detail.rsplit(" ", 1)[-1] for a in done if a.kind == "recategorise_incident"}
    for number, category in last_category.items():
        assert records[number]["category"] == category


def test_technician_moves_only_linked_tickets() -> None:
    scenario = world(9)
    scenario.seed(10, unlinked_tickets=4)
    before = {t["id"]: t for t in scenario.autotask.tickets()}
    linked = set(link_some(scenario, 4))
    done = run(scenario, 600)
    ticket_actions = [a for a in done if a.kind.startswith("ticket_")]
    assert ticket_actions
    numbers = {t["ticketNumber"]: t["id"] for t in scenario.autotask.tickets()}
    assert {numbers[a.target] for a in ticket_actions} <= linked
    after = {t["id"]: t for t in scenario.autotask.tickets()}
    for ticket_id, ticket in before.items():
        assert after[ticket_id] == ticket  # unlinked tickets untouched, not even lastActivityDate
    complete = scenario.autotask.picklist_id("status", "Complete")
    completed = [after[t] for t in linked if after[t]["status"] == complete]
    assert completed, "ten minutes of work should finish something"
    assert all(t["resolution"] for t in completed)
    assert all(t["completedDate"] for t in completed)


def test_technician_status_path_and_priority_changes() -> None:
    scenario = world(13)
    scenario.seed(8)
    link_some(scenario, 6)
    done = run(scenario, 900)
    transitions = {a.detail for a in done if a.kind == "ticket_status"}
    assert "status New -> In Progress" in transitions
    assert "status In Progress -> Waiting Customer" in transitions
    assert any(t.endswith("-> Complete") for t in transitions)
    assert any(a.kind == "ticket_priority" for a in done)


def test_completed_tickets_are_left_alone() -> None:
    scenario = world(4)
    scenario.seed(4)
    (ticket_id,) = link_some(scenario, 1)
    scenario.autotask.technician_update(ticket_id, status="Complete", resolution="done")
    frozen = scenario.autotask.ticket(ticket_id)
    assert not [a for a in run(scenario, 300) if a.kind.startswith("ticket_")]
    assert scenario.autotask.ticket(ticket_id) == frozen


def test_quiet_does_nothing_after_seeding() -> None:
    scenario = world(1, "quiet")
    scenario.seed()
    assert len(scenario.servicenow.records()) == 8
    assert scenario.step(3600) == []


def test_busy_is_busier_than_lively() -> None:
    lively, busy = world(2, "lively"), world(2, "busy")
    assert len(run(busy, 120)) > 2 * len(run(lively, 120))


def test_unknown_scenario_is_refused() -> None:
    with pytest.raises(ValueError, match="lively"):
        world(1, "chaotic")


def test_drive_clock_moves_record_times_with_simulated_time() -> None:
    scenario = world(6, drive_clock=True)
    done = scenario.step(60)
    assert scenario.servicenow.clock.now() == datetime(2026, 1, 5, 9, 1, 0, tzinfo=UTC)
    first = scenario.servicenow.records()[0]
    at = next(a.at for a in done if a.kind == "create_incident")
    assert first["opened_at"] == f"2026-01-05 09:00:{int(at):02d}"


def test_background_thread_stops_promptly() -> None:
    scenario = world(8, "busy")
    scenario.start(tick=0.01)
    assert scenario.running
    with pytest.raises(RuntimeError):
        scenario.start()
    stopped = threading.Event()

    def stop() -> None:
        scenario.stop(timeout=2)
        stopped.set()

    threading.Thread(target=stop).start()
    assert stopped.wait(3)
    assert not scenario.running


def test_async_runner_steps_on_wall_time_and_stops() -> None:
    scenario = world(8, "busy")

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(scenario.run(stop, tick=0.01))
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert scenario.elapsed > 0


def test_seed_duplicates_tells_two_stories_the_duplicate_rule_finds() -> None:
    """An outage three callers report (same CI, worded differently) and one caller's repeat."""
    scenario = world(5)
    actions = scenario.seed_duplicates()
    records = scenario.servicenow.records()
    assert len(actions) == len(records) == 5
    incidents = [Incident.from_wire(record) for record in records]
    found = suspicions([Candidate.from_incident(i) for i in incidents], DuplicateRules())
    by_number = {i.number: i for i in incidents}
    primaries = {s.primary_number for s in found.values()}
    assert len(found) == 3 and len(primaries) == 2
    outage = [s for s in found.values() if "same CI" in s.shared]
    assert len(outage) == 2 and len({by_number[s.number].caller_id for s in outage}) == 2
    assert scenario.servicenow.references[by_number[outage[0].number].cmdb_ci] == "EXCH-PRD-01"
    [repeat] = [s for s in found.values() if "same caller" in s.shared]
    assert by_number[repeat.number].caller_id == by_number[repeat.primary_number].caller_id
