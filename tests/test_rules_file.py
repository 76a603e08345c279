"""Saving edited rules: comments and layout survive, invalid rules never reach the file, the
previous file is kept, and a rule the shipped default would put back is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import AppConfig, ConstantRule, CopyRule, ValueMapRule, load_config, parse_config
from app.rules_file import RulesRefused, rules_onto, save_rules

USER_FILE = """\
# Our Triage Sync settings — reviewed by the service desk lead.
[servicenow]
url = "https://acme.service-now.com"   # production
username = "svc.triage"

[outbound]
company_id = 174
# Priorities agreed with the NOC on 2024-03-02:
[outbound.fields.priority]
rule = "value_map"
source = "priority"
default = "Medium"   # anything unmapped
map = { "1" = "Critical", "2" = "High", "3" = "Medium", "4" = "Low", "5" = "Low" }

# Keep the old status rule for now.
[return_trip.status]
"Waiting Customer" = { state = 3, hold_reason = "1" }   # Awaiting Caller
"""


def with_field(config: AppConfig, target: str, rule: object) -> AppConfig:
    fields = dict(config.outbound.fields)
    fields[target] = rule  # type: ignore[assignment]
    return config.model_copy(update={"outbound": config.outbound.model_copy(update={"fields": fields})})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "config.toml"
    file.write_text(USER_FILE, encoding="utf-8")
    return file


def test_comments_and_layout_survive_a_save(path: Path) -> None:
    current = load_config(path)
    priority = current.outbound.fields["priority"]
    assert isinstance(priority, ValueMapRule)
    remapped = priority.model_copy(update={"map": {**priority.map, "2": "Critical"}})
    edited = with_field(current, "priority", remapped)
    edited = with_field(edited, "ticketCategory", CopyRule(rule="copy", source="category"))

    saved = save_rules(path, current, edited)

    text = path.read_text(encoding="utf-8")
    # Only the changed value moved; every comment, spacing and untouched key is where it was.
    # The new rule goes after the last one, and the comment above [return_trip.status] stays there.
    expected = USER_FILE.replace('"2" = "High"', '"2" = "Critical"').replace(
        "\n# Keep the old status rule for now.",
        '\n[outbound.fields.ticketCategory]\nrule = "copy"\nsource = "category"\n'
        "\n# Keep the old status rule for now.",
    )
    assert text == expected
    assert saved.changed == ("outbound.fields.priority", "outbound.fields.ticketCategory")
    assert load_config(path).outbound.fields == edited.outbound.fields
    assert saved.backup is not None and saved.backup.read_text(encoding="utf-8") == USER_FILE


def test_a_trigger_and_return_trip_edit_keeps_the_rest(path: Path) -> None:
    current = load_config(path)
    trigger = current.trigger.model_copy(update={"conditions": current.trigger.conditions[:2]})
    status = {**current.return_trip.status}
    status["Escalate"] = status["In Progress"]
    edited = current.model_copy(
        update={"trigger": trigger, "return_trip": current.return_trip.model_copy(update={"status": status})}
    )
    saved = save_rules(path, current, edited)
    assert set(saved.changed) == {"trigger.conditions", "return_trip.status.Escalate"}
    again = load_config(path)
    assert again.trigger == trigger and again.return_trip.status["Escalate"].state == 2
    text = path.read_text(encoding="utf-8")
    assert '"Waiting Customer" = { state = 3, hold_reason = "1" }   # Awaiting Caller' in text
    assert 'url = "https://acme.service-now.com"   # production' in text


def test_invalid_rules_are_refused_and_the_file_is_untouched(path: Path) -> None:
    current = load_config(path)
    edited = with_field(
        current, "title", current.outbound.fields["title"].model_copy(update={"template": "{nope}"})
    )
    with pytest.raises(RulesRefused) as refused:
        save_rules(path, current, edited)
    assert refused.value.problems[0] == "the rules are not valid, nothing was saved:"
    assert "outbound.fields.title.template: unknown placeholder {nope}" in refused.value.problems[1]
    assert path.read_text(encoding="utf-8") == USER_FILE
    assert not path.with_name("config.toml.bak").exists()


def test_removing_a_rule_the_default_provides_is_refused(path: Path) -> None:
    current = load_config(path)
    fields = {k: v for k, v in current.outbound.fields.items() if k != "dueDateTime"}
    edited = current.model_copy(update={"outbound": current.outbound.model_copy(update={"fields": fields})})
    with pytest.raises(RulesRefused, match="outbound.fields.dueDateTime"):
        save_rules(path, current, edited)
    assert path.read_text(encoding="utf-8") == USER_FILE


def test_a_missing_file_is_created_with_only_the_change(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    current = parse_config({}, str(path))  # no file yet: the shipped defaults
    edited = with_field(current, "status", ConstantRule(rule="constant", value="In Progress"))
    saved = save_rules(path, current, edited)
    assert saved.backup is None
    assert (
        path.read_text(encoding="utf-8")
        == '[outbound.fields.status]\nrule = "constant"\nvalue = "In Progress"\n\n'
    )


def test_a_status_label_with_a_line_break_is_quoted(path: Path) -> None:
    """A status label from Autotask may end in a line break: it must be written as a quoted key."""
    current = load_config(path)
    status = {**current.return_trip.status, "Escalated\n": current.return_trip.status["In Progress"]}
    edited = current.model_copy(
        update={"return_trip": current.return_trip.model_copy(update={"status": status})}
    )
    save_rules(path, current, edited)
    assert '"Escalated\\n"' in path.read_text(encoding="utf-8")
    assert load_config(path).return_trip.status["Escalated\n"].state == 2


def test_a_hand_edit_made_while_the_window_was_open_is_kept(path: Path) -> None:
    baseline = load_config(path)  # what the Rules window opened with
    edited = with_field(baseline, "status", ConstantRule(rule="constant", value="In Progress"))
    # Meanwhile someone edits the file by hand: another company and another trigger.
    path.write_text(
        path.read_text(encoding="utf-8").replace("company_id = 174", "company_id = 175")
        + "\n[trigger]\nrequire_unlinked = false\n",
        encoding="utf-8",
    )
    on_file = load_config(path)
    saved = save_rules(path, on_file, rules_onto(on_file, baseline, edited))
    assert saved.changed == ("outbound.fields.status",)
    again = load_config(path)
    assert again.outbound.company_id == 175 and again.trigger.require_unlinked is False
    assert again.outbound.fields["status"] == ConstantRule(rule="constant", value="In Progress")
