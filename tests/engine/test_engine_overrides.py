"""Per-ticket overrides through the engine: checked against the tenant's picklists, applied to the
ticket Autotask creates, audited with who."""

from __future__ import annotations

from typing import Any

from engine_harness import Harness


async def test_an_override_reaches_the_created_ticket(harness: Harness) -> None:
    incident = harness.incident(short_description="Mail slow", impact="3", urgency="3")
    engine = harness.engine()
    await engine.run_once()
    number = incident["number"]

    choices = await engine.override_choices()
    assert "Level II Support" in choices.labels["queueID"] and "High" in choices.labels["priority"]
    refused = await engine.set_overrides(number, {"priority": "Urgentest"}, by="anna")
    assert not refused.ok and "'Urgentest' is not an active Autotask priority label" in refused.message
    too_long = await engine.set_overrides(number, {"title": "x" * (choices.title_max + 1)}, by="anna")
    assert not too_long.ok

    result = await engine.set_overrides(
        number,
        {"priority": "High", "queueID": "Level II Support", "title": "Mail slow for the sales floor"},
        by="anna",
    )
    assert result.ok, result.message
    shown = await engine.preview(number)
    priority = shown.field("priority")
    assert priority is not None and priority.rule.startswith("overridden by anna")

    await engine.approve([number], by="anna")
    report = await engine.run_once()
    assert report.ok and report.pushed == 1, report.failures
    [ticket] = harness.tickets_for(incident["sys_id"])
    at = harness.at
    assert ticket["priority"] == at.picklist_id("priority", "High")
    assert ticket["queueID"] == at.picklist_id("queueID", "Level II Support")
    assert ticket["title"] == "Mail slow for the sales floor"
    summaries = [e.summary for e in engine.store.list_audit(sys_id=incident["sys_id"])]
    assert any(s.startswith(f"{number}: ticket fields overridden by anna: ") for s in summaries)
    assert any("(title, priority, queueID overridden by anna)" in s for s in summaries), summaries
    # Too late to change what was sent.
    late = await engine.set_overrides(number, {"priority": "Low"}, by="anna")
    assert not late.ok and late.message == f"{number}: fields cannot be changed while pushed"


async def test_clearing_overrides_goes_back_to_the_mapping(harness: Harness) -> None:
    incident = harness.incident(short_description="Printer jam", impact="3", urgency="3")
    engine = harness.engine()
    await engine.run_once()
    number = incident["number"]
    before = (await engine.preview(number)).payload["priority"]
    await engine.set_overrides(number, {"priority": "High"}, by="anna")
    assert (await engine.preview(number)).payload["priority"] == harness.at.picklist_id("priority", "High")
    cleared = await engine.clear_overrides(number, by="anna")
    assert cleared.ok
    mapped = await engine.preview(number)
    assert mapped.payload["priority"] == before != harness.at.picklist_id("priority", "High")
    [row] = [r for r in await engine.list_queue() if r.number == number]
    assert row.overrides == {}


async def test_fields_changed_while_the_push_is_planned_are_the_ones_sent(harness: Harness) -> None:
    """A person saves an override just before the push marks the item ``pushing`` (after the push
    read the item): the ticket carries it, because the store refuses changes only from then on."""
    incident = harness.incident(short_description="Printer offline")
    engine = harness.engine()
    await engine.run_once()
    number = incident["number"]
    await engine.approve([number], by="anna")
    store = engine.store
    mark_pushing = store.mark_pushing

    def person_saves_first(sys_id: str, **kwargs: Any) -> int:
        store.set_overrides(number, {"priority": "Critical"}, "ben", now=kwargs["now"])
        return mark_pushing(sys_id, **kwargs)

    store.mark_pushing = person_saves_first  # type: ignore[method-assign]
    report = await engine.run_once()
    assert report.ok and report.pushed == 1, report.failures
    [ticket] = harness.tickets_for(incident["sys_id"])
    assert ticket["priority"] == harness.at.picklist_id("priority", "Critical")
    late = store.set_overrides(number, {"priority": "Low"}, "ben", now=engine.ctx.clock())
    assert not late.ok  # and nothing can change it any more
