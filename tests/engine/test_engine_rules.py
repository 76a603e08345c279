"""A rule change saved while the engine runs: its impact on the queue first, then the next push
uses the new rule without a restart, and the audit trail says who changed which rule."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from engine_harness import Harness

from app.config import ValueMapRule, load_config
from app.rules_file import save_rules
from app.store import QueueState


async def test_engine_pushes_with_the_saved_rule_without_restart(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# the engine host's rules\n" + tomlkit.dumps(harness.config_data()), encoding="utf-8")
    current = load_config(path)
    engine = harness.engine(current)
    incident = harness.incident(priority="2", impact="1", urgency="2")
    await engine.run_once()  # queued, waiting for approval (auto-push is off)
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PENDING
    assert (await engine.preview(incident["sys_id"])).field("priority").display == "High"

    rule = current.outbound.fields["priority"]
    assert isinstance(rule, ValueMapRule)
    fields = {
        **current.outbound.fields,
        "priority": rule.model_copy(update={"map": {**rule.map, "2": "Critical"}}),
    }
    edited = current.model_copy(update={"outbound": current.outbound.model_copy(update={"fields": fields})})

    report = await engine.rules_impact(edited)
    assert [entry.number for entry in report.altered] == [item.number]
    assert report.field_counts == {"priority": 1, "dueDateTime": 1}

    saved = save_rules(path, current, edited)
    assert saved.changed == ("outbound.fields.priority",)
    assert await engine.apply_rules(saved.config, "alice") == ("outbound.fields.priority",)

    await engine.approve([incident["sys_id"]], by="alice")
    await engine.run_once()

    [ticket] = harness.tickets_for(incident["sys_id"])
    metadata = await engine.picklists()
    assert metadata is not None and metadata.label_for_id("priority", ticket["priority"]) == "Critical"
    audit = [event.summary for event in engine.store.list_audit(direction="system")]
    assert "rules changed by alice: outbound.fields.priority" in audit
    assert path.read_text(encoding="utf-8").startswith("# the engine host's rules\n")
    # Applying the same rules again changes nothing and records nothing.
    assert await engine.apply_rules(saved.config, "alice") == ()


async def test_engine_follows_its_own_rules_file_edited_outside_the_app(
    harness: Harness, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    text = "# deployed from git\n" + tomlkit.dumps(harness.config_data(outbound={"auto_push": True}))
    path.write_text(text, encoding="utf-8")
    engine = harness.engine(load_config(path))
    engine.rule_changes.watch(path)

    # An invalid edit keeps the rules in use and says why, once.
    path.write_text(
        text + '\n[outbound.fields.title]\nrule = "template"\ntemplate = "{nope}"\n', encoding="utf-8"
    )
    first = harness.incident(priority="2", impact="1", urgency="2")
    await engine.run_once()
    await engine.run_once()
    [ticket] = harness.tickets_for(first["sys_id"])
    assert ticket["priority"] == harness.at.picklist_id("priority", "High")
    refused = [e.summary for e in engine.store.list_audit(direction="system") if "is not valid" in e.summary]
    assert len(refused) == 1 and "unknown placeholder {nope}" in refused[0]

    # A valid edit is taken up before the next poll, without a restart.
    path.write_text(
        text + '\n[outbound.fields.priority]\nrule = "constant"\nvalue = "Critical"\n', encoding="utf-8"
    )
    second = harness.incident(priority="2", impact="1", urgency="2")
    await engine.run_once()
    [ticket] = harness.tickets_for(second["sys_id"])
    assert ticket["priority"] == harness.at.picklist_id("priority", "Critical")
    summaries = [event.summary for event in engine.store.list_audit(direction="system")]
    assert f"rules changed by the rules file {path}: outbound.fields.priority" in summaries
