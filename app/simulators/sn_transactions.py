"""What a busy ServiceNow instance does to readers, kept apart from the Table API simulator:

- **Late commits.** ``sys_updated_on`` is stamped when a transaction starts; a slow business rule,
  workflow or import commits it seconds to minutes later. Until then readers see the record as it
  was before (or not at all, for an insert). :class:`CommitDelays` holds such transactions.

Edits while a client pages are :class:`app.simulators.control.PageHooks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class _Pending:
    visible_at: datetime
    before: dict[str, str] | None  # None: an insert nobody can see yet


class CommitDelays:
    """Transactions stamped but not yet committed, by sys_id (the newest per record wins)."""

    def __init__(self) -> None:
        self._pending: dict[str, _Pending] = {}

    def hold(self, sys_id: str, before: Mapping[str, str] | None, visible_at: datetime) -> None:
        earlier = self._pending.get(sys_id)
        # A record already waiting keeps the version readers see now.
        seen = earlier.before if earlier is not None else (dict(before) if before is not None else None)
        self._pending[sys_id] = _Pending(visible_at, seen)

    def view(self, record: dict[str, str], now: datetime) -> dict[str, str] | None:
        """The version of ``record`` a reader sees at ``now`` (None: not visible yet)."""
        pending = self._pending.get(record["sys_id"])
        if pending is None:
            return record
        if now >= pending.visible_at:
            del self._pending[record["sys_id"]]
            return record
        return pending.before

    def clear(self) -> None:
        self._pending.clear()
