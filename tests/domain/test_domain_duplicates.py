"""Suspected duplicates (app.domain.duplicates): what must group, and the near-misses that must not."""

from __future__ import annotations

from datetime import timedelta

from domain_helpers import NOW, build_incident
from hypothesis import given
from hypothesis import strategies as st

from app.domain.duplicates import (
    Candidate,
    DuplicateRules,
    comparable,
    find_groups,
    similarity,
    suspicions,
    words,
)

RULES = DuplicateRules(window=timedelta(hours=4), min_similarity=0.5)
BETH, DAVID, FRED = "a" * 32, "b" * 32, "c" * 32
EXCHANGE, VPN = "e" * 32, "f" * 32


def candidate(
    number: str,
    text: str,
    *,
    caller: str = "",
    ci: str = "",
    minutes: float = 0,
) -> Candidate:
    index = int(number[-3:])
    incident = build_incident(
        sys_id=f"{index:032x}",
        number=number,
        short_description=text,
        caller_id=caller,
        caller_name={BETH: "Beth Anglin", DAVID: "David Loo", FRED: "Fred Luddy"}.get(caller, ""),
        cmdb_ci=ci,
        cmdb_ci_name={EXCHANGE: "EXCH-PRD-01", VPN: "VPN-GW-02"}.get(ci, ""),
        opened_at=NOW + timedelta(minutes=minutes),
    )
    return Candidate.from_incident(incident)


def test_words_are_normalised_so_rephrasings_match() -> None:
    assert words("Outlook cannot connect to the mail server") == {"outlook", "connect", "mail", "server"}
    assert words("OUTLOOK not connecting to mail servers!") == {"outlook", "connect", "mail", "server"}
    assert similarity("Outlook cannot connect to the mail server", "Outlook not connecting to mail") == 0.75


def test_same_ci_different_callers_group_under_the_oldest() -> None:
    first = candidate("INC0010042", "Outlook cannot connect to the mail server", caller=BETH, ci=EXCHANGE)
    second = candidate(
        "INC0010043", "Outlook not connecting to mail server", caller=DAVID, ci=EXCHANGE, minutes=12
    )
    third = candidate(
        "INC0010044", "outlook cannot connect to mail server since 9", caller=FRED, ci=EXCHANGE, minutes=40
    )
    [group] = find_groups([third, first, second], RULES)  # order of arrival does not matter
    assert group.primary.number == "INC0010042"
    assert [s.number for s in group.suspects] == ["INC0010043", "INC0010044"]
    assert {s.primary_number for s in group.suspects} == {"INC0010042"}
    reason = group.suspects[0].reason()
    assert reason.startswith("possible duplicate of INC0010042: same CI EXCH-PRD-01, ")
    assert "opened 12 min apart" in reason


def test_same_caller_repeating_the_problem_groups() -> None:
    first = candidate("INC0010050", "VPN disconnects every 10 minutes", caller=BETH)
    again = candidate("INC0010051", "VPN keeps disconnecting every 10 minutes", caller=BETH, minutes=95)
    found = suspicions([first, again], RULES)
    assert list(found) == [again.sys_id]
    assert found[again.sys_id].shared == "same caller Beth Anglin"


def test_near_miss_same_caller_different_problem() -> None:
    laptop = candidate("INC0010060", "Laptop LT-20431 will not power on", caller=BETH)
    printer = candidate("INC0010061", "Printer on floor 3 jams on every job", caller=BETH, minutes=5)
    assert find_groups([laptop, printer], RULES) == []


def test_near_miss_similar_text_far_apart_in_time() -> None:
    morning = candidate("INC0010070", "Outlook cannot connect to the mail server", caller=BETH, ci=EXCHANGE)
    next_day = candidate(
        "INC0010071",
        "Outlook cannot connect to the mail server",
        caller=BETH,
        ci=EXCHANGE,
        minutes=4 * 60 + 1,
    )
    assert find_groups([morning, next_day], RULES) == []
    wider = DuplicateRules(window=timedelta(hours=5), min_similarity=0.5)
    assert len(find_groups([morning, next_day], wider)) == 1  # the window is what kept them apart


def test_near_miss_similar_text_different_caller_and_ci() -> None:
    leeds = candidate("INC0010080", "Printer jams on every job", caller=BETH, ci=EXCHANGE)
    lyon = candidate("INC0010081", "Printer jams on every job", caller=DAVID, ci=VPN, minutes=3)
    nobody = candidate("INC0010082", "Printer jams on every job", minutes=6)  # no caller, no CI
    assert find_groups([leeds, lyon, nobody], RULES) == []


def test_near_miss_same_words_but_different_numbers() -> None:
    """Two docking stations, two floors: the numbers tell them apart; a shared one does not."""
    first = candidate("INC0010095", "Docking station 1 dead", caller=BETH)
    second = candidate("INC0010096", "Docking station 2 dead", caller=BETH, minutes=1)
    assert similarity(first.short_description, second.short_description) == 1.0
    assert find_groups([first, second], RULES) == []
    again = candidate("INC0010097", "Docking station 1 dead again, floor 3", caller=BETH, minutes=2)
    assert [s.number for s in suspicions([first, again], RULES).values()] == ["INC0010097"]


def test_near_miss_below_the_similarity_threshold() -> None:
    first = candidate("INC0010090", "Teams calls drop after a minute", caller=BETH)
    other = candidate("INC0010091", "Teams chat history missing after update", caller=BETH, minutes=30)
    assert similarity(first.short_description, other.short_description) < 0.5
    assert find_groups([first, other], RULES) == []


def test_a_chain_keeps_one_primary() -> None:
    """C matches B (same CI) but not A (other caller, other CI): it still joins A's group, through B."""
    a = candidate("INC0010100", "Shared drive S: not mapping at login", caller=BETH)
    b = candidate("INC0010101", "Shared drive S: not mapping at login", caller=BETH, ci=VPN, minutes=10)
    c = candidate("INC0010102", "Shared drive S not mapping", caller=DAVID, ci=VPN, minutes=20)
    [group] = find_groups([a, b, c], RULES)
    assert group.primary.number == "INC0010100"
    by_number = {s.number: s for s in group.suspects}
    assert by_number["INC0010102"].matched_number == "INC0010101"
    assert "(through INC0010101)" in by_number["INC0010102"].reason()


def test_disabled_rules_find_nothing() -> None:
    first = candidate("INC0010110", "Outlook cannot connect", caller=BETH)
    second = candidate("INC0010111", "Outlook cannot connect", caller=BETH, minutes=1)
    assert find_groups([first, second], DuplicateRules(window=timedelta(0))) == []


TEXTS = (
    "Outlook cannot connect",
    "Outlook not connecting",
    "VPN drops",
    "VPN drops on floor 3",
    "Printer jams",
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(TEXTS),
            st.sampled_from(("", BETH, DAVID, FRED)),
            st.sampled_from(("", EXCHANGE, VPN)),
            st.integers(min_value=0, max_value=600),
        ),
        max_size=14,
    )
)
def test_only_candidates_sharing_a_caller_or_ci_are_made_and_the_verdict_is_the_same(
    rows: list[tuple[str, str, str, int]],
) -> None:
    """The check makes candidate objects only for incidents that share a caller or CI with another
    (with 100,000 waiting, one per item set off long garbage collections): leaving the others
    out changes no verdict."""
    everyone = [
        candidate(f"INC0010{n:03d}", text, caller=caller, ci=ci, minutes=minutes)
        for n, (text, caller, ci, minutes) in enumerate(rows)
    ]
    kept = comparable([c.fields() for c in everyone])
    assert suspicions(kept, RULES) == suspicions(everyone, RULES)
    for c in everyone:
        shares = any(
            o is not c and ((c.caller_id and o.caller_id == c.caller_id) or (c.ci and o.ci == c.ci))
            for o in everyone
        )
        assert (c in kept) == shares
    assert all(Candidate(*c.fields()) == c for c in everyone)
