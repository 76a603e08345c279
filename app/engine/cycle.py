"""What one full cycle did, and what it left undone (``triage-sync run --once`` prints both and
exits 1 unless both are empty: exit 0 means every item the run was responsible for went through)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.engine.reconcile import ReconcileResult
from app.store import QueueState, Store


@dataclass
class CycleReport:
    queued: int = 0
    removed: int = 0
    pushed: int = 0
    applied: int = 0
    failures: list[str] = field(default_factory=list)
    # What the run was responsible for and left undone (one line each), besides its failures.
    undone: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # done, but not as asked (a field kept)
    reconciled: list[ReconcileResult] = field(default_factory=list)  # passes that ran this cycle

    @property
    def ok(self) -> bool:
        return not self.failures and not self.undone


def _next_try(moment: datetime | None) -> str:
    return f"; next try at {moment:%Y-%m-%d %H:%M:%S} UTC" if moment is not None else ""


def _why(error: str | None) -> str:
    return f" ({error})" if error else ""


def undone_lines(store: Store, failures: Sequence[str], auto_push: bool) -> list[str]:
    """One line per thing the run was responsible for and did not finish: approved (and, with
    auto-push, pending) items not pushed, creates whose outcome is still unknown, write-backs
    still pending. An item a failure line already names is not repeated. Blocking (store reads)."""
    said = {failure.split(":", 1)[0] for failure in failures}
    lines: list[str] = []
    states = [QueueState.PUSHING, QueueState.APPROVED]
    if auto_push:
        states.append(QueueState.PENDING)
    for item in store.list_items(states):
        if item.number in said:
            continue
        if item.state == QueueState.PENDING and item.duplicate_of:
            continue  # held for a person (a suspected duplicate): reported as a warning, not undone
        if item.state == QueueState.PUSHING:
            lines.append(
                f"{item.number}: create outcome unknown{_why(item.last_error)}; Autotask has no ticket "
                f"for it yet, the next run searches again before creating{_next_try(item.next_retry_at)}"
            )
        else:
            lines.append(f"{item.number}: not pushed{_why(item.last_error)}{_next_try(item.next_retry_at)}")
    for link in store.pending_writebacks():
        if link.incident_number not in said:
            lines.append(
                f"{link.incident_number}: write-back to the incident (ticket {link.ticket_number}) still "
                f"pending{_why(link.writeback_error)}{_next_try(link.writeback_next_at)}"
            )
    return lines
