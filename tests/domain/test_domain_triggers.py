"""Trigger rules: local evaluation (authoritative), encoded-query compilation (a safe narrowing hint)."""

from __future__ import annotations

import re

import pytest
from domain_helpers import IncidentFactory, build_incident
from hypothesis import given, settings
from hypothesis import strategies as st

from app.config import AppConfig, TriggerCondition, TriggerConfig
from app.domain.records import INCIDENT_FIELDS
from app.domain.triggers import LINKED_REASON, describe, evaluate, matches, to_encoded_query


def rule(*conditions: TriggerCondition, require_unlinked: bool = True) -> TriggerConfig:
    return TriggerConfig(conditions=list(conditions), require_unlinked=require_unlinked)


def cond(field: str, op: str, value: str | None = None, values: list[str] | None = None) -> TriggerCondition:
    return TriggerCondition.model_validate({"field": field, "op": op, "value": value, "values": values})


def test_default_trigger_matches_an_active_it_incident(
    config: AppConfig, make_incident: IncidentFactory
) -> None:
    verdict = evaluate(config.trigger, make_incident(category="network"))
    assert verdict.matched and not verdict.blocked_by_link
    assert [result.explanation for result in verdict.results] == [
        "active is 'true' ✓",
        "state is '1' (New), not one of 6, 7, 8 ✓",
        "category is 'network', one of hardware, software, network, database ✓",
    ]
    assert [result.actual for result in verdict.results] == ["true", "1", "network"]
    assert verdict.reasons() == []


def test_default_trigger_explains_every_failure(config: AppConfig, make_incident: IncidentFactory) -> None:
    verdict = evaluate(config.trigger, make_incident(category="inquiry", active=False), linked=True)
    assert not verdict.matched
    assert verdict.reasons() == [
        "active is 'false', not 'true'",
        "category is 'inquiry', not one of hardware, software, network, database",
        LINKED_REASON,
    ]
    assert LINKED_REASON == "already linked to an Autotask ticket"


def test_linked_incident_is_blocked_only_when_the_rule_says_so(
    config: AppConfig, make_incident: IncidentFactory
) -> None:
    incident = make_incident()
    blocked = evaluate(config.trigger, incident, linked=True)
    assert blocked.blocked_by_link and not blocked.matched
    assert blocked.reasons() == [LINKED_REASON]
    relaxed = config.trigger.model_copy(update={"require_unlinked": False})
    assert matches(relaxed, incident, linked=True)


def test_comparison_is_exact_and_case_sensitive(config: AppConfig, make_incident: IncidentFactory) -> None:
    assert not matches(config.trigger, make_incident(category="Software"))
    assert not matches(config.trigger, make_incident(category="software "))
    verdict = evaluate(config.trigger, make_incident(category=""))
    assert verdict.reasons() == ["category is empty, not one of hardware, software, network, database"]


@pytest.mark.parametrize(
    ("condition", "incident_fields", "passed", "explanation"),
    [
        (cond("category", "equals", "network"), {"category": "network"}, True, "category is 'network' ✓"),
        (
            cond("category", "equals", "network"),
            {"category": "hardware"},
            False,
            "category is 'hardware', not 'network'",
        ),
        (cond("state", "not_equals", "8"), {"state": 2}, True, "state is '2' (In Progress), not '8' ✓"),
        (
            cond("state", "not_equals", "8"),
            {"state": 8},
            False,
            "state is '8' (Canceled), which the rule excludes",
        ),
        (cond("impact", "in", values=["1", "2"]), {"impact": 1}, True, "impact is '1', one of 1, 2 ✓"),
        (cond("impact", "in", values=["1", "2"]), {"impact": 3}, False, "impact is '3', not one of 1, 2"),
        (
            cond("category", "not_in", values=["inquiry", "hr"]),
            {"category": "database"},
            True,
            "category is 'database', not one of inquiry, hr ✓",
        ),
        (
            cond("category", "not_in", values=["inquiry", "hr"]),
            {"category": "hr"},
            False,
            "category is 'hr', which the rule excludes (inquiry, hr)",
        ),
        (cond("correlation_id", "is_empty"), {"correlation_id": ""}, True, "correlation_id is empty ✓"),
        (
            cond("correlation_id", "is_empty"),
            {"correlation_id": "4711"},
            False,
            "correlation_id is '4711', not empty",
        ),
        (
            cond("assignment_group", "not_empty"),
            {"assignment_group": "abc"},
            True,
            "assignment_group is 'abc' ✓",
        ),
        (cond("assignment_group", "not_empty"), {"assignment_group": ""}, False, "assignment_group is empty"),
        (cond("active", "equals", "true"), {"active": True}, True, "active is 'true' ✓"),
    ],
)
def test_every_operator(
    make_incident: IncidentFactory,
    condition: TriggerCondition,
    incident_fields: dict[str, object],
    passed: bool,
    explanation: str,
) -> None:
    verdict = evaluate(rule(condition), make_incident(**incident_fields))
    (result,) = verdict.results
    assert (result.passed, result.explanation) == (passed, explanation)
    assert verdict.matched is passed


def test_unknown_field_never_matches(make_incident: IncidentFactory) -> None:
    verdict = evaluate(rule(cond("u_department", "is_empty")), make_incident())
    assert not verdict.matched
    assert verdict.reasons() == [
        "u_department is not an incident field Triage Sync reads, so it cannot match"
    ]


def test_long_and_multiline_actual_values_are_shown_on_one_line(make_incident: IncidentFactory) -> None:
    verdict = evaluate(
        rule(cond("short_description", "equals", "x")), make_incident(short_description="a\nb" * 50)
    )
    (reason,) = verdict.reasons()
    assert "\n" not in reason and "\\n" in reason and "…" in reason


def test_default_trigger_compiles_to_the_expected_query(config: AppConfig) -> None:
    compiled = to_encoded_query(config.trigger)
    assert compiled.query == (
        "active=true^stateNOT IN6,7,8^ORstateISEMPTY^categoryINhardware,software,network,database"
    )
    assert compiled.skipped == ()


@pytest.mark.parametrize(
    ("condition", "query"),
    [
        (cond("category", "equals", "network"), "category=network"),
        (cond("category", "equals", ""), "categoryISEMPTY"),
        (cond("state", "not_equals", "8"), "state!=8^ORstateISEMPTY"),
        (cond("state", "not_equals", ""), "stateISNOTEMPTY"),
        (cond("impact", "in", values=["1", "2"]), "impactIN1,2"),
        (cond("category", "not_in", values=["inquiry", "hr"]), "categoryNOT INinquiry,hr^ORcategoryISEMPTY"),
        (cond("correlation_id", "is_empty"), "correlation_idISEMPTY"),
        (cond("assignment_group", "not_empty"), "assignment_groupISNOTEMPTY"),
        (
            cond("short_description", "equals", "Printer on 3rd floor = broken!"),
            "short_description=Printer on 3rd floor = broken!",
        ),
    ],
)
def test_each_operator_compiles(condition: TriggerCondition, query: str) -> None:
    compiled = to_encoded_query(rule(condition))
    assert (compiled.query, compiled.skipped) == (query, ())


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        (cond("category", "equals", "software^ORactive=false"), "contains '^'"),
        (cond("category", "equals", "x^NQactive=false"), "contains '^'"),
        (cond("category", "not_equals", "^"), "contains '^'"),
        (cond("category", "in", values=["software", "hr^ORsys_idISNOTEMPTY"]), "contains '^'"),
        (cond("category", "in", values=["software", "a,b"]), "contains ','"),
        (cond("category", "not_in", values=["x,y"]), "contains ','"),
        (cond("category", "in", values=["software", ""]), "is empty"),
        (cond("category", "equals", "soft\nware"), "line break or control character"),
        (cond("category", "equals", "soft\x00ware"), "line break or control character"),
        (cond("category", "equals", " software"), "leading or trailing spaces"),
        (cond("category", "equals", "javascript:gs.getUser()"), "run as a script"),
        (cond("category", "equals", "NULL"), "'NULL'"),
        (cond("u_department", "equals", "it"), "not an incident column"),
    ],
)
def test_unsafe_conditions_are_skipped_and_reported(condition: TriggerCondition, fragment: str) -> None:
    compiled = to_encoded_query(rule(cond("active", "equals", "true"), condition))
    assert compiled.query == "active=true"
    (skipped,) = compiled.skipped
    assert fragment in skipped and "checked locally only" in skipped
    assert "\n" not in skipped and "\x00" not in skipped


def test_skipped_conditions_still_apply_locally(make_incident: IncidentFactory) -> None:
    hostile = rule(cond("short_description", "equals", "a^ORb"))
    assert to_encoded_query(hostile).query == ""
    assert matches(hostile, make_incident(short_description="a^ORb"))
    assert not matches(hostile, make_incident(short_description="a"))


def test_describe_the_default_rule(config: AppConfig) -> None:
    assert describe(config.trigger) == [
        "active is 'true'",
        "state is none of 6, 7, 8",
        "category is one of hardware, software, network, database",
        "the incident is not linked to an Autotask ticket yet",
    ]


def test_describe_every_operator() -> None:
    trigger = rule(
        cond("state", "not_equals", "8"),
        cond("category", "not_in", values=["hr"]),
        cond("correlation_id", "is_empty"),
        cond("assignment_group", "not_empty"),
        require_unlinked=False,
    )
    assert describe(trigger) == [
        "state is not '8'",
        "category is none of hr",
        "correlation_id is empty",
        "assignment_group is not empty",
    ]
    assert describe(rule(require_unlinked=False)) == ["every incident qualifies (no conditions)"]


_OPS = st.sampled_from(["equals", "not_equals", "in", "not_in", "is_empty", "not_empty"])
_VALUES = st.text(alphabet=st.sampled_from("ab^,\n\x00 =@ORNQIN"), max_size=12) | st.text(max_size=12)


@st.composite
def conditions(draw: st.DrawFn) -> TriggerCondition:
    op = draw(_OPS)
    field = draw(st.sampled_from(["category", "short_description", "state"]))
    if op in ("equals", "not_equals"):
        return cond(field, op, value=draw(_VALUES))
    if op in ("in", "not_in"):
        return cond(field, op, values=draw(st.lists(_VALUES, min_size=1, max_size=4)))
    return cond(field, op)


@settings(max_examples=300, deadline=None)
@given(st.lists(conditions(), max_size=5))
def test_compiled_query_never_carries_a_caret_or_control_char_from_a_value(
    conds: list[TriggerCondition],
) -> None:
    compiled = to_encoded_query(rule(*conds))
    assert not re.search("[\x00-\x1f\x7f]", compiled.query)
    # Every '^' in the output is one we put there: between terms, or our own ^OR<field>ISEMPTY.
    terms = compiled.query.split("^") if compiled.query else []
    kept = len(conds) - len(compiled.skipped)
    ors = sum(1 for term in terms if term.startswith("OR"))
    assert len(terms) - ors == kept
    for term in terms:
        assert re.match(rf"^(OR)?({'|'.join(INCIDENT_FIELDS)})(=|!=|IN|NOT IN|ISEMPTY|ISNOTEMPTY)", term), (
            term
        )
        if term.startswith("OR"):
            assert term.endswith("ISEMPTY")
    with_caret = [c for c in conds if any("^" in v for v in [c.value or "", *(c.values or [])])]
    assert len(with_caret) <= len(compiled.skipped)
    for condition in with_caret:
        alone = to_encoded_query(rule(condition))
        assert alone.query == "" and len(alone.skipped) == 1


@settings(max_examples=200, deadline=None)
@given(conditions(), st.text(max_size=12))
def test_evaluate_never_raises(condition: TriggerCondition, category: str) -> None:
    verdict = evaluate(rule(condition), build_incident(category=category, short_description=category))
    assert verdict.matched == all(result.passed for result in verdict.results)
