"""The decisions people (and the trigger) make on queue items: approve, reject, restore, retry,
push anyway, and the engine's drop when an incident stops matching the trigger.

Several desks decide on one shared queue. A decision may say which state the desk saw (``seen``):
if another desk decided the item since, the decision is refused with a ``conflict`` result naming
who did what and when ("INC0010001: already rejected by anna at 10:14 UTC"), instead of silently
overriding it. Every item change is also a compare-and-set on the row's version (see
:class:`app.store.models.QueueItem`): a write based on a stale read fails rather than wins, and the
batch is decided again on fresh rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from app.domain.records import Incident
from app.store.audit import AuditStore
from app.store.models import AuditDirection, AuditOutcome, QueueItem, QueueState
from app.store.queue import OPEN_STATES, apply_snapshot, find_item, item_by_sys_id, move_item, new_item
from app.store.session import Key, utcnow
from app.store.types import require_utc

#: changed: done. unchanged: already in the wanted state. invalid: not allowed from its state.
#: unknown: no such item. conflict: another desk decided it after this desk looked (see ``seen``).
TransitionStatus = Literal["changed", "unchanged", "invalid", "unknown", "conflict"]
_CAS_ATTEMPTS = 3  # a stale-version write is decided again on fresh rows this many times at most


@dataclass(frozen=True)
class TransitionResult:
    """Per-key outcome of approve/reject/restore/retry/drop."""

    key: str
    status: TransitionStatus
    message: str
    item: QueueItem | None = None
    from_state: QueueState | None = None

    @property
    def ok(self) -> bool:
        """True when the item ends in the wanted state (also when it already was)."""
        return self.status in ("changed", "unchanged")


@dataclass(frozen=True)
class _Action:
    allowed: frozenset[QueueState]
    target: QueueState
    audit_kind: str
    verb: str  # for messages: "INC0001 approved by Anna"


_ACTIONS: dict[str, _Action] = {
    "approve": _Action(
        frozenset({QueueState.PENDING, QueueState.FAILED}), QueueState.APPROVED, "approved", "approved"
    ),
    "reject": _Action(
        frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED}),
        QueueState.REJECTED,
        "rejected",
        "rejected",
    ),
    "restore": _Action(
        frozenset({QueueState.REJECTED, QueueState.DROPPED}), QueueState.PENDING, "restored", "restored"
    ),
    "retry": _Action(frozenset({QueueState.FAILED}), QueueState.APPROVED, "retry", "queued for another push"),
}


def what_happened(item: QueueItem) -> str:
    """ "already rejected by anna at 10:14 UTC": the item's state and the last decision on it."""
    if not item.decided_by or item.decided_at is None:
        return f"already {item.state}"
    who = f"{item.decided_by} at {item.decided_at:%H:%M} UTC"
    if item.state in (QueueState.APPROVED, QueueState.REJECTED, QueueState.DROPPED):
        return f"already {item.state} by {who}"
    # pending: someone restored it; pushing, pushed, failed: someone (or auto-push) approved it
    decision = "restored" if item.state == QueueState.PENDING else "approved"
    return f"already {item.state} ({decision} by {who})"


#: What a desk saw of each item it decides on: key (as passed) -> state shown at the desk.
Seen = Mapping[str, QueueState | str]


class DecisionStore(AuditStore):
    """Mixed into :class:`app.store.Store`."""

    def _decided(self, session: Session, item: QueueItem, now: datetime, kind: str, summary: str) -> None:
        outcome = AuditOutcome.SKIPPED if kind == "dropped" else AuditOutcome.OK
        self._audit(
            session,
            now=now,
            direction=AuditDirection.OUTBOUND,
            kind=kind,
            outcome=outcome,
            summary=summary,
            item=item,
        )

    def _decide(
        self,
        session: Session,
        step: _Action,
        key: Key,
        by: str,
        now: datetime,
        reason: str | None,
        seen: QueueState | None,
    ) -> TransitionResult:
        label = str(key)
        item = find_item(session, key)
        if item is None:
            return TransitionResult(label, "unknown", f"{label}: not in the queue")
        before = item.state
        if before == step.target:
            return TransitionResult(label, "unchanged", f"{item.number}: {what_happened(item)}", item, before)
        if seen is not None and before != seen:  # another desk decided after this one looked
            message = f"{item.number}: {what_happened(item)} (not {step.verb})"
            return TransitionResult(label, "conflict", message, item, before)
        if before not in step.allowed:
            allowed_text = " or ".join(sorted(step.allowed))
            message = f"{item.number}: cannot be {step.verb} while {before} (only when {allowed_text})"
            return TransitionResult(label, "invalid", message, item, before)
        move_item(item, step.target, now, decided_by=by)
        if reason:  # why it left the queue, shown with the item until it is restored
            item.drop_reason = reason
        summary = f"{item.number} {step.verb} by {by} (was {before})" + (f": {reason}" if reason else "")
        self._decided(session, item, now, step.audit_kind, summary)
        return TransitionResult(label, "changed", f"{item.number}: {step.verb}", item, before)

    def _transition(
        self,
        action: str,
        keys: Sequence[Key],
        by: str,
        now: datetime | None,
        reason: str | None = None,
        seen: Seen | None = None,
    ) -> list[TransitionResult]:
        step = _ACTIONS[action]
        now = require_utc(now or utcnow(), "now")
        seen_states = {str(k): QueueState(v) for k, v in (seen or {}).items()}
        for attempt in range(_CAS_ATTEMPTS):
            try:
                with self._write() as session:
                    return [
                        self._decide(session, step, key, by, now, reason, seen_states.get(str(key)))
                        for key in keys
                    ]
            except StaleDataError:  # a row changed under us: nothing was written; decide again
                if attempt == _CAS_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def approve(
        self, keys: Sequence[Key], by: str, *, now: datetime | None = None, seen: Seen | None = None
    ) -> list[TransitionResult]:
        """pending|failed -> approved (clears the retry time and last error). ``seen``: the state
        each key had at the desk; a key decided since by someone else comes back ``conflict``."""
        return self._transition("approve", keys, by, now, seen=seen)

    def reject(
        self,
        keys: Sequence[Key],
        by: str,
        *,
        now: datetime | None = None,
        reason: str | None = None,
        seen: Seen | None = None,
    ) -> list[TransitionResult]:
        """pending|approved|failed -> rejected (stays rejected until restored), with an optional
        reason (kept with the item and in the audit). ``seen``: as for :meth:`approve`."""
        return self._transition("reject", keys, by, now, reason.strip()[:500] if reason else None, seen)

    def restore(
        self, keys: Sequence[Key], by: str, *, now: datetime | None = None, seen: Seen | None = None
    ) -> list[TransitionResult]:
        """rejected|dropped -> pending. ``seen``: as for :meth:`approve`."""
        return self._transition("restore", keys, by, now, seen=seen)

    def retry(
        self, keys: Sequence[Key], by: str, *, now: datetime | None = None, seen: Seen | None = None
    ) -> list[TransitionResult]:
        """failed -> approved (pushed again on the next cycle). ``seen``: as for :meth:`approve`."""
        return self._transition("retry", keys, by, now, seen=seen)

    def push_anyway(self, incident: Incident, by: str, reason: str, *, now: datetime) -> TransitionResult:
        """Queue an incident the trigger does not select, approved on a person's word ("Push anyway").

        The reason and who decided are kept with the item and in the audit, and the item is never
        dropped for not matching the trigger. Refused while the incident is pushing or pushed.
        """
        now = require_utc(now, "now")
        reason = reason.strip()[:500]
        if not reason:
            return TransitionResult(
                incident.number, "invalid", f"{incident.number}: say why it is pushed anyway"
            )
        with self._write() as session:
            item = item_by_sys_id(session, incident.sys_id)
            if item is not None and item.state in (QueueState.PUSHING, QueueState.PUSHED):
                return TransitionResult(
                    incident.number, "invalid", f"{incident.number}: already {item.state}", item, item.state
                )
            before = item.state if item is not None else None
            if item is None:
                item = new_item(incident, now)
                session.add(item)
            else:
                apply_snapshot(item, incident)
            move_item(item, QueueState.APPROVED, now, decided_by=by)
            item.forced_reason = reason
            summary = f"{incident.number} pushed anyway by {by} (the trigger does not select it): {reason}"
            self._decided(session, item, now, "pushed-anyway", summary)
            return TransitionResult(incident.number, "changed", f"{incident.number}: approved", item, before)

    def drop(self, sys_id: str, reason: str, *, now: datetime, by: str = "engine") -> TransitionResult:
        """pending|approved|failed -> dropped: the incident no longer matches the trigger.

        A rejected item stays rejected (the user's decision stands); pushing/pushed are refused.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = item_by_sys_id(session, sys_id)
            if item is None:
                return TransitionResult(sys_id, "unknown", f"{sys_id}: not in the queue")
            before = item.state
            if before == QueueState.DROPPED:
                return TransitionResult(sys_id, "unchanged", f"{item.number}: already dropped", item, before)
            if item.forced_reason:  # pushed anyway: a person decided it goes, whatever the trigger says
                return TransitionResult(sys_id, "unchanged", f"{item.number}: pushed anyway", item, before)
            if before not in OPEN_STATES:
                return TransitionResult(
                    sys_id, "invalid", f"{item.number}: not dropped while {before}", item, before
                )
            move_item(item, QueueState.DROPPED, now, decided_by=by)
            item.drop_reason = reason
            self._decided(session, item, now, "dropped", f"{item.number} left the queue: {reason}")
            return TransitionResult(sys_id, "changed", f"{item.number}: dropped ({reason})", item, before)
