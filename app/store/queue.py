"""Queue items: triggered incidents with their snapshot and life-cycle state (DESIGN: Queue item
life cycle). This module reads the queue and takes incidents in; the people's decisions live in
:mod:`app.store.decisions`, the push steps in :mod:`app.store.push`. All of them change an item's
state through :func:`move_item`, so each state's leftovers are reset in one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from app.domain.records import Incident
from app.store.audit import AuditStore
from app.store.errors import StoreError
from app.store.models import AuditDirection, AuditOutcome, QueueItem, QueueState
from app.store.session import Key, chunks, due
from app.store.types import require_utc


class ItemNotFound(StoreError, LookupError):
    """No queue item for that key."""


class InvalidTransition(StoreError):
    """The item is not in a state that allows this step (e.g. pushing a rejected item)."""


#: Still waiting for a push: the poller re-checks these, and they may be dropped.
OPEN_STATES = frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED})
_REFRESHABLE = OPEN_STATES | {QueueState.REJECTED, QueueState.PUSHING}

# What entering a state clears: the leftovers of the item's last round that no longer apply there
# (a retry time once nothing is scheduled, an error once approved again, a drop reason once back).
_CLEARED_ON_ENTRY: dict[QueueState, tuple[str, ...]] = {
    QueueState.PENDING: ("next_retry_at", "drop_reason"),
    QueueState.APPROVED: ("next_retry_at", "last_error", "drop_reason"),
    QueueState.PUSHING: ("next_retry_at",),
    QueueState.PUSHED: ("next_retry_at", "last_error"),
    QueueState.FAILED: ("next_retry_at",),
    QueueState.DROPPED: ("next_retry_at",),
    QueueState.REJECTED: (),
}


def move_item(item: QueueItem, state: QueueState, now: datetime, *, decided_by: str | None = None) -> None:
    """Put ``item`` in ``state`` with the resets that state needs; ``decided_by`` also records a
    person's (or the engine's) decision and its time. Set what the new state carries after this."""
    item.state = state
    for name in _CLEARED_ON_ENTRY[state]:
        setattr(item, name, None)
    item.updated_at = now
    if decided_by is not None:
        item.decided_by = decided_by
        item.decided_at = now


def find_item(session: Session, key: Key) -> QueueItem | None:
    """By incident number (case-insensitive), sys_id, or queue id (int or digit string)."""
    if isinstance(key, int):
        return session.get(QueueItem, key)
    text = key.strip()
    if not text:
        return None
    conditions = [col(QueueItem.sys_id) == text, col(QueueItem.number) == text]
    if text.upper() != text:
        conditions.append(col(QueueItem.number) == text.upper())
    if text.isdigit():
        conditions.append(col(QueueItem.id) == int(text))
    rows = session.exec(select(QueueItem).where(or_(*conditions))).all()
    if not rows:
        return None
    # A sys_id or number match wins over an id that happens to look the same.
    rows_sorted = sorted(rows, key=lambda r: (r.sys_id != text, r.number.upper() != text.upper()))
    return rows_sorted[0]


def item_by_sys_id(session: Session, sys_id: str) -> QueueItem | None:
    return session.exec(select(QueueItem).where(col(QueueItem.sys_id) == sys_id)).first()


def items_by_sys_id(session: Session, sys_ids: Sequence[str]) -> dict[str, QueueItem]:
    """The queue items of these incidents (those that have one), by sys_id."""
    found: dict[str, QueueItem] = {}
    for chunk in chunks(sorted(set(sys_ids))):
        for item in session.exec(select(QueueItem).where(col(QueueItem.sys_id).in_(chunk))).all():
            found[item.sys_id] = item
    return found


def require_item(session: Session, sys_id: str) -> QueueItem:
    item = item_by_sys_id(session, sys_id)
    if item is None:
        raise ItemNotFound(f"no queue item for sys_id {sys_id!r}")
    return item


def apply_snapshot(item: QueueItem, incident: Incident) -> None:
    item.number = incident.number
    item.short_description = incident.short_description
    item.category = incident.category
    item.priority = incident.priority
    item.caller = incident.caller_name or incident.caller_id
    item.snapshot = incident.model_dump_json()
    item.sn_updated_on = require_utc(incident.sys_updated_on, "sys_updated_on")
    item.sn_mod_count = incident.sys_mod_count


def new_item(incident: Incident, now: datetime) -> QueueItem:
    item = QueueItem(
        sys_id=incident.sys_id,
        snapshot="",
        sn_updated_on=incident.sys_updated_on,
        state=QueueState.PENDING,
        queued_at=now,
        updated_at=now,
    )
    apply_snapshot(item, incident)
    return item


class QueueStore(AuditStore):
    """Mixed into :class:`app.store.Store`."""

    def _queued(
        self, session: Session, item: QueueItem, now: datetime, summary: str, kind: str = "queued"
    ) -> None:
        self._audit(
            session,
            now=now,
            direction=AuditDirection.OUTBOUND,
            kind=kind,
            outcome=AuditOutcome.OK,
            summary=summary,
            item=item,
        )

    def upsert_from_incident(self, incident: Incident, *, now: datetime) -> tuple[QueueItem, bool, bool]:
        """One incident: :meth:`upsert_from_incidents` with a batch of one."""
        [result] = self.upsert_from_incidents([incident], now=now)
        return result

    def upsert_from_incidents(
        self, incidents: Sequence[Incident], *, now: datetime
    ) -> list[tuple[QueueItem, bool, bool]]:
        """Queue triggered incidents, or refresh the snapshots of queued ones: all in one transaction
        (a poll stores a page at a time), ``(item, created, changed)`` per incident in their order.

        New -> pending. An existing item keeps its state (a rejected item stays rejected) and takes
        the snapshot only when the incident is newer (sys_mod_count, then sys_updated_on): a late,
        older read never overwrites a newer one. A dropped item that matches the trigger again goes
        back to pending (changed=True). A pushed item is left alone: the link owns it now. Each
        incident is taken as if stored alone after the ones before it (the same sys_id twice: the
        second sees the first). If any fails, none is stored.
        """
        now = require_utc(now, "now")
        if not incidents:
            return []
        with self._write() as session:
            items = items_by_sys_id(session, [incident.sys_id for incident in incidents])
            results: list[tuple[QueueItem, bool, bool]] = []
            for incident in incidents:
                result = self._take_incident(session, items.get(incident.sys_id), incident, now)
                items[incident.sys_id] = result[0]
                results.append(result)
            return results

    def _take_incident(
        self, session: Session, item: QueueItem | None, incident: Incident, now: datetime
    ) -> tuple[QueueItem, bool, bool]:
        """One incident of :meth:`upsert_from_incidents` into ``session``; ``item``: its queue item
        as this transaction sees it, if any."""
        if item is None:
            item = new_item(incident, now)
            session.add(item)
            summary = f"{incident.number} matches the trigger; queued for approval"
            self._queued(session, item, now, summary)
            return item, True, False

        newer = (incident.sys_mod_count, incident.sys_updated_on) > (item.sn_mod_count, item.sn_updated_on)
        if item.state == QueueState.DROPPED:
            if newer:
                apply_snapshot(item, incident)
            move_item(item, QueueState.PENDING, now)
            item.decided_by = item.decided_at = None  # nobody decided this round yet
            summary = f"{item.number} matches the trigger again; back in the queue"
            self._queued(session, item, now, summary)
            return item, False, True
        if item.state not in _REFRESHABLE or not newer:
            return item, False, False
        apply_snapshot(item, incident)
        item.updated_at = now
        self._queued(
            session,
            item,
            now,
            f"{item.number} changed in ServiceNow (update {incident.sys_mod_count}); refreshed",
            kind="refreshed",
        )
        return item, False, True

    def get_item(self, key: Key) -> QueueItem | None:
        """By incident number (case-insensitive), sys_id, or queue id (int or digit string)."""
        with self._read() as session:
            return find_item(session, key)

    def list_items(
        self,
        states: Iterable[QueueState | str] | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[QueueItem]:
        """Newest first; ``search`` matches number, sys_id, description, category, caller."""
        query = select(QueueItem)
        if states is not None:
            query = query.where(col(QueueItem.state).in_([QueueState(s) for s in states]))
        if search:
            text = search.strip()
            query = query.where(
                or_(
                    col(QueueItem.number).icontains(text, autoescape=True),
                    col(QueueItem.sys_id).icontains(text, autoescape=True),
                    col(QueueItem.short_description).icontains(text, autoescape=True),
                    col(QueueItem.category).icontains(text, autoescape=True),
                    col(QueueItem.caller).icontains(text, autoescape=True),
                )
            )
        query = query.order_by(col(QueueItem.queued_at).desc(), col(QueueItem.id).desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())

    def open_sys_ids(self) -> list[str]:
        """sys_ids of items still waiting (pending, approved, failed), sorted: the poller re-checks
        them so an incident that stops matching the trigger leaves the queue. Ids only: cheap with a
        big queue. Sorted by the database, and read row by row: with 100,000 open items, fetching
        them in one call ran in C for 20+ ms, letting the interpreter lock go and taking it back at
        each row, and the desktop's GUI thread lost every hand-over (sorting them here held it too)."""
        query = (
            select(QueueItem.sys_id)
            .where(col(QueueItem.state).in_(list(OPEN_STATES)))
            .order_by(col(QueueItem.sys_id))
        )
        with self._read() as session:
            return [sys_id for (sys_id,) in session.connection().execute(query)]

    def states_by_sys_id(self, sys_ids: Iterable[str]) -> dict[str, QueueState]:
        """The queue state of each of these incidents that has an item (others are left out)."""
        ids = sorted(set(sys_ids))
        found: dict[str, QueueState] = {}
        with self._read() as session:
            for chunk in chunks(ids):
                rows = session.exec(
                    select(QueueItem.sys_id, QueueItem.state).where(col(QueueItem.sys_id).in_(chunk))
                ).all()
                for sys_id, state in rows:
                    found[sys_id] = QueueState(state)
        return found

    def counts_by_state(self) -> dict[QueueState, int]:
        """Every state present, zero-filled (for the queue tabs and `status`)."""
        counts = dict.fromkeys(QueueState, 0)
        query = select(QueueItem.state, func.count()).group_by(col(QueueItem.state))
        with self._read() as session:
            for state, count in session.exec(query).all():
                counts[QueueState(state)] = int(count)
        return counts

    def items_to_push(self, now: datetime, *, auto_push: bool, limit: int | None = None) -> list[QueueItem]:
        """Approved items whose retry time is due (plus due pending ones when auto-push is on).

        Order: approved before pending (a person decided), then oldest queued first.
        """
        now = require_utc(now, "now")
        states = [QueueState.APPROVED, QueueState.PENDING] if auto_push else [QueueState.APPROVED]
        query = (
            select(QueueItem)
            .where(col(QueueItem.state).in_(states), due(QueueItem.next_retry_at, now))
            .order_by(
                case((col(QueueItem.state) == QueueState.APPROVED, 0), else_=1),
                col(QueueItem.queued_at),
                col(QueueItem.id),
            )
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())

    def stuck_pushing(self, now: datetime | None = None) -> list[QueueItem]:
        """Items left in ``pushing`` (crash or unknown outcome): search Autotask before creating.

        With ``now``, only those whose retry time is due.
        """
        query = select(QueueItem).where(col(QueueItem.state) == QueueState.PUSHING)
        if now is not None:
            query = query.where(due(QueueItem.next_retry_at, require_utc(now, "now")))
        query = query.order_by(col(QueueItem.queued_at), col(QueueItem.id))
        with self._read() as session:
            return list(session.exec(query).all())
