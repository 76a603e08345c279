"""The Rules window on an attached desk: previews and the impact report come from the shared store
(no credentials); saving is the engine host's, so the desk says where instead of writing its own file."""

from __future__ import annotations

import pytest
from sim_harness import SimHarness

from app.config import ValueMapRule
from app.engine.desk import AttachedDesk, NeedsEngine
from app.store import Store


async def test_desk_previews_rules_from_the_store_and_leaves_saving_to_the_engine_host(
    harness: SimHarness, team_url: str
) -> None:
    config = harness.config(store={"url": team_url})
    engine = harness.engine(config)
    incident = harness.incident(priority="2", impact="1", urgency="2")
    await engine.run_once()  # queued; the engine keeps the picklists in the shared store
    desk = AttachedDesk(config, Store.open(team_url), name="anna")
    await desk.start()
    try:
        assert (await desk.picklists()) is not None
        sample = await desk.sample_incident(incident["number"], fresh=False)
        assert sample is not None and sample.sys_id == incident["sys_id"]
        with pytest.raises(RuntimeError, match="needs the engine"):
            await desk.sample_incident(incident["number"], fresh=True)

        rule = config.outbound.fields["priority"]
        assert isinstance(rule, ValueMapRule)
        fields = {
            **config.outbound.fields,
            "priority": rule.model_copy(update={"map": {**rule.map, "2": "Critical"}}),
        }
        edited = config.model_copy(update={"outbound": config.outbound.model_copy(update={"fields": fields})})
        report = await desk.rules_impact(edited)
        assert [item.number for item in report.altered] == [incident["number"]]

        reason = desk.rules_read_only()
        assert reason is not None and "machine that runs the engine" in reason
        with pytest.raises(NeedsEngine):
            await desk.apply_rules(edited, "anna")
        assert engine.rules_read_only() is None
    finally:
        await desk.close()
