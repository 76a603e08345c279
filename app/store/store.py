"""The Store: every read and write the engine, the UI and the CLI make, one short transaction each.

Why one session per call: the engine calls these methods through ``asyncio.to_thread``, so calls
come from several threads; a shared Session is not thread-safe. Write methods start with
``BEGIN IMMEDIATE`` on SQLite so read-then-write calls serialise instead of failing with
SQLITE_BUSY. Results are detached copies: read them anywhere, change state only through methods.

Nothing here stores credentials, tokens or auth headers: callers pass request/response bodies for
the audit trail, never headers (DESIGN: Conventions).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import URL, ColumnElement, Engine, case, func, or_
from sqlmodel import Session, col, select

from app.domain.records import Incident
from app.store import lease as lease_module
from app.store.connect import server_errors
from app.store.db import IMMEDIATE, create_store_engine, migrate, require_current
from app.store.duplicates import DuplicateStore
from app.store.errors import StoreError
from app.store.lease import DEFAULT_LEASE_TIMEOUT, Lease
from app.store.link_titles import LinkTitleStore
from app.store.models import (
    AuditDirection,
    AuditEvent,
    AuditOutcome,
    Cursor,
    EngineLease,
    Link,
    QueueItem,
    QueueState,
    WritebackState,
)
from app.store.overrides import OverrideStore
from app.store.overview import OverviewStore
from app.store.state import StateStore
from app.store.types import require_utc

T = TypeVar("T")
_CHUNK = 500  # stay far below SQLite's bound-parameter limit

Key = str | int


class ItemNotFound(StoreError, LookupError):
    """No queue item for that key."""


class LinkNotFound(StoreError, LookupError):
    """No link for that sys_id / ticket id."""


class InvalidTransition(StoreError):
    """The item is not in a state that allows this step (e.g. pushing a rejected item)."""


class LinkConflict(StoreError):
    """The incident is linked to another ticket, or the ticket to another incident."""


TransitionStatus = Literal["changed", "unchanged", "invalid", "unknown"]


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


# action -> (allowed from, to, audit kind, verb for messages)
_ACTIONS: dict[str, tuple[frozenset[QueueState], QueueState, str, str]] = {
    "approve": (
        frozenset({QueueState.PENDING, QueueState.FAILED}),
        QueueState.APPROVED,
        "approved",
        "approved",
    ),
    "reject": (
        frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED}),
        QueueState.REJECTED,
        "rejected",
        "rejected",
    ),
    "restore": (
        frozenset({QueueState.REJECTED, QueueState.DROPPED}),
        QueueState.PENDING,
        "restored",
        "restored",
    ),
    "retry": (frozenset({QueueState.FAILED}), QueueState.APPROVED, "retry", "queued for another push"),
}
_DROPPABLE = frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED})
_REFRESHABLE = frozenset(
    {QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED, QueueState.REJECTED, QueueState.PUSHING}
)
_PUSHABLE = frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING})
_FAILABLE = frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING, QueueState.FAILED})


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _due(column: Any, now: datetime) -> ColumnElement[bool]:
    return or_(col(column).is_(None), col(column) <= now)


class Store(StateStore, OverviewStore, DuplicateStore, OverrideStore, LinkTitleStore):
    """The app's persistent state. Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, engine: Engine, *, backup_path: Path | None = None) -> None:
        self.engine = engine
        #: The pre-migration copy made by :meth:`open`, if a migration ran (show it to the user).
        self.backup_path = backup_path

    # ---- life cycle ------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str | URL | None = None, *, migrate_schema: bool = True) -> Store:
        """Connect and bring the schema to head (backing up an older SQLite file first).

        ``url`` None means the default SQLite file in the user data dir. ``migrate_schema`` False
        (``store.auto_migrate = false``) never changes the schema: an older one raises SchemaBehind.
        Raises SchemaTooNew when a newer app version wrote the database, StoreUnavailable when the
        server cannot be reached or refuses the login.
        """
        if url is None:
            from app.config import default_store_url

            url = default_store_url()
        engine = create_store_engine(url)
        try:
            with server_errors(engine.url):
                if migrate_schema:
                    backup = migrate(engine)
                else:
                    require_current(engine)
                    backup = None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, backup_path=backup)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The database URL with any password hidden (safe to show and log)."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            session.connection(execution_options={IMMEDIATE: True})
            yield session
            session.commit()

    # ---- single-engine lease ---------------------------------------------------------------------

    def acquire_engine_lease(
        self, holder: str, *, timeout: timedelta = DEFAULT_LEASE_TIMEOUT, now: datetime | None = None
    ) -> Lease:
        """Take the single-engine lease or raise EngineAlreadyRunning (stale leases are taken over)."""
        return lease_module.acquire(self.engine, holder, timeout=timeout, now=now)

    def lease_info(self) -> EngineLease | None:
        """The current lease row (for `status`: who runs the engine), stale or not."""
        with self._read() as session:
            return session.get(EngineLease, 1)

    # ---- audit helpers ---------------------------------------------------------------------------

    @staticmethod
    def _audit(
        session: Session,
        *,
        now: datetime,
        direction: AuditDirection | str,
        kind: str,
        outcome: AuditOutcome | str,
        summary: str,
        item: QueueItem | None = None,
        link: Link | None = None,
        sys_id: str | None = None,
        incident_number: str | None = None,
        ticket_id: int | None = None,
        ticket_number: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
    ) -> AuditEvent:
        if item is not None:
            sys_id = sys_id or item.sys_id
            incident_number = incident_number or item.number
        if link is not None:
            sys_id = sys_id or link.sys_id
            incident_number = incident_number or link.incident_number
            ticket_id = ticket_id if ticket_id is not None else link.ticket_id
            ticket_number = ticket_number or link.ticket_number
        event = AuditEvent(
            at=now,
            direction=AuditDirection(direction),
            kind=kind,
            outcome=AuditOutcome(outcome),
            sys_id=sys_id,
            incident_number=incident_number,
            ticket_id=ticket_id,
            ticket_number=ticket_number,
            summary=summary,
            request_body=request_body,
            response_body=response_body,
        )
        session.add(event)
        return event

    # ---- queue -----------------------------------------------------------------------------------

    @staticmethod
    def _find_item(session: Session, key: Key) -> QueueItem | None:
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

    @staticmethod
    def _item_by_sys_id(session: Session, sys_id: str) -> QueueItem:
        item = session.exec(select(QueueItem).where(col(QueueItem.sys_id) == sys_id)).first()
        if item is None:
            raise ItemNotFound(f"no queue item for sys_id {sys_id!r}")
        return item

    @staticmethod
    def _apply_snapshot(item: QueueItem, incident: Incident) -> None:
        item.number = incident.number
        item.short_description = incident.short_description
        item.category = incident.category
        item.priority = incident.priority
        item.caller = incident.caller_name or incident.caller_id
        item.snapshot = incident.model_dump_json()
        item.sn_updated_on = require_utc(incident.sys_updated_on, "sys_updated_on")
        item.sn_mod_count = incident.sys_mod_count

    @classmethod
    def _new_item(cls, incident: Incident, now: datetime) -> QueueItem:
        item = QueueItem(
            sys_id=incident.sys_id,
            snapshot="",
            sn_updated_on=incident.sys_updated_on,
            state=QueueState.PENDING,
            queued_at=now,
            updated_at=now,
        )
        cls._apply_snapshot(item, incident)
        return item

    def upsert_from_incident(self, incident: Incident, *, now: datetime) -> tuple[QueueItem, bool, bool]:
        """Queue a triggered incident, or refresh the snapshot of the queued one.

        Returns ``(item, created, changed)``. New -> pending. An existing item keeps its state
        (a rejected item stays rejected) and takes the snapshot only when the incident is newer
        (sys_mod_count, then sys_updated_on): a late, older read never overwrites a newer one.
        A dropped item that matches the trigger again goes back to pending (changed=True).
        A pushed item is left alone: the link owns it now.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = session.exec(select(QueueItem).where(col(QueueItem.sys_id) == incident.sys_id)).first()
            if item is None:
                item = self._new_item(incident, now)
                session.add(item)
                self._audit(
                    session,
                    now=now,
                    direction=AuditDirection.OUTBOUND,
                    kind="queued",
                    outcome=AuditOutcome.OK,
                    summary=f"{incident.number} matches the trigger; queued for approval",
                    item=item,
                )
                return item, True, False

            newer = (incident.sys_mod_count, incident.sys_updated_on) > (
                item.sn_mod_count,
                item.sn_updated_on,
            )
            if item.state == QueueState.DROPPED:
                if newer:
                    self._apply_snapshot(item, incident)
                item.state = QueueState.PENDING
                item.drop_reason = None
                item.next_retry_at = None
                item.decided_by = None
                item.decided_at = None
                item.updated_at = now
                self._audit(
                    session,
                    now=now,
                    direction=AuditDirection.OUTBOUND,
                    kind="queued",
                    outcome=AuditOutcome.OK,
                    summary=f"{item.number} matches the trigger again; back in the queue",
                    item=item,
                )
                return item, False, True
            if item.state not in _REFRESHABLE or not newer:
                return item, False, False
            self._apply_snapshot(item, incident)
            item.updated_at = now
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="refreshed",
                outcome=AuditOutcome.OK,
                summary=f"{item.number} changed in ServiceNow (update {incident.sys_mod_count}); refreshed",
                item=item,
            )
            return item, False, True

    def get_item(self, key: Key) -> QueueItem | None:
        """By incident number (case-insensitive), sys_id, or queue id (int or digit string)."""
        with self._read() as session:
            return self._find_item(session, key)

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
        """sys_ids of items still waiting (pending, approved, failed): the poller re-checks them so an
        incident that stops matching the trigger leaves the queue. Ids only: cheap with a big queue."""
        query = select(QueueItem.sys_id).where(col(QueueItem.state).in_(list(_DROPPABLE)))
        with self._read() as session:
            return list(session.exec(query).all())

    def states_by_sys_id(self, sys_ids: Iterable[str]) -> dict[str, QueueState]:
        """The queue state of each of these incidents that has an item (others are left out)."""
        ids = sorted(set(sys_ids))
        found: dict[str, QueueState] = {}
        with self._read() as session:
            for chunk in _chunks(ids):
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

    def _transition(
        self, action: str, keys: Sequence[Key], by: str, now: datetime | None, reason: str | None = None
    ) -> list[TransitionResult]:
        allowed, target, kind, verb = _ACTIONS[action]
        now = require_utc(now or utcnow(), "now")
        results: list[TransitionResult] = []
        with self._write() as session:
            for key in keys:
                label = str(key)
                item = self._find_item(session, key)
                if item is None:
                    results.append(TransitionResult(label, "unknown", f"{label}: not in the queue"))
                    continue
                before = item.state
                if before == target:
                    results.append(
                        TransitionResult(label, "unchanged", f"{item.number}: already {target}", item, before)
                    )
                    continue
                if before not in allowed:
                    allowed_text = " or ".join(sorted(allowed))
                    results.append(
                        TransitionResult(
                            label,
                            "invalid",
                            f"{item.number}: cannot be {verb} while {before} (only when {allowed_text})",
                            item,
                            before,
                        )
                    )
                    continue
                item.state = target
                item.decided_by = by
                item.decided_at = now
                item.updated_at = now
                if target in (QueueState.APPROVED, QueueState.PENDING):
                    item.next_retry_at = None
                if target == QueueState.APPROVED:
                    item.last_error = None
                if target == QueueState.PENDING:
                    item.drop_reason = None
                if reason:  # why it left the queue, shown with the item until it is restored
                    item.drop_reason = reason
                self._audit(
                    session,
                    now=now,
                    direction=AuditDirection.OUTBOUND,
                    kind=kind,
                    outcome=AuditOutcome.OK,
                    summary=f"{item.number} {verb} by {by} (was {before})"
                    + (f": {reason}" if reason else ""),
                    item=item,
                )
                results.append(TransitionResult(label, "changed", f"{item.number}: {verb}", item, before))
        return results

    def approve(self, keys: Sequence[Key], by: str, *, now: datetime | None = None) -> list[TransitionResult]:
        """pending|failed -> approved (clears the retry time and last error)."""
        return self._transition("approve", keys, by, now)

    def reject(
        self, keys: Sequence[Key], by: str, *, now: datetime | None = None, reason: str | None = None
    ) -> list[TransitionResult]:
        """pending|approved|failed -> rejected (stays rejected until restored), with an optional
        reason (kept with the item and in the audit)."""
        return self._transition("reject", keys, by, now, reason.strip()[:500] if reason else None)

    def restore(self, keys: Sequence[Key], by: str, *, now: datetime | None = None) -> list[TransitionResult]:
        """rejected|dropped -> pending."""
        return self._transition("restore", keys, by, now)

    def retry(self, keys: Sequence[Key], by: str, *, now: datetime | None = None) -> list[TransitionResult]:
        """failed -> approved (pushed again on the next cycle)."""
        return self._transition("retry", keys, by, now)

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
            item = session.exec(select(QueueItem).where(col(QueueItem.sys_id) == incident.sys_id)).first()
            if item is not None and item.state in (QueueState.PUSHING, QueueState.PUSHED):
                return TransitionResult(
                    incident.number, "invalid", f"{incident.number}: already {item.state}", item, item.state
                )
            before = item.state if item is not None else None
            if item is None:
                item = self._new_item(incident, now)
                session.add(item)
            else:
                self._apply_snapshot(item, incident)
            item.state = QueueState.APPROVED
            item.forced_reason = reason
            item.decided_by = by
            item.decided_at = now
            item.drop_reason = None
            item.last_error = None
            item.next_retry_at = None
            item.updated_at = now
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="pushed-anyway",
                outcome=AuditOutcome.OK,
                summary=f"{incident.number} pushed anyway by {by} (the trigger does not select it): {reason}",
                item=item,
            )
            return TransitionResult(incident.number, "changed", f"{incident.number}: approved", item, before)

    def drop(self, sys_id: str, reason: str, *, now: datetime, by: str = "engine") -> TransitionResult:
        """pending|approved|failed -> dropped: the incident no longer matches the trigger.

        A rejected item stays rejected (the user's decision stands); pushing/pushed are refused.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = session.exec(select(QueueItem).where(col(QueueItem.sys_id) == sys_id)).first()
            if item is None:
                return TransitionResult(sys_id, "unknown", f"{sys_id}: not in the queue")
            before = item.state
            if before == QueueState.DROPPED:
                return TransitionResult(sys_id, "unchanged", f"{item.number}: already dropped", item, before)
            if item.forced_reason:  # pushed anyway: a person decided it goes, whatever the trigger says
                return TransitionResult(sys_id, "unchanged", f"{item.number}: pushed anyway", item, before)
            if before not in _DROPPABLE:
                return TransitionResult(
                    sys_id, "invalid", f"{item.number}: not dropped while {before}", item, before
                )
            item.state = QueueState.DROPPED
            item.drop_reason = reason
            item.decided_by = by
            item.decided_at = now
            item.next_retry_at = None
            item.updated_at = now
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="dropped",
                outcome=AuditOutcome.SKIPPED,
                summary=f"{item.number} left the queue: {reason}",
                item=item,
            )
            return TransitionResult(sys_id, "changed", f"{item.number}: dropped ({reason})", item, before)

    def items_to_push(self, now: datetime, *, auto_push: bool, limit: int | None = None) -> list[QueueItem]:
        """Approved items whose retry time is due (plus due pending ones when auto-push is on).

        Order: approved before pending (a person decided), then oldest queued first.
        """
        now = require_utc(now, "now")
        states = [QueueState.APPROVED, QueueState.PENDING] if auto_push else [QueueState.APPROVED]
        query = (
            select(QueueItem)
            .where(col(QueueItem.state).in_(states), _due(QueueItem.next_retry_at, now))
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
            query = query.where(_due(QueueItem.next_retry_at, require_utc(now, "now")))
        query = query.order_by(col(QueueItem.queued_at), col(QueueItem.id))
        with self._read() as session:
            return list(session.exec(query).all())

    def mark_pushing(self, sys_id: str, *, now: datetime, by: str = "auto-push") -> int:
        """Step 1 of a push, committed BEFORE the create call. Returns the attempt number.

        approved|pending|pushing -> pushing. From pending (auto-push) the decision is recorded
        as ``by``. An attempt number > 1 means: search Autotask for the sys_id before creating.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = self._item_by_sys_id(session, sys_id)
            if item.state not in _PUSHABLE:
                raise InvalidTransition(f"{item.number}: cannot push while {item.state}")
            if item.state == QueueState.PENDING:
                item.decided_by = by
                item.decided_at = now
            item.state = QueueState.PUSHING
            item.attempts += 1
            item.next_retry_at = None
            item.updated_at = now
            return item.attempts

    def mark_push_uncertain(
        self,
        sys_id: str,
        error: str,
        next_retry_at: datetime,
        *,
        now: datetime,
        request_body: str | None = None,
        response_body: str | None = None,
    ) -> QueueItem:
        """Unknown outcome (timeout/reset/5xx after send): stays pushing; the next try searches first."""
        now = require_utc(now, "now")
        next_retry_at = require_utc(next_retry_at, "next_retry_at")
        with self._write() as session:
            item = self._item_by_sys_id(session, sys_id)
            if item.state != QueueState.PUSHING:
                raise InvalidTransition(f"{item.number}: not pushing (is {item.state})")
            item.last_error = error
            item.next_retry_at = next_retry_at
            item.updated_at = now
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="push",
                outcome=AuditOutcome.RETRY,
                summary=f"{item.number}: outcome unknown ({error}); will check Autotask before trying again",
                item=item,
                request_body=request_body,
                response_body=response_body,
            )
            return item

    def mark_failed(
        self,
        sys_id: str,
        error: str,
        next_retry_at: datetime | None,
        *,
        now: datetime,
        request_body: str | None = None,
        response_body: str | None = None,
    ) -> QueueItem:
        """Record a push/pre-flight failure.

        ``next_retry_at`` None: permanent (validation, permission) -> failed, waits for a user retry.
        A datetime: retryable and nothing was created -> pushing goes back to approved (pending and
        approved keep their state) with ``next_retry_at`` and ``last_error``.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = self._item_by_sys_id(session, sys_id)
            if item.state not in _FAILABLE:
                raise InvalidTransition(f"{item.number}: cannot record a failure while {item.state}")
            item.last_error = error
            item.updated_at = now
            if next_retry_at is None:
                item.state = QueueState.FAILED
                item.next_retry_at = None
                outcome, summary = AuditOutcome.FAILED, f"{item.number}: push refused: {error}"
            else:
                if item.state == QueueState.PUSHING:
                    item.state = QueueState.APPROVED
                item.next_retry_at = require_utc(next_retry_at, "next_retry_at")
                outcome = AuditOutcome.RETRY
                summary = f"{item.number}: {error}; next try at {item.next_retry_at:%H:%M:%S} UTC"
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="failure",
                outcome=outcome,
                summary=summary,
                item=item,
                request_body=request_body,
                response_body=response_body,
            )
            return item

    def record_pushed(
        self,
        sys_id: str,
        *,
        ticket_id: int,
        ticket_number: str,
        outbound_values: dict[str, Any],
        return_synced: dict[str, str],
        now: datetime,
        kind: str = "create",
        summary: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        adopted: bool = False,
        writeback_done: bool = False,
        note: str | None = None,
        ticket_title: str = "",
    ) -> Link:
        """Step 4: link + state pushed + audit event, in ONE transaction; write-back pending (done
        when ``writeback_done``: the incident already names the ticket). ``adopted``: the ticket was
        found in Autotask, not created by this store.

        Accepted from any state: the ticket exists, so recording it is what prevents a duplicate.
        Idempotent: the same (sys_id, ticket_id) again returns the existing link and adds no event.
        Raises LinkConflict when either side is already linked to something else.
        """
        now = require_utc(now, "now")
        with self._write() as session:
            item = self._item_by_sys_id(session, sys_id)
            existing = session.exec(select(Link).where(col(Link.sys_id) == sys_id)).first()
            if existing is not None:
                if existing.ticket_id != ticket_id:
                    theirs = existing.ticket_number or existing.ticket_id
                    raise LinkConflict(f"{item.number} is already linked to ticket {theirs}")
                if item.state != QueueState.PUSHED:
                    item.state = QueueState.PUSHED
                    item.next_retry_at = None
                    item.updated_at = now
                return existing
            other = session.exec(select(Link).where(col(Link.ticket_id) == ticket_id)).first()
            if other is not None:
                ours = ticket_number or ticket_id
                raise LinkConflict(
                    f"ticket {ours} is already linked to {other.incident_number or other.sys_id}"
                )
            link = Link(
                sys_id=sys_id,
                incident_number=item.number,
                ticket_id=ticket_id,
                ticket_number=ticket_number,
                linked_at=now,
                outbound_values=dict(outbound_values),
                return_synced=dict(return_synced),
                writeback_state=WritebackState.DONE if writeback_done else WritebackState.PENDING,
                last_outbound_at=now,
                adopted=adopted,
                note=note,
                ticket_title=ticket_title,
            )
            session.add(link)
            item.state = QueueState.PUSHED
            item.next_retry_at = None
            item.last_error = None
            item.updated_at = now
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind=kind,
                outcome=AuditOutcome.OK,
                summary=summary or f"{item.number} -> ticket {ticket_number or ticket_id}",
                item=item,
                ticket_id=ticket_id,
                ticket_number=ticket_number,
                request_body=request_body,
                response_body=response_body,
            )
            return link

    # ---- links -----------------------------------------------------------------------------------

    def get_link(
        self, *, sys_id: str | None = None, ticket_id: int | None = None, number: str | None = None
    ) -> Link | None:
        """By incident sys_id, ticket id, or a number (incident number or ticket number)."""
        given = [value is not None for value in (sys_id, ticket_id, number)]
        if sum(given) != 1:
            raise ValueError("get_link: pass exactly one of sys_id, ticket_id, number")
        query = select(Link)
        if sys_id is not None:
            query = query.where(col(Link.sys_id) == sys_id)
        elif ticket_id is not None:
            query = query.where(col(Link.ticket_id) == ticket_id)
        else:
            text = (number or "").strip()
            query = query.where(
                or_(
                    col(Link.incident_number) == text,
                    col(Link.incident_number) == text.upper(),
                    col(Link.ticket_number) == text,
                    col(Link.ticket_number) == text.upper(),
                )
            )
        with self._read() as session:
            return session.exec(query).first()

    def links_for_ticket_ids(self, ticket_ids: Iterable[int]) -> dict[int, Link]:
        """The links among these tickets (return trip: filter a polled page to our tickets)."""
        ids = sorted(set(ticket_ids))
        found: dict[int, Link] = {}
        with self._read() as session:
            for chunk in _chunks(ids):
                for link in session.exec(select(Link).where(col(Link.ticket_id).in_(chunk))).all():
                    found[link.ticket_id] = link
        return found

    def linked_sys_ids_among(self, sys_ids: Iterable[str]) -> set[str]:
        """Which of these incidents are already linked (trigger rule: require_unlinked)."""
        ids = sorted(set(sys_ids))
        linked: set[str] = set()
        with self._read() as session:
            for chunk in _chunks(ids):
                linked.update(session.exec(select(Link.sys_id).where(col(Link.sys_id).in_(chunk))).all())
        return linked

    @staticmethod
    def _link_search(text: str) -> ColumnElement[bool]:
        conditions = [
            col(Link.incident_number).icontains(text, autoescape=True),
            col(Link.ticket_number).icontains(text, autoescape=True),
            col(Link.sys_id).icontains(text, autoescape=True),
        ]
        if text.isdigit():
            conditions.append(col(Link.ticket_id) == int(text))
        return or_(*conditions)

    def list_links(self, search: str | None = None, limit: int | None = None, offset: int = 0) -> list[Link]:
        """Newest link first; ``search`` matches numbers, sys_id, or the ticket id."""
        query = select(Link)
        if search and search.strip():
            query = query.where(self._link_search(search.strip()))
        query = query.order_by(col(Link.linked_at).desc(), col(Link.id).desc()).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())

    def count_links(self, search: str | None = None) -> int:
        query = select(func.count()).select_from(Link)
        if search and search.strip():
            query = query.where(self._link_search(search.strip()))
        with self._read() as session:
            return int(session.exec(query).one())

    def writebacks_due(self, now: datetime, limit: int | None = None) -> list[Link]:
        """Links whose incident write-back is pending and due (oldest link first)."""
        now = require_utc(now, "now")
        query = (
            select(Link)
            .where(col(Link.writeback_state) == WritebackState.PENDING, _due(Link.writeback_next_at, now))
            .order_by(col(Link.linked_at), col(Link.id))
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())

    def pending_writebacks(self) -> list[Link]:
        """Every link whose write-back is not done yet, due or not (what a run leaves undone)."""
        query = (
            select(Link)
            .where(col(Link.writeback_state) == WritebackState.PENDING)
            .order_by(col(Link.linked_at), col(Link.id))
        )
        with self._read() as session:
            return list(session.exec(query).all())

    def set_ticket_number(self, ticket_id: int, ticket_number: str) -> Link:
        """Fill in the ticket number of a link recorded right after the create (the create answer
        carries only the id; numbers are read for a whole batch at once, before the write-back)."""
        with self._write() as session:
            link = session.exec(select(Link).where(col(Link.ticket_id) == ticket_id)).first()
            if link is None:
                raise LinkNotFound(f"no link for ticket id {ticket_id}")
            link.ticket_number = ticket_number
            return link

    def begin_writeback(self, sys_id: str) -> Link:
        """Count a write-back attempt BEFORE its PATCH: after a kill mid-request the next try sees an
        attempt and reads the incident first instead of appending the work note again."""
        with self._write() as session:
            link = session.exec(select(Link).where(col(Link.sys_id) == sys_id)).first()
            if link is None:
                raise LinkNotFound(f"no link for sys_id {sys_id!r}")
            link.writeback_attempts += 1
            return link

    def begin_return(self, ticket_id: int) -> Link:
        """Mark a return-trip PATCH in flight (cleared by :meth:`update_return_synced`)."""
        with self._write() as session:
            link = session.exec(select(Link).where(col(Link.ticket_id) == ticket_id)).first()
            if link is None:
                raise LinkNotFound(f"no link for ticket id {ticket_id}")
            link.return_in_flight = True
            return link

    def mark_writeback(
        self,
        sys_id: str,
        state: WritebackState | str,
        *,
        now: datetime,
        error: str | None = None,
        next_at: datetime | None = None,
        summary: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        note: str | None = None,
    ) -> Link:
        """Record a write-back outcome (with its audit event, one transaction); ``note`` replaces
        the link's note when given.

        done: finished. pending + ``next_at``: retry then. failed: gave up until a user asks again
        (``mark_writeback(sys_id, "pending")``). Attempts are counted by :meth:`begin_writeback`.
        Never touches the queue item: a failed write-back never causes a second create.
        """
        now = require_utc(now, "now")
        wanted = WritebackState(state)
        with self._write() as session:
            link = session.exec(select(Link).where(col(Link.sys_id) == sys_id)).first()
            if link is None:
                raise LinkNotFound(f"no link for sys_id {sys_id!r}")
            # Attempts are counted by begin_writeback, before the request goes out.
            link.writeback_state = wanted
            if note is not None:
                link.note = note
            link.writeback_error = None if wanted == WritebackState.DONE else error
            link.writeback_next_at = require_utc(next_at, "next_at") if next_at is not None else None
            if wanted == WritebackState.DONE:
                link.writeback_next_at = None
            outcome = {
                WritebackState.DONE: AuditOutcome.OK,
                WritebackState.PENDING: AuditOutcome.RETRY if error else AuditOutcome.OK,
                WritebackState.FAILED: AuditOutcome.FAILED,
            }[wanted]
            default_summary = {
                WritebackState.DONE: f"{link.incident_number} now names ticket {link.ticket_number}",
                WritebackState.PENDING: (
                    f"{link.incident_number}: write-back failed ({error}); will retry"
                    if error
                    else f"{link.incident_number}: write-back queued again"
                ),
                WritebackState.FAILED: f"{link.incident_number}: write-back failed: {error}",
            }[wanted]
            self._audit(
                session,
                now=now,
                direction=AuditDirection.OUTBOUND,
                kind="writeback",
                outcome=outcome,
                summary=summary or default_summary,
                link=link,
                request_body=request_body,
                response_body=response_body,
            )
            return link

    def update_return_synced(
        self,
        ticket_id: int,
        synced: dict[str, str],
        *,
        now: datetime,
        summary: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
        kind: str = "update",
        outcome: AuditOutcome = AuditOutcome.OK,
        note: str | None = None,
    ) -> Link:
        """Return trip step 2: merge the values just synced back into the link, with the audit event.

        Merged (not replaced) so a PATCH that sent only the changed field keeps the others. The
        link's note becomes ``note`` (None clears it: the last round had nothing to say).
        """
        now = require_utc(now, "now")
        with self._write() as session:
            link = session.exec(select(Link).where(col(Link.ticket_id) == ticket_id)).first()
            if link is None:
                raise LinkNotFound(f"no link for ticket id {ticket_id}")
            merged = dict(link.return_synced)
            merged.update(synced)
            link.return_synced = merged  # a new dict: JSON columns do not track in-place changes
            link.return_in_flight = False
            link.last_return_at = now
            link.note = note
            changes = ", ".join(f"{name} {value}" for name, value in synced.items())
            self._audit(
                session,
                now=now,
                direction=AuditDirection.RETURN,
                kind=kind,
                outcome=outcome,
                summary=summary
                or f"{link.incident_number} updated from ticket {link.ticket_number}: {changes}",
                link=link,
                request_body=request_body,
                response_body=response_body,
            )
            return link

    # ---- audit -----------------------------------------------------------------------------------

    def add_audit(
        self,
        *,
        direction: AuditDirection | str,
        kind: str,
        outcome: AuditOutcome | str,
        summary: str,
        now: datetime,
        sys_id: str | None = None,
        incident_number: str | None = None,
        ticket_id: int | None = None,
        ticket_number: str | None = None,
        request_body: str | None = None,
        response_body: str | None = None,
    ) -> AuditEvent:
        """Append one event (skips, auth failures, recoveries...). Bodies: exact JSON, no headers."""
        now = require_utc(now, "now")
        with self._write() as session:
            return self._audit(
                session,
                now=now,
                direction=direction,
                kind=kind,
                outcome=outcome,
                summary=summary,
                sys_id=sys_id,
                incident_number=incident_number,
                ticket_id=ticket_id,
                ticket_number=ticket_number,
                request_body=request_body,
                response_body=response_body,
            )

    def list_audit(
        self,
        *,
        direction: AuditDirection | str | None = None,
        sys_id: str | None = None,
        ticket_id: int | None = None,
        limit: int = 200,
        before_id: int | None = None,
    ) -> list[AuditEvent]:
        """Newest first; page further back with ``before_id`` = the last id you got."""
        query = select(AuditEvent)
        if direction is not None:
            query = query.where(col(AuditEvent.direction) == AuditDirection(direction))
        if sys_id is not None:
            query = query.where(col(AuditEvent.sys_id) == sys_id)
        if ticket_id is not None:
            query = query.where(col(AuditEvent.ticket_id) == ticket_id)
        if before_id is not None:
            query = query.where(col(AuditEvent.id) < before_id)
        query = query.order_by(col(AuditEvent.id).desc()).limit(limit)
        with self._read() as session:
            return list(session.exec(query).all())

    # ---- cursors ---------------------------------------------------------------------------------

    def get_cursor(self, system: str) -> Cursor:
        """The poll position; a fresh (unsaved) cursor with no watermark when never polled."""
        with self._read() as session:
            cursor = session.get(Cursor, system)
            return cursor if cursor is not None else Cursor(system=system, seen={})

    def save_cursor(
        self,
        system: str,
        watermark: datetime | None,
        seen: dict[str, str],
        *,
        now: datetime,
        covered_since: datetime | None = None,
    ) -> Cursor:
        """A successful poll: store the watermark (only after its records are stored) and ``seen``.
        ``covered_since`` (where this poll began reading) is kept only by the very first poll."""
        now = require_utc(now, "now")
        with self._write() as session:
            cursor = session.get(Cursor, system) or Cursor(system=system, seen={})
            if cursor.covered_since is None and covered_since is not None:
                cursor.covered_since = require_utc(covered_since, "covered_since")
            cursor.watermark = require_utc(watermark, "watermark") if watermark is not None else None
            cursor.seen = dict(seen)
            cursor.last_success_at = now
            session.add(cursor)
            return cursor

    def schedule_reconcile(
        self, system: str, due_at: datetime, *, ran_at: datetime | None = None, found: Sequence[str] = ()
    ) -> Cursor:
        """Set when the next reconciliation pass runs; with ``ran_at``, also record this pass and
        what it found (record names, e.g. incident numbers), for ``status`` and the poll report."""
        with self._write() as session:
            cursor = session.get(Cursor, system) or Cursor(system=system, seen={})
            cursor.reconcile_due_at = require_utc(due_at, "due_at")
            if ran_at is not None:
                cursor.reconciled_at = require_utc(ran_at, "ran_at")
                cursor.reconcile_found = len(found)
                cursor.reconcile_summary = ", ".join(found)[:2000] if found else None
            session.add(cursor)
            return cursor

    def cursor_failure(self, system: str, error: str, *, now: datetime) -> Cursor:
        """A failed poll: the watermark stays; the error and time are kept for the health view."""
        now = require_utc(now, "now")
        with self._write() as session:
            cursor = session.get(Cursor, system) or Cursor(system=system, seen={})
            cursor.last_failure_at = now
            cursor.last_error = error
            session.add(cursor)
            return cursor


def utcnow() -> datetime:
    """Aware UTC now (a helper for callers; store methods take ``now`` explicitly for tests)."""
    return datetime.now(UTC)
