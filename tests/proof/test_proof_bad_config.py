"""Bad configuration files: each mistake gives one clear message naming the file and the key; any
input at all gives either a valid configuration or ConfigError (property-based), never a crash."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.config import ConfigError, load_config, parse_config
from app.domain.outbound import preview
from app.domain.records import Incident
from app.domain.triggers import evaluate, to_encoded_query


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("[autotask]\npoll_seconds = 'often'\n", "autotask.poll_seconds", "integer"),
        ("[servicenow]\npage_size = 1.5\n", "servicenow.page_size", "integer"),
        ("[outbound]\nauto_push = 'yes please'\n", "outbound.auto_push", "boolean"),
        ("[outbound]\ncompany_id = -1\n", "outbound.company_id", ">= 0"),
        ("[servicenow]\nurl = 'http://example.service-now.com'\n", "servicenow.url", "https"),
        ("[servicenow]\nurl = 'ftp://x'\n", "servicenow.url", "http(s) URL"),
        ("[servicenow]\npasword = 'x'\n", "servicenow.pasword", "unknown key"),
        ("[servicenw]\nurl = 'https://x.service-now.com'\n", "servicenw", "unknown key"),
        ("[[trigger.conditions]]\nop = 'equals'\nvalue = 'x'\n", "trigger.conditions.0.field", "missing"),
        ("[[trigger.conditions]]\nfield = 'category'\nop = 'like'\nvalue = 'x'\n", "op", "equals"),
        ("[[trigger.conditions]]\nfield = 'category^OR'\nop = 'equals'\nvalue = 'x'\n", "field", "column"),
        ("[outbound.fields.title]\nrule = 'magic'\n", "outbound.fields.title", "'rule' must be one of"),
        (
            "[outbound.fields.title]\nrule = 'template'\ntemplate = '{shrt_description}'\n",
            "template",
            "{shrt",
        ),
        ("[return_trip.status]\n'Complete' = { state = 5 }\n", "return_trip.status", "state"),
        ("servicenow = 3\n", "servicenow", "valid"),
    ],
)
def test_each_mistake_gives_one_clear_message(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    problems = err.value.problems
    assert len(problems) == 1, problems
    assert key in problems[0] and words.lower() in problems[0].lower(), problems[0]
    assert str(err.value).startswith(f"{path}: ")
    assert "Traceback" not in str(err.value) and "pydantic" not in str(err.value).lower()


@pytest.mark.parametrize(
    "text",
    [
        "[servicenow\nurl = 'x'\n",
        "a = = 1\n",
        '[servicenow]\nurl = "unterminated\n',
        "\x00\x01",
        "[a]\n[a]\n",
    ],
)
def test_broken_toml_names_the_file_and_the_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    [problem] = err.value.problems
    assert problem.startswith("not valid TOML") and "line" in problem
    assert str(err.value).startswith(str(path))


def test_missing_sections_take_the_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "# nothing but a comment\n"))
    assert config.outbound.fields and config.trigger.conditions and config.return_trip.status


def test_missing_file_given_explicitly_is_one_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.toml")
    assert len(err.value.problems) == 1 and "not found" in err.value.problems[0]


SECTIONS = ["servicenow", "autotask", "store", "trigger", "outbound", "return_trip", "bogus"]
KEYS = [
    "url",
    "username",
    "poll_seconds",
    "page_size",
    "auto_push",
    "company_id",
    "conditions",
    "fields",
    "status",
    "priority",
    "enabled",
    "default_queue",
    "budget_share",
    "max_concurrency",
    "zz",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True), st.text(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(SECTIONS), st.dictionaries(st.sampled_from(KEYS), values, max_size=4), max_size=4
    )
)
def test_any_config_data_is_valid_or_one_config_error(data: dict[str, Any]) -> None:
    try:
        parse_config(data, "fuzz.toml")
    except ConfigError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
        assert all(line.startswith("fuzz.toml: ") for line in str(exc).splitlines() if line)


def test_non_utf8_file_is_one_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes("[outbound]\ndefault_queue = 'Niveau 1 Équipe'\n".encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert len(err.value.problems) == 1


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=200).map(lambda text: text.encode("utf-8"))
    | st.binary(max_size=200).filter(lambda raw: _is_utf8(raw))
)
def test_any_file_bytes_are_valid_or_one_config_error(raw: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.toml"
        path.write_bytes(raw)
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.problems


field_names = st.sampled_from(["category", "active", "short_description", "priority", "state", "number"])
hostile_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ["^OR", "x^NQy", "ORDERBYx", "a^ORb=c", "\u202e", "🔥", "\x00", "<b>", ""]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            field_names,
            st.sampled_from(["equals", "not_equals", "in", "not_in", "is_empty", "not_empty"]),
            st.lists(hostile_text, min_size=1, max_size=3),
        ),
        max_size=4,
    ),
    st.dictionaries(field_names, hostile_text, max_size=6),
)
def test_trigger_and_mapping_never_raise_and_never_inject(
    conditions: list[tuple[str, str, list[str]]], record: dict[str, str]
) -> None:
    rules = []
    for field, op, operands in conditions:
        rule: dict[str, Any] = {"field": field, "op": op}
        if op in ("equals", "not_equals"):
            rule["value"] = operands[0]
        elif op in ("in", "not_in"):
            rule["values"] = operands
        rules.append(rule)
    try:
        config = parse_config({"trigger": {"conditions": rules}, "outbound": {"company_id": 174}}, "p.toml")
    except ConfigError:
        return
    compiled = to_encoded_query(config.trigger)
    # No value adds a term: one AND term per condition not skipped, each OR term only the
    # "or empty" companion of a negation, no control characters anywhere.
    pieces = compiled.query.split("^") if compiled.query else []
    and_terms = [p for p in pieces if not p.startswith("OR")]
    assert len(and_terms) == len(conditions) - len(compiled.skipped)
    fields = {c.field for c in config.trigger.conditions}
    for piece in pieces:
        if piece.startswith("OR"):
            assert piece.removeprefix("OR").removesuffix("ISEMPTY") in fields, piece
        assert not any(ord(ch) < 32 for ch in piece), piece
    wire = {
        "sys_id": "a" * 32,
        "number": "INC0010001",
        "state": "1",
        "active": "true",
        "sys_updated_on": "2024-05-01 10:00:00",
        **{k: v for k, v in record.items() if k not in ("state", "number")},
    }
    try:
        incident = Incident.from_wire(wire)
    except Exception:  # noqa: BLE001 - a record the connector would refuse as UnexpectedResponse
        return
    evaluate(config.trigger, incident, linked=False)
    result = preview(incident, config.outbound, None, now=incident.sys_updated_on)
    assert isinstance(result.payload, dict)


def test_default_file_is_valid_toml() -> None:
    from app.resources import resource_path

    tomllib.loads(resource_path("default-config.toml").read_text(encoding="utf-8"))
