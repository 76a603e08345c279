"""Business triggers: the agreed rule that decides *when* an incident goes to Autotask.

The rule is data (``[trigger]`` in the config), shown to the user (:func:`describe`) and evaluated on
the full, freshly read record (:func:`evaluate`). :func:`to_encoded_query` turns the same rule into a
ServiceNow ``sysparm_query`` so polls fetch fewer records, but that server-side filter is **only a
narrowing hint**: ServiceNow silently drops query terms it does not understand, its operators differ in
edge cases (``!=`` skips empty values), and unsafe values are left out of the query entirely. The
authoritative answer is always :func:`evaluate` on the record we read, re-applied to every record the
query returns. Hence every compromise in the query makes it *broader*, never narrower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.config import TriggerCondition, TriggerConfig
from app.domain.records import INCIDENT_FIELDS, TEMPLATE_FIELDS, Incident
from app.domain.text import has_control, show

LINKED_REASON = "already linked to an Autotask ticket"
_COLUMN = re.compile(r"^[A-Za-z0-9_]+$")
_PASS = " ✓"


@dataclass(frozen=True)
class ConditionResult:
    """One condition checked against one incident, with a sentence the user can read."""

    condition: TriggerCondition
    passed: bool
    actual: str
    explanation: str


@dataclass(frozen=True)
class TriggerVerdict:
    """Whether an incident qualifies, and why (every condition's result, plus the link check)."""

    matched: bool
    results: tuple[ConditionResult, ...]
    blocked_by_link: bool

    def reasons(self) -> list[str]:
        """Why it did not match (empty when it matched)."""
        reasons = [result.explanation for result in self.results if not result.passed]
        if self.blocked_by_link:
            reasons.append(LINKED_REASON)
        return reasons


@dataclass(frozen=True)
class CompiledQuery:
    """A ServiceNow encoded query, plus the conditions left out of it (checked locally only)."""

    query: str
    skipped: tuple[str, ...]


def _values_text(values: list[str] | None) -> str:
    return ", ".join(show(value)[1:-1] for value in values or [])


def _actual_text(actual: str) -> str:
    return show(actual) if actual else "empty"


def check_condition(condition: TriggerCondition, incident: Incident) -> ConditionResult:
    """Check one condition. Values compare as ServiceNow sends them (strings), exactly (case-sensitive)."""
    field = condition.field
    if field not in TEMPLATE_FIELDS:
        return ConditionResult(
            condition, False, "", f"{field} is not an incident field Triage Sync reads, so it cannot match"
        )
    actual = incident.field_text(field)
    shown = _actual_text(actual)
    if field == "state" and actual:
        shown += f" ({incident.state_label})"  # '"6" (Resolved)': the reason a person can read
    op = condition.op
    if op == "equals":
        expected = condition.value or ""
        passed = actual == expected
        text = f"{field} is {shown}" if passed else f"{field} is {shown}, not {_actual_text(expected)}"
    elif op == "not_equals":
        excluded = condition.value or ""
        passed = actual != excluded
        text = (
            f"{field} is {shown}, not {_actual_text(excluded)}"
            if passed
            else f"{field} is {shown}, which the rule excludes"
        )
    elif op == "in":
        options = condition.values or []
        passed = actual in options
        text = (
            f"{field} is {shown}, one of {_values_text(options)}"
            if passed
            else f"{field} is {shown}, not one of {_values_text(options)}"
        )
    elif op == "not_in":
        options = condition.values or []
        passed = actual not in options
        text = (
            f"{field} is {shown}, not one of {_values_text(options)}"
            if passed
            else f"{field} is {shown}, which the rule excludes ({_values_text(options)})"
        )
    elif op == "is_empty":
        passed = actual == ""
        text = f"{field} is empty" if passed else f"{field} is {shown}, not empty"
    else:  # not_empty
        passed = actual != ""
        text = f"{field} is {shown}" if passed else f"{field} is empty"
    return ConditionResult(condition, passed, actual, text + (_PASS if passed else ""))


def evaluate(trigger: TriggerConfig, incident: Incident, *, linked: bool = False) -> TriggerVerdict:
    """The authoritative verdict for a freshly read incident (every condition is evaluated, so the UI
    can show all reasons at once, not just the first failure)."""
    results = tuple(check_condition(condition, incident) for condition in trigger.conditions)
    blocked = trigger.require_unlinked and linked
    matched = all(result.passed for result in results) and not blocked
    return TriggerVerdict(matched=matched, results=results, blocked_by_link=blocked)


def matches(trigger: TriggerConfig, incident: Incident, *, linked: bool = False) -> bool:
    return evaluate(trigger, incident, linked=linked).matched


def _unsafe(value: str, *, list_item: bool) -> str | None:
    """Why a value cannot be placed in an encoded query, or None when it can.

    Encoded queries have no escape character: '^' starts a new term (``^OR``, ``^NQ`` would change the
    query's meaning) and ',' separates IN list items."""
    if "^" in value:
        return "contains '^', which ServiceNow would read as the start of a new query term"
    if list_item and "," in value:
        return "contains ',', which ServiceNow would read as a list separator"
    if has_control(value):
        return "contains a line break or control character"
    if value != value.strip():
        return "has leading or trailing spaces, which ServiceNow may trim"
    if list_item and value == "":
        return "is empty, which an IN list cannot express"
    if value.strip().lower().startswith("javascript:"):
        return "starts with 'javascript:', which ServiceNow would run as a script"
    if value.upper() == "NULL":
        return "is 'NULL', which ServiceNow reads as 'empty'"
    return None


def _compile(condition: TriggerCondition) -> str:
    field, op = condition.field, condition.op
    if op == "equals":
        value = condition.value or ""
        return f"{field}ISEMPTY" if value == "" else f"{field}={value}"
    if op == "not_equals":
        value = condition.value or ""
        # ServiceNow's != (and NOT IN) leave out empty values; locally "" != "x" passes, so add them back.
        return f"{field}ISNOTEMPTY" if value == "" else f"{field}!={value}^OR{field}ISEMPTY"
    if op == "in":
        return f"{field}IN{','.join(condition.values or [])}"
    if op == "not_in":
        return f"{field}NOT IN{','.join(condition.values or [])}^OR{field}ISEMPTY"
    if op == "is_empty":
        return f"{field}ISEMPTY"
    return f"{field}ISNOTEMPTY"


def to_encoded_query(trigger: TriggerConfig) -> CompiledQuery:
    """Compile the trigger to a ServiceNow encoded query (terms joined by '^', no ORDERBY).

    A condition whose field or value cannot be expressed safely is left out and named in ``skipped``:
    the server returns more records, and :func:`evaluate` still rejects the extra ones locally. An
    empty ``query`` means "no server-side narrowing"."""
    terms: list[str] = []
    skipped: list[str] = []
    for condition in trigger.conditions:
        field = condition.field
        if not _COLUMN.match(field) or field not in INCIDENT_FIELDS:
            skipped.append(f"{show(field)} is not an incident column; that condition is checked locally only")
            continue
        if condition.op in ("equals", "not_equals"):
            operands = [condition.value or ""]
        elif condition.op in ("in", "not_in"):
            operands = list(condition.values or [])
        else:
            operands = []
        problem = next(
            (
                f"{field}: value {show(value)} {reason}; that condition is checked locally only"
                for value in operands
                if (reason := _unsafe(value, list_item=condition.op in ("in", "not_in"))) is not None
            ),
            None,
        )
        if problem is not None:
            skipped.append(problem)
            continue
        terms.append(_compile(condition))
    return CompiledQuery(query="^".join(terms), skipped=tuple(skipped))


def describe(trigger: TriggerConfig) -> list[str]:
    """The rule as sentences for the UI, one per condition plus the link requirement."""
    sentences: list[str] = []
    for condition in trigger.conditions:
        field, op = condition.field, condition.op
        if op == "equals":
            sentences.append(f"{field} is {_actual_text(condition.value or '')}")
        elif op == "not_equals":
            sentences.append(f"{field} is not {_actual_text(condition.value or '')}")
        elif op == "in":
            sentences.append(f"{field} is one of {_values_text(condition.values)}")
        elif op == "not_in":
            sentences.append(f"{field} is none of {_values_text(condition.values)}")
        elif op == "is_empty":
            sentences.append(f"{field} is empty")
        else:
            sentences.append(f"{field} is not empty")
    if not trigger.conditions:
        sentences.append("every incident qualifies (no conditions)")
    if trigger.require_unlinked:
        sentences.append("the incident is not linked to an Autotask ticket yet")
    return sentences
