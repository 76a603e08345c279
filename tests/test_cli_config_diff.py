"""``triage-sync config diff NEW.toml``: the impact report against the store, and its exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app import cli
from app.domain.records import Incident, PicklistValue, TicketMetadata
from app.engine.picklists import PICKLISTS_KEY
from app.store import Store

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
PRIORITIES = {"Critical": 4, "High": 1, "Medium": 2, "Low": 3}
STATUSES = {"New": 1, "In Progress": 8, "Waiting Customer": 7, "Complete": 5}


def picklist(labels: dict[str, int]) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(value=value, label=label) for label, value in labels.items())


def tenant() -> TicketMetadata:
    from app.domain.metadata import FieldInfo

    return TicketMetadata(
        fields={
            "priority": FieldInfo(
                name="priority", data_type="integer", is_picklist=True, picklist=picklist(PRIORITIES)
            ),
            "status": FieldInfo(
                name="status", data_type="integer", is_picklist=True, picklist=picklist(STATUSES)
            ),
            "queueID": FieldInfo(
                name="queueID",
                data_type="integer",
                is_picklist=True,
                picklist=picklist({"Level I Support": 9}),
            ),
        }
    )


def incident(number: int, **fields: object) -> Incident:
    values: dict[str, object] = {
        "sys_id": f"{number:032x}",
        "number": f"INC{number:07d}",
        "short_description": "Printer jammed",
        "category": "hardware",
        "priority": 3,
        "sys_updated_on": NOW,
    }
    values.update(fields)
    return Incident.model_validate(values)


BASE = """\
[outbound]
company_id = 174
default_queue = "Level I Support"

[store]
url = "{url}"
"""


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Store]]:
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("TRIAGE_SYNC_CONFIG", raising=False)
    url = f"sqlite:///{(tmp_path / 'sync.sqlite3').as_posix()}"
    (tmp_path / "config.toml").write_text(BASE.format(url=url), encoding="utf-8")
    store = Store.open(url)
    store.put_state(PICKLISTS_KEY, {"metadata": tenant().model_dump(mode="json")}, now=NOW)
    for number, priority in ((1, 2), (2, 3), (3, 2)):
        store.upsert_from_incident(incident(number, priority=priority), now=NOW)
    store.upsert_from_incident(incident(4), now=NOW)
    store.record_pushed(
        incident(4).sys_id,
        ticket_id=77,
        ticket_number="T20260504.0001",
        outbound_values={},
        return_synced={"status": "Waiting Customer", "priority": "Medium"},
        now=NOW,
    )
    yield tmp_path, store
    store.close()


def diff(tmp: Path, capsys: pytest.CaptureFixture[str], new_text: str, *extra: str) -> tuple[int, str, str]:
    new = tmp / "proposed.toml"
    new.write_text((tmp / "config.toml").read_text(encoding="utf-8") + new_text, encoding="utf-8")
    capsys.readouterr()
    code = cli.main(["--config", str(tmp / "config.toml"), "config", "diff", str(new), *extra])
    out, err = capsys.readouterr()
    return code, out, err


PRIORITY_RULE = """
[outbound.fields.priority]
rule = "value_map"
source = "priority"
default = "Medium"
map = { "1" = "Critical", "2" = "Critical", "3" = "Medium", "4" = "Low", "5" = "Low" }
"""


def test_a_changed_value_map_lists_the_queued_tickets_and_exits_1(
    world: tuple[Path, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, _store = world
    code, out, err = diff(tmp, capsys, PRIORITY_RULE)
    assert code == cli.EXIT_FAILED, err
    assert "rules changed: outbound.fields.priority" in out
    assert "this change alters 2 queued tickets (priority on 2, dueDateTime on 2)" in out
    assert "  INC0000001: priority 'High' -> 'Critical'" in out
    assert "no linked ticket comes back differently (1 link checked)" in out


def test_an_unknown_label_is_a_preflight_failure(
    world: tuple[Path, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, _store = world
    code, out, _err = diff(tmp, capsys, '\n[outbound.fields.priority]\nrule = "constant"\nvalue = "Urgent"\n')
    assert code == cli.EXIT_FAILED
    assert (
        "3 queued items would fail pre-flight: priority: 'Urgent' is not an active Autotask priority label"
        in out
    )


def test_the_return_trip_is_checked_against_linked_tickets(
    world: tuple[Path, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, _store = world
    code, out, _err = diff(
        tmp, capsys, "\n[return_trip.priority]\nMedium = { impact = 3, urgency = 3 }\n", "--json"
    )
    assert code == cli.EXIT_FAILED
    data = json.loads(out)
    assert data["changes"] is True
    [link] = data["report"]["returns_altered"]
    assert link["number"] == "INC0000004 (ticket T20260504.0001)"
    assert link["diffs"] == [{"field": "impact/urgency", "before": "2/2", "after": "3/3"}]


def test_same_rules_exit_0(world: tuple[Path, Store], capsys: pytest.CaptureFixture[str]) -> None:
    tmp, _store = world
    code, out, _err = diff(tmp, capsys, "\n# only a comment differs\n")
    assert code == cli.EXIT_OK
    assert "the rules are unchanged" in out


def test_an_invalid_new_file_exits_2_with_the_config_check_messages(
    world: tuple[Path, Store], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, _store = world
    code, out, err = diff(tmp, capsys, '\n[outbound.fields.title]\nrule = "template"\ntemplate = "{nope}"\n')
    assert code == cli.EXIT_CONFIG and out == ""
    assert "invalid, so it cannot replace the rules in use" in err
    assert "outbound.fields.title.template: unknown placeholder {nope}" in err
    code, _out, err = diff(tmp, capsys, "", "--json")
    assert code == cli.EXIT_OK
    missing = cli.main(["--config", str(tmp / "config.toml"), "config", "diff", str(tmp / "nope.toml")])
    assert missing == cli.EXIT_CONFIG and "file not found" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["config", "diff", "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text and "exit codes:" in text
