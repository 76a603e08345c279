"""Suspected duplicates, kept current on the queue: after new or changed incidents are queued, the
recent items are compared (app.domain.duplicates) and the marks written to the store.

Auto-push asks :meth:`DuplicateWatch.held` which pending items it must leave for a person: the
marked ones, and any queued since the last comparison (an incident queued a moment ago could be a
repeat of one queued in the same poll; it waits until the comparison has run).
"""

from __future__ import annotations

from collections.abc import Iterable, KeysView
from datetime import datetime, timedelta

from app.domain.duplicates import Candidate, CandidateFields, DuplicateRules, comparable, suspicions
from app.domain.records import Incident
from app.engine.context import EngineContext
from app.engine.convert import queue_row
from app.engine.events import ItemUpdated
from app.store import QueueItem, QueueState
from app.store.duplicates import StoredSnapshot
from app.store.session import release_in_slices, young_collected

Version = tuple[int, datetime]  # (sys_mod_count, sys_updated_on) of a snapshot
Cache = tuple[dict[str, Version], dict[str, CandidateFields]]


class DuplicateWatch:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        settings = ctx.config.duplicates
        window = timedelta(hours=settings.window_hours) if settings.enabled else timedelta(0)
        self.rules = DuplicateRules(window=window, min_similarity=settings.min_similarity)
        self._unscanned: set[str] = set()  # queued or changed since the last comparison
        self._scanned_once = False
        self._suspects: dict[str, str] = {}  # sys_id -> primary number, as of the last comparison
        # What the last comparison parsed: sys_id -> the snapshot's version, sys_id -> its
        # candidate's fields. Each poll compares thousands of items, and parsing every snapshot
        # again held the interpreter (and so the GUI thread) for long. Plain tuples of strings and
        # times: the garbage collector stops tracking them (and then the dicts holding only them),
        # so 100,000 cached candidates do not lengthen its passes. Swapped whole, never edited.
        self._cache: Cache = ({}, {})

    def changed(self, sys_ids: Iterable[str]) -> None:
        self._unscanned.update(sys_ids)

    async def compare_new(self) -> None:
        """Compare now if anything was queued or changed since the last comparison."""
        if self._unscanned:
            await self.scan()

    async def scan(self) -> None:
        """Compare the recent and waiting items; mark new suspects, clear what no longer is one."""
        ctx = self.ctx
        pending, self._unscanned = self._unscanned, set()
        self._scanned_once = True
        if not self.rules.enabled:
            return
        # Queued within two windows: an incident opened up to a window before a recent one may
        # have been queued a little later than it was opened.
        since = ctx.clock() - 2 * self.rules.window
        try:
            # Reading, parsing and comparing: off the event loop (the GUI's loop), and what they
            # make is freed there too (freeing 100,000 snapshots took the GUI thread ~10 ms).
            found, compared = await ctx.db(self._read_and_compare, since)
            changed = await ctx.db(ctx.store.mark_duplicates, compared, found, now=ctx.clock())
        except BaseException:
            self._unscanned |= pending  # not compared: they stay held until a comparison runs
            raise
        self._suspects = {sys_id: primary for sys_id, (primary, _why) in found.items()}
        for item in changed:
            ctx.bus.publish(ItemUpdated(queue_row(item)))

    def _read_and_compare(self, since: datetime) -> tuple[dict[str, tuple[str, str]], KeysView[str]]:
        """The items to compare, read without the snapshots already parsed, then compared (in a
        worker thread)."""
        versions, fields = self._cache  # this pair stays as it is (swapped whole by each scan)
        items = self.ctx.store.duplicate_candidates(since, versions)
        try:
            return self._compare(items, fields)
        finally:
            release_in_slices(items)  # their snapshots: freed at once, they held the GUI thread

    def _compare(
        self, items: list[StoredSnapshot], known: dict[str, CandidateFields]
    ) -> tuple[dict[str, tuple[str, str]], KeysView[str]]:
        """(sys_id -> (primary number, reason) for each suspect, the sys_ids compared). In a worker
        thread: with 100,000 waiting, even listing their ids is milliseconds. ``items`` come
        without a snapshot where ``known`` has their candidate. Two scans may overlap (a poll and
        auto-push): each builds its own cache and swaps it in whole, never editing one another
        thread reads. No new list or set of every item: each young garbage collection walks
        every such container while it is new (10-20 ms with 100,000 entries)."""
        versions: dict[str, Version] = {}
        fields: dict[str, CandidateFields] = {}
        for sys_id, _number, version, snapshot in young_collected(items):
            if snapshot is None:
                fields[sys_id] = known[sys_id]
            else:
                fields[sys_id] = Candidate.from_incident(Incident.model_validate_json(snapshot)).fields()
            versions[sys_id] = version
        self._cache = (versions, fields)  # also forgets the items no longer compared
        found = {
            sys_id: (suspect.primary_number, suspect.reason())
            for sys_id, suspect in suspicions(comparable(fields.values()), self.rules).items()
        }
        return found, versions.keys()

    async def held(self, items: Iterable[QueueItem]) -> dict[str, str]:
        """sys_id -> why auto-push leaves this pending item for a person."""
        pending = [item for item in items if item.state == QueueState.PENDING]
        if not pending or not self.rules.enabled:
            return {}
        if not self._scanned_once or any(item.sys_id in self._unscanned for item in pending):
            await self.scan()
        return {
            item.sys_id: f"held: possible duplicate of {self._suspects[item.sys_id]}; waiting for a person"
            for item in pending
            if item.sys_id in self._suspects
        }
