"""A return trip said as a person says it: "T20261202.0032 moved to In Progress → incident In
Progress". Labels, not codes; each cause once (a priority sets impact AND urgency, one sentence).

Pure: the engine stores this sentence as the audit summary and the desk shows the same words live,
so the Activity tab reads the same before and after a restart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol


class ChangeLike(Protocol):
    """A planned or applied incident change (domain FieldChange, engine FieldChangeView)."""

    @property
    def field(self) -> str: ...
    @property
    def old(self) -> str | None: ...
    @property
    def new(self) -> str: ...
    @property
    def reason(self) -> str: ...


_STATUS = re.compile(r"^Autotask status '(?P<status>.*)' -> state \d+ \((?P<state>[^)]*)\)$")
_PRIORITY = re.compile(
    r"^Autotask priority '(?P<priority>.*)' -> "
    r"impact \d+ \((?P<impact>[^)]*)\), urgency \d+ \((?P<urgency>[^)]*)\)$"
)


def change_text(change: ChangeLike) -> str:
    """One field change no rule explains in words: "field: old -> new (reason)"."""
    reason = f" ({change.reason})" if change.reason else ""
    if change.old is None:  # the engine did not read the incident first: the old value is unknown
        # The reason already names the new value ("Autotask status 'X' -> state 2 (In Progress)").
        return f"{change.field}: {change.reason}" if change.reason else f"{change.field} set to {change.new}"
    old = change.old or "(empty)"
    return f"{change.field}: {old} -> {change.new}{reason}"


def return_sentence(ticket: str, changes: Sequence[ChangeLike]) -> str:
    """ "T20261202.0032 moved to Complete → incident Resolved, closed with code 'Solution provided'"."""
    parts: list[str] = []
    seen: set[str] = set()
    tails: list[str] = []  # said with the status change, not as changes of their own
    for change in changes:
        if change.field == "close_code":
            tails.append(f", closed with code '{change.new}'")
            continue
        if change.field == "hold_reason":
            tails.append(f", hold reason {change.new}")
            continue
        if change.reason in seen:
            continue
        seen.add(change.reason)
        status = _STATUS.match(change.reason)
        priority = _PRIORITY.match(change.reason)
        if status:
            parts.append(f"{ticket} moved to {status['status']} → incident {status['state']}")
        elif priority:
            parts.append(
                f"{ticket} priority {priority['priority']} → incident impact {priority['impact']}, "
                f"urgency {priority['urgency']}"
            )
        elif change.field != "close_notes":
            parts.append(change_text(change))
    if not parts:
        return "no field changed"
    return "; ".join(parts) + "".join(tails)
