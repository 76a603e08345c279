"""Suspected duplicates: incidents that look like one problem reported more than once.

A triage desk's first week: an outage brings five calls about "Outlook cannot connect", and
auto-push made five tickets. The rule here is deliberately simple, so a person can check it by eye:

- **similar short description**: the share of meaningful words two descriptions have in common
  (Jaccard: shared words / all words of both), after lower-casing, dropping filler words ("the",
  "not", "cannot") and plain endings ("connecting" -> "connect"), is at least ``min_similarity``;
- **but not when both name numbers and share none of them** ("Docking station 1 dead" and
  "Docking station 2 dead" are two docking stations: asset tags, floors and hosts tell things apart);
- **and the same caller or the same configuration item (cmdb_ci)**;
- **and opened within ``window``** of each other.

Incidents that match are grouped; the oldest of a group is its primary, the later ones are its
suspects, each with the sentence that says why. Pure code: no IO, no clock.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from app.domain.records import Incident

DEFAULT_WINDOW = timedelta(hours=4)
DEFAULT_MIN_SIMILARITY = 0.5
# Each incident is compared with at most this many earlier ones per caller and per CI (the latest):
# bounds the work when one CI has hundreds of incidents in the window.
MAX_COMPARED = 200

# Words that say nothing about *which* problem it is.
STOPWORDS: frozenset[str] = frozenset(
    """a an the to of on in at for from by with and or but is are was were be been being it its this
    that these those my our your his her their me we i you he she they us them not no cannot cant
    can could will would wont does doesnt do dont did didnt has have had any some again still just
    please help urgent issue problem since after before when while all very""".split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ENDINGS = ("ing", "ed", "es", "s")


@dataclass(frozen=True)
class DuplicateRules:
    """When two incidents count as one problem (``window`` zero switches the check off)."""

    window: timedelta = DEFAULT_WINDOW
    min_similarity: float = DEFAULT_MIN_SIMILARITY

    @property
    def enabled(self) -> bool:
        return self.window > timedelta(0)


# A Candidate's fields in order, as a plain tuple (what a long-lived cache keeps: see fields()).
CandidateFields = tuple[str, str, str, str, str, str, str, datetime]
_CALLER_ID, _CI = 3, 5  # where CandidateFields hold what the buckets are made of


@dataclass(frozen=True)
class Candidate:
    """The few incident fields the rule reads."""

    sys_id: str
    number: str
    short_description: str
    caller_id: str
    caller_name: str
    ci: str
    ci_name: str
    opened_at: datetime

    @classmethod
    def from_incident(cls, incident: Incident) -> Candidate:
        opened = incident.opened_at or incident.sys_created_on or incident.sys_updated_on
        return cls(
            sys_id=incident.sys_id,
            number=incident.number,
            short_description=incident.short_description,
            caller_id=incident.caller_id,
            caller_name=incident.caller_name or incident.caller_id,
            ci=incident.cmdb_ci,
            ci_name=incident.cmdb_ci_name or incident.cmdb_ci,
            opened_at=opened,
        )

    def fields(self) -> CandidateFields:
        """``Candidate(*c.fields()) == c``. A tuple of strings and times is not tracked by the
        garbage collector: 100,000 of them kept between polls cost its full passes nothing."""
        return (
            self.sys_id,
            self.number,
            self.short_description,
            self.caller_id,
            self.caller_name,
            self.ci,
            self.ci_name,
            self.opened_at,
        )

    @cached_property
    def word_set(self) -> frozenset[str]:
        return words(self.short_description)

    @cached_property
    def number_set(self) -> frozenset[str]:
        return numbers(self.short_description)

    def buckets(self) -> list[str]:
        """Where its possible repeats are: the same caller, the same CI."""
        keys: list[str] = []
        if self.caller_id:
            keys.append(f"caller:{self.caller_id}")
        if self.ci:
            keys.append(f"ci:{self.ci}")
        return keys


@dataclass(frozen=True)
class Suspicion:
    """``number`` looks like a duplicate of ``primary_number`` (matched through ``matched_number``)."""

    sys_id: str
    number: str
    primary_sys_id: str
    primary_number: str
    matched_number: str
    similarity: float
    shared: str  # "same caller Beth Anglin" / "same CI EXCH-PRD-01"
    apart: timedelta

    def reason(self) -> str:
        """One sentence for the queue's tooltip, the preview and the audit."""
        via = "" if self.matched_number == self.primary_number else f" (through {self.matched_number})"
        return (
            f"possible duplicate of {self.primary_number}{via}: {self.shared}, "
            f"{round(self.similarity * 100)} % of the words alike, opened {describe_gap(self.apart)} apart"
        )


@dataclass(frozen=True)
class DuplicateGroup:
    primary: Candidate
    suspects: tuple[Suspicion, ...]


def describe_gap(gap: timedelta) -> str:
    minutes = round(abs(gap).total_seconds() / 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h"


def _stem(word: str) -> str:
    for ending in _ENDINGS:
        if len(word) > len(ending) + 2 and word.endswith(ending):
            return word[: -len(ending)]
    return word


def words(text: str) -> frozenset[str]:
    """The meaningful words of a short description, normalised (what the similarity compares)."""
    folded = text.casefold().replace("'", "").replace("\u2019", "")
    return frozenset(_stem(word) for word in _WORD.findall(folded) if word not in STOPWORDS and len(word) > 1)


def numbers(text: str) -> frozenset[str]:
    """The words with a digit in them (asset tags, floors, host names), as written."""
    folded = text.casefold()
    return frozenset(word for word in _WORD.findall(folded) if any(ch.isdigit() for ch in word))


def different_things(first: str, second: str) -> bool:
    """Both name numbers and none is the same: they are about different things."""
    a, b = numbers(first), numbers(second)
    return bool(a) and bool(b) and not (a & b)


def similarity(first: str, second: str) -> float:
    """Shared meaningful words / all meaningful words of both (0 when either has none)."""
    return _jaccard(words(first), words(second))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _shared(a: Candidate, b: Candidate) -> str | None:
    if a.caller_id and a.caller_id == b.caller_id:
        return f"same caller {b.caller_name}"
    if a.ci and a.ci == b.ci:
        return f"same CI {b.ci_name}"
    return None


def match(later: Candidate, earlier: Candidate, rules: DuplicateRules) -> tuple[float, str] | None:
    """(similarity, what they share) when ``later`` looks like a repeat of ``earlier``, else None."""
    if not rules.enabled or later.sys_id == earlier.sys_id:
        return None
    if abs(later.opened_at - earlier.opened_at) > rules.window:
        return None
    shared = _shared(later, earlier)
    if shared is None:
        return None
    score = _jaccard(later.word_set, earlier.word_set)
    if score < rules.min_similarity:
        return None
    if later.number_set and earlier.number_set and not (later.number_set & earlier.number_set):
        return None  # both name numbers, none the same: different things (different_things)
    return score, shared


def _order(candidate: Candidate) -> tuple[datetime, str]:
    return (candidate.opened_at, candidate.number)


def _earlier(later: Candidate, buckets: dict[str, list[Candidate]], rules: DuplicateRules) -> list[Candidate]:
    """The earlier incidents of the same caller or CI opened within the window (the latest
    MAX_COMPARED of each), oldest first."""
    pool: dict[str, Candidate] = {}
    for key in later.buckets():
        for earlier in reversed(buckets.get(key, [])[-MAX_COMPARED:]):
            if later.opened_at - earlier.opened_at > rules.window:
                break
            pool[earlier.sys_id] = earlier
    return sorted(pool.values(), key=_order)


def find_groups(candidates: Iterable[Candidate], rules: DuplicateRules) -> list[DuplicateGroup]:
    """Group the candidates, oldest first. Each incident is compared with the earlier ones of the
    same caller or CI within the window; it joins the group of the first (oldest) one it matches,
    and that group's primary is its oldest incident. Incidents matching nothing earlier are
    primaries (of a group of one, not returned)."""
    ordered = sorted({c.sys_id: c for c in candidates}.values(), key=_order)
    primary_of: dict[str, Candidate] = {}
    suspects: dict[str, list[Suspicion]] = {}
    buckets: dict[str, list[Candidate]] = {}
    for later in ordered:
        earlier_ones = _earlier(later, buckets, rules) if rules.enabled else []
        for key in later.buckets():
            buckets.setdefault(key, []).append(later)
        for earlier in earlier_ones:
            found = match(later, earlier, rules)
            if found is None:
                continue
            primary = primary_of.get(earlier.sys_id, earlier)
            primary_of[later.sys_id] = primary
            score, shared = found
            suspects.setdefault(primary.sys_id, []).append(
                Suspicion(
                    sys_id=later.sys_id,
                    number=later.number,
                    primary_sys_id=primary.sys_id,
                    primary_number=primary.number,
                    matched_number=earlier.number,
                    similarity=score,
                    shared=shared,
                    apart=later.opened_at - earlier.opened_at,
                )
            )
            break
    by_id = {c.sys_id: c for c in ordered}
    return [DuplicateGroup(by_id[primary], tuple(found)) for primary, found in suspects.items()]


def comparable(rows: Collection[CandidateFields]) -> list[Candidate]:
    """The candidates among ``rows`` that share a caller or a CI with another one: only they can
    be or have a repeat (``match`` needs one of them shared). The others are not made into
    candidates at all: with 100,000 waiting, objects made for each and kept through seconds of
    comparing set off full garbage collections, which hold every thread (the GUI's too). ``rows``
    is read three times, not copied: each young collection walks a new 100,000-entry list."""
    callers = Counter(row[_CALLER_ID] for row in rows if row[_CALLER_ID])
    cis = Counter(row[_CI] for row in rows if row[_CI])
    return [Candidate(*row) for row in rows if callers[row[_CALLER_ID]] > 1 or cis[row[_CI]] > 1]


def suspicions(candidates: Sequence[Candidate], rules: DuplicateRules) -> dict[str, Suspicion]:
    """sys_id -> why it looks like a duplicate, for every suspect among ``candidates``."""
    return {s.sys_id: s for group in find_groups(candidates, rules) for s in group.suspects}
