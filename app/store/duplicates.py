"""Suspected duplicates on queue items (revision 0009): which items to compare, and the marks.

The engine reads the recent items (:meth:`DuplicateStore.duplicate_candidates`), lets
app.domain.duplicates decide, and writes the verdict back (:meth:`DuplicateStore.mark_duplicates`):
a waiting suspect gets ``duplicate_of`` and the reason, an item that no longer looks like one loses
them. Only waiting items are marked; pushed, rejected and dropped ones keep what they had.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import select as select_columns
from sqlmodel import col

from app.store.desk_session import WAITING, DeskSession
from app.store.models import AuditOutcome, QueueItem, QueueState
from app.store.queue import items_by_sys_id
from app.store.session import chunks, young_collected
from app.store.types import require_utc

# A rejected incident was still a report of its problem: a repeat of it waits for a person too (its
# rejection does not let auto-push send the repeat). A dropped one (cancelled, re-categorised) was not.
COMPARED = (
    QueueState.PENDING,
    QueueState.APPROVED,
    QueueState.FAILED,
    QueueState.PUSHING,
    QueueState.PUSHED,
    QueueState.REJECTED,
)


# A queued incident's stored snapshot and which ServiceNow update it is, (sys_id, number, version,
# snapshot): version is (sys_mod_count, sys_updated_on), a new one means a new snapshot; snapshot is
# None when the reader already had this version. A plain tuple of strings and times, not an object:
# the garbage collector stops tracking it, so 100,000 of them do not lengthen its full passes (each
# one holds every thread, the desktop's GUI thread included).
StoredSnapshot = tuple[str, str, tuple[int, datetime], str | None]


def _snapshots(
    connection: Connection, sys_ids: Sequence[str]
) -> Iterator[tuple[str, tuple[tuple[int, datetime], str]]]:
    """(sys_id, (version, snapshot)) of these items, the version read with the text (an item may
    have changed since its version was listed)."""
    for chunk in chunks(sys_ids):
        query = select_columns(
            col(QueueItem.sys_id),
            col(QueueItem.sn_mod_count),
            col(QueueItem.sn_updated_on),
            col(QueueItem.snapshot),
        ).where(col(QueueItem.sys_id).in_(chunk))
        for sys_id, mod_count, updated_on, snapshot in connection.execute(query):
            yield sys_id, ((mod_count, updated_on), snapshot)


class DuplicateStore(DeskSession):
    def duplicate_candidates(
        self, queued_since: datetime, known: Mapping[str, tuple[int, datetime]] | None = None
    ) -> list[StoredSnapshot]:
        """Items worth comparing: queued since then (pushed and rejected ones too: a repeat of an
        incident whose ticket exists, or that a person rejected, is still a repeat), plus every
        waiting item, oldest first. Only waiting items are ever marked.

        ``known``: sys_id -> the version the caller has already parsed; those items come without
        their snapshot (``None``). Each poll compares every waiting item: reading 100,000 snapshots
        of a few KB to parse the few new ones was most of the check's time and memory."""
        since = require_utc(queued_since, "queued_since")
        known = known or {}
        versions = (
            select_columns(  # SQLAlchemy's: sqlmodel's select() types at most four columns
                col(QueueItem.sys_id),
                col(QueueItem.number),
                col(QueueItem.sn_mod_count),
                col(QueueItem.sn_updated_on),
            )
            .where(
                col(QueueItem.state).in_(COMPARED),
                (col(QueueItem.queued_at) >= since) | col(QueueItem.state).in_(WAITING),
            )
            .order_by(col(QueueItem.queued_at), col(QueueItem.id))
        )
        with self._desk_read() as session:
            connection = session.connection()  # Core rows, streamed: no ORM buffering of every row
            listed: list[StoredSnapshot] = [
                (sys_id, number, (mod_count, updated_on), None)
                for sys_id, number, mod_count, updated_on in young_collected(connection.execute(versions))
            ]
            wanted = [sys_id for sys_id, _number, version, _none in listed if known.get(sys_id) != version]
            texts = dict(young_collected(_snapshots(connection, wanted)))
        if len(texts) < len(wanted):  # deleted since they were listed: not compared this time
            gone = set(wanted).difference(texts)
            listed = [item for item in listed if item[0] not in gone]
        # In place, one item at a time: building a second list and freeing the first (with 100,000
        # rows) would hold the interpreter lock for a long uninterrupted while (release_in_slices).
        for index, (sys_id, number, _version, _none) in young_collected(enumerate(listed)):
            if sys_id in texts:
                listed[index] = (sys_id, number, *texts.pop(sys_id))
        return listed

    def mark_duplicates(
        self, compared: Collection[str], found: Mapping[str, tuple[str, str]], *, now: datetime
    ) -> list[QueueItem]:
        """``found``: sys_id -> (primary number, reason) for the suspects among ``compared``.
        Marks new suspects (audited once), clears items of ``compared`` that no longer are one.
        Returns the items whose mark changed."""
        now = require_utc(now, "now")
        changed: list[QueueItem] = []
        with self._desk_write() as session:
            # The waiting items' marks as plain columns, in one pass: loading each compared item as
            # an ORM object took ~18 s of Python at 100,000 waiting, and asking by chunks of ids
            # let SQLite pick the state index and scan most of the table for each chunk. Only the
            # few items whose mark changes are loaded to be written (by id alone, same reason).
            # (A set of 100,000 ids made here held the lock ~7 ms: the engine passes a set view.)
            wanted = compared if isinstance(compared, AbstractSet) else set(compared)
            # Core rows, streamed: 100,000 ORM-buffered rows lived long enough to set off full
            # garbage collections.
            marks = session.connection().execute(
                select_columns(
                    col(QueueItem.sys_id), col(QueueItem.duplicate_of), col(QueueItem.duplicate_note)
                ).where(col(QueueItem.state).in_(WAITING))
            )
            moved = [
                sys_id
                for sys_id, primary, note in marks
                if sys_id in wanted and (primary, note) != found.get(sys_id, (None, None))
            ]
            for item in items_by_sys_id(session, moved).values():
                if item.state not in WAITING:
                    continue
                primary, note = found.get(item.sys_id, (None, None))
                newly = item.duplicate_of is None and primary is not None
                item.duplicate_of, item.duplicate_note = primary, note
                item.updated_at = now
                session.add(item)
                changed.append(item)
                if newly:
                    self._desk_audit(
                        session,
                        item,
                        now=now,
                        kind="duplicate",
                        outcome=AuditOutcome.SKIPPED,
                        summary=f"{item.number}: {note}; auto-push leaves it for a person",
                    )
        return changed
