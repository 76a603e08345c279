"""Outbound pipeline: ServiceNow incidents -> queue items -> Autotask tickets -> write-back.

Poll: a small constant number of queries per cycle, never one per record: the trigger's encoded
query (new and changed matches) plus the still-waiting queue items (so one that stops matching
leaves the queue). Both are "updated since the watermark minus an overlap of minutes" (stamps are
taken when a transaction starts, not when it commits); records are handled idempotently, so the
overlap costs nothing but re-reading. The watermark moves to the instance's time at which the
poll began: every query of the poll started after it, so together they saw every record stamped
before it, whereas "newest stamp seen" could pass a record an earlier query could not see yet.

Push (DESIGN "Outbound push, step by step"): one Autotask lookup by externalID for the whole
round (and by id for incidents whose correlation_id names a ticket) -> stale snapshot re-read and
trigger re-checked -> pre-flight -> ``pushing`` stored -> create, or adopt the ticket found ->
link + ``pushed`` in one transaction -> one incident PATCH (write-back, app.engine.writeback). No
path creates a second ticket: an unknown outcome leaves the item ``pushing``, and every round
searches before it creates, whether or not our own store remembers a ticket (app.engine.adoption).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from app.connectors.errors import AuthFailed, ConnectorError, NotFound, Rejected
from app.domain.outbound import Preview, outbound_synced_values, preview
from app.domain.overrides import overrides_from_json
from app.domain.records import Incident, TicketMetadata, is_sys_id
from app.domain.triggers import evaluate, to_encoded_query
from app.engine.adoption import Existing, adopted_synced_values, find_existing, named_ticket_id
from app.engine.context import EngineContext, to_json
from app.engine.convert import link_row, queue_row
from app.engine.duplicates import DuplicateWatch
from app.engine.events import (
    ItemQueued,
    ItemRemoved,
    ItemUpdated,
    LinkChanged,
    PollFinished,
    PollStarted,
    PushFailed,
    PushStarted,
    PushSucceeded,
    SystemName,
)
from app.engine.picklists import PreflightFailed, create_ticket, has_picklist_errors, replan
from app.engine.views import QueueRow
from app.engine.writeback import WriteBack, fill_ticket_numbers
from app.store import InvalidTransition, LinkConflict, QueueItem, QueueState

log = logging.getLogger(__name__)

SYSTEM: SystemName = "servicenow"
# Waiting items re-checked by id per poll; past this many, one unfiltered "changed since" query
# is cheaper than the id lists (and just as sound).
OPEN_ID_QUERY_LIMIT = 2000
IDS_PER_QUERY = 100  # keeps the GET URL short (a sys_id is 32 characters)
WAITING = frozenset({QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED})


@dataclass
class PollCounts:
    fetched: int = 0
    queued: int = 0
    refreshed: int = 0
    removed: int = 0


@dataclass
class PushReport:
    pushed: int = 0
    failures: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # pending items auto-push leaves for a person


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class OutboundPipeline:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self.auto_push = ctx.config.outbound.auto_push
        self._slots = asyncio.Semaphore(ctx.config.outbound.push_concurrency)
        # The config is frozen, so the trigger compiles to its encoded query once.
        self.trigger_query = to_encoded_query(ctx.config.trigger).query
        self._in_flight: set[str] = set()
        self._read_at: dict[str, float] = {}  # sys_id -> monotonic time the snapshot was read
        self._unnumbered: list[tuple[QueueItem, int]] = []  # created this round, number not read yet
        self.writeback = WriteBack(ctx, self._slots)
        self.duplicates = DuplicateWatch(ctx)

    async def write_back_due(self) -> list[str]:
        return await self.writeback.due()

    # ---- poll and ingest ----------------------------------------------------------------------------

    async def poll(self) -> PollFinished:
        ctx = self.ctx
        ctx.bus.publish(PollStarted(SYSTEM))
        started = time.monotonic()
        cursor = await ctx.db(ctx.store.get_cursor, SYSTEM)
        server_clock = ctx.servicenow.server_clock
        began = server_clock.mark()
        since = ctx.poll_since(cursor.watermark)
        open_ids = await ctx.db(self._open_ids)  # 100,000 checked and sorted: not on the loop
        trigger_query = self.trigger_query
        if len(open_ids) > OPEN_ID_QUERY_LIMIT:
            queries = [""]  # everything changed since the watermark, checked locally
        else:
            queries = [trigger_query]
            if trigger_query:  # an empty trigger query already reads every changed record
                queries += [f"sys_idIN{','.join(chunk)}" for chunk in _chunks(open_ids, IDS_PER_QUERY)]
        counts = PollCounts()
        seen: set[str] = set()
        for query in queries:
            async for page in ctx.servicenow.query_incidents(query, updated_since=since):
                fresh = [inc for inc in page if inc.sys_id not in seen]
                seen.update(inc.sys_id for inc in fresh)
                counts.fetched += len(fresh)
                await self.ingest(fresh, counts)
        await self.duplicates.compare_new()  # one comparison for the whole poll, not one per page
        # Only now, with every record stored, may the watermark move: to the time every query covered.
        watermark = ctx.covered(cursor.watermark, server_clock.to_server(began))
        await ctx.db(ctx.store.save_cursor, SYSTEM, watermark, {}, now=ctx.clock(), covered_since=since)
        ctx.succeeded(SYSTEM)
        return PollFinished(
            SYSTEM,
            fetched=counts.fetched,
            queued=counts.queued,
            refreshed=counts.refreshed,
            removed=counts.removed,
            duration_seconds=time.monotonic() - started,
        )

    async def ingest(self, incidents: Sequence[Incident], counts: PollCounts | None = None) -> None:
        """Full, freshly read incidents (from a poll or an id-only notification) -> queue changes.

        The matching ones are stored in one transaction (a page at a time, not one per incident);
        their events follow its commit, in the page's order. Waiting items that stopped matching
        leave the queue afterwards, each in its own (rare) transaction."""
        if not incidents:
            return
        ctx = self.ctx
        counts = counts or PollCounts()
        ids = [inc.sys_id for inc in incidents]
        linked = await ctx.db(ctx.store.linked_sys_ids_among, ids)
        states = await ctx.db(ctx.store.states_by_sys_id, ids)
        read_at = time.monotonic()
        # The trigger over a 500-incident page, and the queue rows of what was stored, are
        # milliseconds of CPU each: in worker threads (the event loop is the desktop's GUI thread).
        matched, leaving = await asyncio.to_thread(self._sort_page, incidents, linked, states)
        stored = await ctx.db(self._store_page, matched, ctx.clock()) if matched else []
        naming: list[tuple[QueueItem, Incident]] = []  # new items whose correlation_id names a ticket
        touched: list[str] = []  # queued or changed: compared for suspected duplicates below
        # Published in one go, in page order: nothing else (a push of one of them) can come between.
        for incident, (item, created, row) in zip(matched, stored, strict=True):
            self._read_at[incident.sys_id] = read_at
            if created and named_ticket_id(incident) is not None:
                naming.append((item, incident))
            if row is None:
                continue
            touched.append(incident.sys_id)
            if created:
                counts.queued += 1
                ctx.bus.publish(ItemQueued(row))
            else:
                counts.refreshed += 1
                ctx.bus.publish(ItemUpdated(row))
        for incident, reason in leaving:
            if incident.sys_id not in self._in_flight and await self._drop(
                incident.sys_id, incident.number, reason
            ):
                counts.removed += 1
        if touched:  # compared once the poll (or the notification) is through: see compare_new()
            self.duplicates.changed(touched)
        await self._adopt_named(naming)

    def _open_ids(self) -> list[str]:
        """The open items' sys_ids that can go into a query (remote text never does), sorted."""
        return [i for i in self.ctx.store.open_sys_ids() if is_sys_id(i)]

    def _sort_page(
        self, incidents: Sequence[Incident], linked: set[str], states: dict[str, QueueState]
    ) -> tuple[list[Incident], list[tuple[Incident, str]]]:
        """(the incidents the trigger matches, the waiting ones it no longer does and why)."""
        matched: list[Incident] = []
        leaving: list[tuple[Incident, str]] = []
        for incident in incidents:
            verdict = evaluate(self.ctx.config.trigger, incident, linked=incident.sys_id in linked)
            if verdict.matched:
                matched.append(incident)
            elif states.get(incident.sys_id) in WAITING:
                leaving.append((incident, "; ".join(verdict.reasons())))
        return matched, leaving

    def _store_page(
        self, incidents: Sequence[Incident], now: datetime
    ) -> list[tuple[QueueItem, bool, QueueRow | None]]:
        """In the store's worker thread: the page stored in one transaction, and for each item
        (item, created, the queue row its event carries when it was queued or changed)."""
        stored = self.ctx.store.upsert_from_incidents(incidents, now=now)
        return [
            (item, created, queue_row(item) if created or changed else None)
            for item, created, changed in stored
        ]

    async def _adopt_named(self, naming: Sequence[tuple[QueueItem, Incident]]) -> None:
        """An incident whose correlation_id names an existing ticket is linked, not pushed, even
        while auto-push is off (one lookup for the page; the push round checks again anyway)."""
        ctx = self.ctx
        if not naming or self._held():  # the push round looks them up once the hold has passed
            return
        try:
            existing = await find_existing(ctx.autotask, [incident for _item, incident in naming])
            metadata = await ctx.picklists.get() if existing else None
        except ConnectorError as error:
            log.warning("could not look up the tickets named by new incidents: %s", error)
            return
        for item, incident in naming:
            found = existing.get(incident.sys_id)
            if found is not None:
                await self._adopt(item, incident, found, metadata)

    async def _drop(self, sys_id: str, number: str, reason: str) -> bool:
        ctx = self.ctx
        result = await ctx.db(
            ctx.store.drop, sys_id, f"no longer matches the trigger: {reason}", now=ctx.clock()
        )
        if result.status != "changed":
            return False
        self._read_at.pop(sys_id, None)
        ctx.bus.publish(
            ItemRemoved(sys_id, number, result.item.drop_reason or reason if result.item else reason)
        )
        if result.item is not None:
            ctx.bus.publish(ItemUpdated(queue_row(result.item)))
        return True

    # ---- push -------------------------------------------------------------------------------------------

    async def push_due(self) -> PushReport:
        """Push every approved item (and, with auto-push, every pending one) whose time has come, plus
        the ``pushing`` ones left by a crash or an unknown outcome (those search before creating)."""
        ctx = self.ctx
        report = PushReport()
        if ctx.is_paused("autotask") or ctx.pacing.held("autotask", "push"):
            return report
        now = ctx.clock()
        stuck = await ctx.db(ctx.store.stuck_pushing, now)
        due = await ctx.db(ctx.store.items_to_push, now, auto_push=self.auto_push)
        items: dict[str, QueueItem] = {}
        for item in [*stuck, *due]:
            if item.sys_id not in self._in_flight:
                items.setdefault(item.sys_id, item)
        held = await self.duplicates.held(items.values()) if self.auto_push else {}
        for sys_id, reason in held.items():  # a person decides whether it is the same problem
            report.held.append(f"{items.pop(sys_id).number} {reason}")
        if not items:
            return report
        try:
            metadata = await ctx.picklists.get()
        except ConnectorError as error:
            await ctx.pacing.hold_for("push", error)
            await ctx.failed("autotask", error)
            report.failures.append(f"Autotask metadata: {error}")
            return report
        try:  # before the first create: what exists already is adopted, never created again
            existing = await find_existing(ctx.autotask, [item.incident() for item in items.values()])
        except ConnectorError as error:
            await ctx.failed("autotask", error)
            report.failures.append(f"looking up existing Autotask tickets: {error}")
            return report
        results = await asyncio.gather(
            *(self._push_one(item, metadata, existing.get(item.sys_id)) for item in items.values())
        )
        await self._announce_new_tickets()
        for outcome in results:
            if outcome is True:
                report.pushed += 1
            elif isinstance(outcome, str):
                report.failures.append(outcome)
        return report

    async def settle_unknown(self) -> None:
        """Resolve unknown create outcomes now, whatever their retry time: the search by externalID
        is read-only, so it is safe at once (``run --once`` must not leave them for a later run).
        A ticket found is linked; none found leaves the item ``pushing`` (the next try searches
        again before it creates)."""
        ctx = self.ctx
        if self._held():  # the search is read-only, but a Retry-After asked for quiet
            return
        stuck = [item for item in await ctx.db(ctx.store.stuck_pushing) if item.sys_id not in self._in_flight]
        if not stuck:
            return
        try:
            existing = await find_existing(ctx.autotask, [item.incident() for item in stuck])
            metadata = await ctx.picklists.get() if existing else None
        except ConnectorError as error:
            await ctx.pacing.hold_for("push", error)
            await ctx.failed("autotask", error)
            return
        for item in stuck:
            found = existing.get(item.sys_id)
            if found is not None and metadata is not None:
                draft = preview(
                    item.incident(),
                    ctx.config.outbound,
                    metadata,
                    now=ctx.clock(),
                    overrides=overrides_from_json(item.overrides),
                )
                ticket = found.ticket
                await self._linked(item, draft, ticket.id, ticket.ticket_number, recovered=True)
        await self._announce_new_tickets()

    async def _push_one(
        self, item: QueueItem, metadata: TicketMetadata, found: Existing | None
    ) -> bool | str | None:
        """True: linked. A string: a failure to report. None: nothing to do (dropped, paused)."""
        async with self._slots:
            if item.sys_id in self._in_flight or self._held():
                return None
            self._in_flight.add(item.sys_id)
            try:
                return await self._push(item, metadata, found)
            finally:
                self._in_flight.discard(item.sys_id)

    def _held(self) -> bool:
        """Autotask paused (credentials) or a Retry-After holds every push."""
        return self.ctx.is_paused("autotask") or self.ctx.pacing.held("autotask", "push") is not None

    async def _push(
        self, item: QueueItem, metadata: TicketMetadata, found: Existing | None
    ) -> bool | str | None:
        ctx = self.ctx
        recovering = item.state == QueueState.PUSHING
        incident = item.incident()
        if found is not None and not recovering:  # a ticket exists: link it, whatever the trigger says now
            return await self._adopt(item, incident, found, metadata)
        if not recovering:
            checked = await self._fresh_incident(item)
            if checked is None:
                return None
            incident = checked
        overrides = overrides_from_json(item.overrides)  # a person's values for this one ticket
        draft = preview(incident, ctx.config.outbound, metadata, now=ctx.clock(), overrides=overrides)
        if has_picklist_errors(draft):  # a value added or renamed in Autotask since they were read
            try:
                draft = await replan(
                    ctx, incident, f"{item.number} names a value the picklists did not know", overrides
                )
            except ConnectorError as error:  # cannot tell yet: try again later, nothing was sent
                return await self._push_error(item, max(1, item.attempts), error, draft, before_push=True)
        if not draft.ok and not recovering:
            return await self._refused(item, "pre-flight check failed: " + "; ".join(draft.errors), draft)
        by = item.decided_by or "auto-push"
        try:
            attempt = await ctx.db(ctx.store.mark_pushing, item.sys_id, now=ctx.clock(), by=by)
        except InvalidTransition:
            return None  # a user rejected it meanwhile
        ctx.bus.publish(PushStarted(item.sys_id, item.number, attempt))
        current = await self._publish_item(item.sys_id)
        if current is not None and current.overrides != item.overrides and not recovering:
            # A person changed the ticket's fields while this push was planned. Now that it is
            # ``pushing`` the store refuses further changes, so what it holds is what goes out.
            overrides = overrides_from_json(current.overrides)
            draft = preview(incident, ctx.config.outbound, metadata, now=ctx.clock(), overrides=overrides)

        if found is not None:  # our own earlier create landed (its answer was lost): link it
            return await self._linked(
                item, draft, found.ticket.id, found.ticket.ticket_number, recovered=True
            )
        if not draft.ok:
            return await self._refused(item, "pre-flight check failed: " + "; ".join(draft.errors), draft)
        try:
            ticket_id, draft = await create_ticket(ctx, item.number, incident, draft, overrides)
        except PreflightFailed as failed:
            return await self._refused(item, str(failed), failed.draft)
        except Rejected as error:
            return await self._refused(item, error.message, draft)
        except ConnectorError as error:
            return await self._push_error(item, attempt, error, draft)
        ctx.succeeded("autotask")
        return await self._linked(item, draft, ticket_id, "", recovered=False)

    async def _adopt(
        self, item: QueueItem, incident: Incident, found: Existing, metadata: TicketMetadata | None
    ) -> bool | str:
        """Link a ticket that already exists (lost database, second desk, an incident naming its
        ticket): nothing is created, and the incident is written to only if it does not name it."""
        ctx = self.ctx
        ticket = found.ticket
        shown = ticket.ticket_number or str(ticket.id)
        names_it = incident.correlation_id.strip() == str(ticket.id)
        try:
            link = await ctx.db(
                ctx.store.record_pushed,
                item.sys_id,
                ticket_id=ticket.id,
                ticket_number=ticket.ticket_number,
                outbound_values={},
                return_synced=adopted_synced_values(ticket, metadata),
                now=ctx.clock(),
                kind="adopted",
                summary=(
                    f"{item.number}: ticket {shown} already exists in Autotask (found by {found.how}); "
                    "adopted it, nothing created"
                ),
                response_body=to_json(
                    {"id": ticket.id, "ticketNumber": ticket.ticket_number, "externalID": ticket.external_id}
                ),
                adopted=True,
                writeback_done=names_it,
                ticket_title=ticket.title,
            )
        except LinkConflict as error:
            return await self._refused(item, str(error), None)
        self._read_at.pop(item.sys_id, None)
        ctx.bus.publish(PushSucceeded(item.sys_id, item.number, ticket.id, ticket.ticket_number, True))
        ctx.bus.publish(LinkChanged(link_row(link)))
        await self._publish_item(item.sys_id)
        return True

    async def _fresh_incident(self, item: QueueItem) -> Incident | None:
        """The snapshot, or a re-read when it is older than ``freshness_seconds``; None when the
        incident no longer qualifies (then it has left the queue)."""
        ctx = self.ctx
        read_at = self._read_at.get(item.sys_id)
        limit = ctx.config.outbound.freshness_seconds
        incident = item.incident()
        if read_at is None or time.monotonic() - read_at > limit:
            if ctx.is_paused("servicenow"):
                return None  # cannot re-read now; the item waits as it is

            try:
                incident = await ctx.servicenow.get_incident(item.sys_id)
            except NotFound:
                await self._drop(item.sys_id, item.number, "the incident no longer exists or is hidden")
                return None
            except ConnectorError as error:
                await self._push_error(item, max(1, item.attempts), error, None, before_push=True)
                return None
            self._read_at[item.sys_id] = time.monotonic()
            updated, _created, changed = await ctx.db(
                ctx.store.upsert_from_incident, incident, now=ctx.clock()
            )
            if changed:
                ctx.bus.publish(ItemUpdated(queue_row(updated)))
        linked = await ctx.db(ctx.store.linked_sys_ids_among, [item.sys_id])
        verdict = evaluate(ctx.config.trigger, incident, linked=item.sys_id in linked)
        if not verdict.matched:
            if item.forced_reason and item.sys_id not in linked:
                return incident  # pushed anyway: a person decided, the trigger does not overrule it
            await self._drop(item.sys_id, item.number, "; ".join(verdict.reasons()))
            return None
        return incident

    async def _refused(self, item: QueueItem, message: str, draft: Preview | None) -> str:
        ctx = self.ctx
        body = to_json(draft.payload) if draft is not None else None
        try:
            await ctx.db(
                ctx.store.mark_failed, item.sys_id, message, None, now=ctx.clock(), request_body=body
            )
        except InvalidTransition:
            pass
        ctx.bus.publish(PushFailed(item.sys_id, item.number, message, permanent=True))
        await self._publish_item(item.sys_id)
        return f"{item.number}: {message}"

    async def _push_error(
        self,
        item: QueueItem,
        attempt: int,
        error: ConnectorError,
        draft: Preview | None,
        *,
        before_push: bool = False,
    ) -> str:
        ctx = self.ctx
        system = error.system
        await ctx.pacing.hold_for("push" if system == "autotask" else "poll", error)
        await ctx.failed(system, error)
        retry_at = ctx.retry_at(attempt, error)
        body = to_json(draft.payload) if draft is not None else None
        try:
            if error.outcome_unknown and not before_push:
                await ctx.db(
                    ctx.store.mark_push_uncertain,
                    item.sys_id,
                    str(error),
                    retry_at,
                    now=ctx.clock(),
                    request_body=body,
                )
            else:
                await ctx.db(
                    ctx.store.mark_failed,
                    item.sys_id,
                    str(error),
                    retry_at,
                    now=ctx.clock(),
                    request_body=body,
                )
        except InvalidTransition:
            pass
        permanent = False
        if isinstance(error, AuthFailed):
            message = f"{item.number}: waiting for {system} credentials"
        else:
            message = f"{item.number}: {error}; retry at {retry_at:%H:%M:%S} UTC"
        ctx.bus.publish(PushFailed(item.sys_id, item.number, str(error), permanent, retry_at))
        await self._publish_item(item.sys_id)
        return message

    async def _linked(
        self, item: QueueItem, draft: Preview, ticket_id: int, ticket_number: str, *, recovered: bool
    ) -> bool | str:
        ctx = self.ctx
        kind = "recovered" if recovered else "create"
        summary = (
            f"{item.number}: found ticket {ticket_number or ticket_id} already in Autotask; linked it"
            if recovered
            else f"{item.number} -> new Autotask ticket {ticket_id}"
        )
        overridden = sorted({f.overridden_by for f in draft.fields if f.overridden_by})
        if overridden and not recovered:
            fields = ", ".join(f.target for f in draft.fields if f.overridden_by)
            summary += f" ({fields} overridden by {', '.join(overridden)})"
        try:
            link = await ctx.db(
                ctx.store.record_pushed,
                item.sys_id,
                ticket_id=ticket_id,
                ticket_number=ticket_number,
                outbound_values=dict(draft.payload),
                return_synced=outbound_synced_values(draft),
                now=ctx.clock(),
                kind=kind,
                summary=summary,
                request_body=None if recovered else to_json(draft.payload),
                response_body=to_json({"itemId": ticket_id}),
                ticket_title=str(draft.payload.get("title", "")),
            )
        except LinkConflict as error:
            return await self._refused(item, str(error), draft)
        self._read_at.pop(item.sys_id, None)
        if ticket_number:
            ctx.bus.publish(PushSucceeded(item.sys_id, item.number, ticket_id, ticket_number, recovered))
            ctx.bus.publish(LinkChanged(link_row(link)))
        else:  # announced with its number once the round's numbers are read (one query for all)
            self._unnumbered.append((item, ticket_id))
        await self._publish_item(item.sys_id)
        return True

    async def _announce_new_tickets(self) -> None:
        ctx = self.ctx
        created, self._unnumbered = self._unnumbered, []
        if not created:
            return
        try:
            numbers = await fill_ticket_numbers(ctx, [ticket_id for _item, ticket_id in created])
        except ConnectorError as error:
            await ctx.failed("autotask", error)  # the write-back step reads them again later
            numbers = {}
        for item, ticket_id in created:
            number = numbers.get(ticket_id, "")
            ctx.bus.publish(PushSucceeded(item.sys_id, item.number, ticket_id, number, False))
            link = await ctx.db(ctx.store.get_link, ticket_id=ticket_id)
            if link is not None:
                ctx.bus.publish(LinkChanged(link_row(link)))

    async def _publish_item(self, sys_id: str) -> QueueItem | None:
        item = await self.ctx.db(self.ctx.store.get_item, sys_id)
        if item is not None:
            self.ctx.bus.publish(ItemUpdated(queue_row(item)))
        return item
