"""Polling never loses a record that moves while we read (api-contracts.md "Behaviours of live
systems" 1-3): records edited while a poll pages, a later query of the same poll seeing newer
stamps than an earlier one, and Autotask tickets edited behind the paging cursor. Each edit is
made by the simulator between two real page requests; nothing is written to our store by hand."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from proof_harness import Harness

# Further than any overlap window: a record stamped this much earlier is only found if the poll
# really read it, never by the overlap re-reading it.
FAR = 3 * 3600


pytestmark = pytest.mark.usefixtures("fresh_clocks")  # these tests move the simulators' clocks


def _first_in_order(h: Harness) -> dict[str, str]:
    return min(h.sn.records(), key=lambda r: (r["sys_updated_on"], r["sys_id"]))


async def test_servicenow_record_edited_while_paging_is_not_lost(harness: Harness) -> None:
    h = harness
    incidents = [h.incident(short_description=f"n{n}") for n in range(5)]
    engine = h.engine(h.config(servicenow={"page_size": 2}))

    def work_note_on_page_one(params: Mapping[str, str]) -> bool:
        # A technician adds a work note to a record we have already read: it moves to the end.
        h.sn.clock.advance(FAR)
        h.sn.update_incident(_first_in_order(h)["sys_id"], work_notes="called the user back")
        return True

    h.sn.page_hooks.add(work_note_on_page_one)
    first = await engine.run_once()
    assert first.ok, first.failures
    assert first.queued == 5  # offset paging skipped the row that moved up into page one
    second = await engine.run_once()
    assert second.ok, second.failures
    assert {i.sys_id for i in engine.store.list_items()} == {i["sys_id"] for i in incidents}


async def test_servicenow_watermark_only_covers_what_every_query_saw(harness: Harness) -> None:
    """The trigger query runs, then the open-item query; a record the trigger query could not see
    yet must not fall behind a watermark pushed forward by the second query's newer stamps."""
    h = harness
    waiting = h.incident(short_description="already queued")
    engine = h.engine(h.config())
    assert (await engine.run_once()).queued == 1
    created: list[dict[str, str]] = []

    def after_trigger_query(params: Mapping[str, str]) -> bool:
        if "sys_idIN" in params.get("sysparm_query", ""):
            return False
        created.append(h.incident(short_description="arrived between the two queries"))
        h.sn.clock.advance(FAR)
        h.sn.update_incident(waiting["sys_id"], work_notes="still looking")
        return True

    h.sn.page_hooks.add(after_trigger_query)
    first = await engine.run_once()
    assert first.ok, first.failures
    second = await engine.run_once()
    assert second.ok, second.failures
    [late] = created
    assert engine.store.get_item(late["sys_id"]) is not None


async def test_autotask_ticket_edited_behind_the_paging_cursor_is_applied(harness: Harness) -> None:
    """Autotask pages by id while the filter is by time: a ticket on an already-read page that a
    technician edits must not fall behind a watermark taken from a later page's newer stamps."""
    h = harness
    engine = h.engine(h.config(outbound={"auto_push": True}))
    early = h.incident(short_description="ticket on page one")
    assert (await engine.run_once()).pushed == 1
    h.at.seed_tickets(500, externalID="other-integration")  # fills page one of every query
    late = h.incident(short_description="ticket on page two")
    assert (await engine.run_once()).pushed == 1
    [early_ticket] = h.tickets_for(early["sys_id"])
    [late_ticket] = h.tickets_for(late["sys_id"])

    def edit_while_paging(params: Mapping[str, str]) -> bool:
        if params["next"] != "false" or "lastActivityDate" not in params["body"]:
            return False
        h.at.clock.advance(1)
        h.at.technician_update(early_ticket["id"], status="In Progress")  # behind the cursor
        h.at.clock.advance(FAR)
        h.at.technician_update(late_ticket["id"], status="In Progress")  # ahead of it
        return True

    h.at.page_hooks.add(edit_while_paging)
    first = await engine.run_once()
    assert first.ok, first.failures
    assert h.sn.get_record(late["sys_id"])["state"] == "2"
    second = await engine.run_once()
    assert second.ok, second.failures
    assert h.sn.get_record(early["sys_id"])["state"] == "2"
    assert len(h.return_notes(early["sys_id"])) == 1
