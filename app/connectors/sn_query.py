"""Encoded queries for the incident poll, paged by key (api-contracts.md "Behaviours of live
systems" 1).

Offset paging loses rows: when someone edits a record on a page already read, it moves to the end
and every later row shifts back by one, so the first row of the next page is never returned. We
order by ``sys_updated_on, sys_id`` and ask each next page for the rows *after the last key seen*:

    (sys_updated_on > last) OR (sys_updated_on = last AND sys_id > last_id)

An encoded query cannot say ``A OR (B AND C)`` inside one branch (``^OR`` binds to the single term
before it, tighter than ``^``), so it is written as the equivalent

    sys_updated_on >= last AND (sys_updated_on > last OR sys_id > last_id)

i.e. ``sys_updated_on>=last^sys_updated_on>last^ORsys_id>last_id``. ``^NQ`` starts a whole new
query, so the since- and key-terms are repeated in every ``^NQ`` branch of the caller's query.
A record edited while we page gets a newer stamp, so it is simply returned again on a later page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.domain.records import format_sn_time

ORDER = "ORDERBYsys_updated_on^ORDERBYsys_id"


@dataclass(frozen=True)
class PageKey:
    """The last row of a page: the next page starts strictly after it."""

    updated_on: datetime
    sys_id: str

    def terms(self) -> list[str]:
        stamp = format_sn_time(self.updated_on)
        return [f"sys_updated_on>={stamp}", f"sys_updated_on>{stamp}^ORsys_id>{self.sys_id}"]


def build_incident_query(
    encoded_query: str = "", updated_since: datetime | None = None, after: PageKey | None = None
) -> str:
    """``sys_updated_on>=<since>`` (and, for a next page, the key terms) AND the caller's query,
    ordered for key paging. The caller's ORDERBY terms are dropped: paging needs the fixed order."""
    ours: list[str] = []
    if updated_since is not None:
        ours.append(f"sys_updated_on>={format_sn_time(updated_since)}")
    if after is not None:
        ours.extend(after.terms())
    branches: list[str] = []
    for branch in encoded_query.split("^NQ") if encoded_query else [""]:
        parts = [p for p in branch.split("^") if p and not p.startswith("ORDERBY")]
        if parts and parts[0].startswith("OR"):
            # Nothing before it to OR with inside this branch; never let it attach to our terms.
            parts[0] = parts[0][2:]
        branches.append("^".join([*ours, *parts]))
    query = "^NQ".join(b for b in branches if b) if any(branches) else ""
    return f"{query}^{ORDER}" if query else ORDER
