"""Return-trip pipeline: changed Autotask tickets -> one PATCH per linked incident.

One query per cycle (paged by ``nextPageUrl``): tickets whose ``lastActivityDate`` is at or after
the watermark minus an overlap and that carry an externalID (only ours do). Narrowing to linked
ids would need an ``in`` list that grows with every link, so the page is filtered to linked
tickets locally (DESIGN "Return trip"). ``lastActivityDate`` also moves on notes and time
entries, so the mapped values are compared with the link's last-synced ones and only real
changes are sent.

Never lose an update: when a PATCH fails in a way worth retrying, the watermark stays where it
was and the next cycle reads the window again (already applied tickets are no-ops then). A
definite refusal is shown with a Retry action and the values stay unsynced, so the next change
carries them again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.connectors.errors import ConnectorError
from app.domain.records import Ticket, TicketMetadata, format_iso_time
from app.domain.return_trip import TRACKED, plan_update, unknown_ids
from app.engine.context import EngineContext, to_json
from app.engine.convert import link_row
from app.engine.events import (
    FieldChangeView,
    LinkChanged,
    PollFinished,
    PollStarted,
    ReturnApplied,
    ReturnFailed,
    SystemName,
)
from app.store import AuditDirection, AuditOutcome, Link

SYSTEM: SystemName = "autotask"
POLL_OVERLAP = timedelta(seconds=2)
PATCH_CONCURRENCY = 3


@dataclass
class ReturnReport:
    fetched: int = 0
    applied: int = 0
    failures: list[str] = field(default_factory=list)
    retry_later: bool = False


class ReturnPipeline:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._slots = asyncio.Semaphore(PATCH_CONCURRENCY)

    def _filter(self, since: datetime) -> list[dict[str, object]]:
        return [
            {"op": "gte", "field": "lastActivityDate", "value": format_iso_time(since)},
            {"op": "exist", "field": "externalID"},
        ]

    async def poll(self) -> tuple[PollFinished, ReturnReport]:
        ctx = self.ctx
        ctx.bus.publish(PollStarted(SYSTEM))
        started = time.monotonic()
        report = ReturnReport()
        cursor = await ctx.db(ctx.store.get_cursor, SYSTEM)
        if cursor.watermark is not None:
            since = cursor.watermark - POLL_OVERLAP
        else:
            since = ctx.clock() - timedelta(hours=ctx.config.servicenow.initial_lookback_hours)
        metadata = await ctx.picklists.get()
        watermark = cursor.watermark
        async for page in ctx.autotask.query_tickets(self._filter(since)):
            report.fetched += len(page)
            links = await ctx.db(ctx.store.links_for_ticket_ids, [ticket.id for ticket in page])
            metadata = await self._known(metadata, [ticket for ticket in page if ticket.id in links])
            jobs = [
                self._apply(ticket, links[ticket.id], metadata, report)
                for ticket in page
                if ticket.id in links
            ]
            await asyncio.gather(*jobs)
            for ticket in page:
                moment = ticket.last_activity_date
                if moment is not None and (watermark is None or moment > watermark):
                    watermark = moment
        if not report.retry_later:
            await ctx.db(ctx.store.save_cursor, SYSTEM, watermark, {}, now=ctx.clock())
        ctx.succeeded(SYSTEM)
        finished = PollFinished(
            SYSTEM,
            fetched=report.fetched,
            applied=report.applied,
            duration_seconds=time.monotonic() - started,
        )
        return finished, report

    async def retry(self, ticket_id: int) -> bool:
        """Re-read one linked ticket and apply its return-trip update again (the Retry action)."""
        ctx = self.ctx
        link = await ctx.db(ctx.store.get_link, ticket_id=ticket_id)
        if link is None:
            raise LookupError(f"ticket {ticket_id} is not linked to an incident")
        ticket = await ctx.autotask.get_ticket(ticket_id)
        if ticket is None:
            raise LookupError(f"Autotask has no ticket {ticket_id} (deleted, or hidden from the API user)")
        metadata = await self._known(await ctx.picklists.get(), [ticket])
        report = ReturnReport()
        await self._apply(ticket, link, metadata, report)
        return not report.failures

    async def _known(self, metadata: TicketMetadata, tickets: list[Ticket]) -> TicketMetadata:
        """Picklists that know every status and priority id of ``tickets``: an unknown id (a status
        added or renamed in Autotask) reads them again at once, before anything is planned."""
        unknown = sorted(
            {f"{name} {value}" for ticket in tickets for name, value in unknown_ids(ticket, metadata)}
        )
        if not unknown:
            return metadata
        return await self.ctx.picklists.refresh(f"the return trip met unknown id(s): {', '.join(unknown)}")

    async def _apply(
        self, ticket: Ticket, link: Link, metadata: TicketMetadata, report: ReturnReport
    ) -> None:
        ctx = self.ctx
        incident = None
        if link.return_in_flight:
            # The last PATCH may have landed without us hearing back: read the incident and send
            # only what is still different (never a second work note for the same change).
            try:
                incident = await ctx.servicenow.get_incident(link.sys_id)
            except ConnectorError as error:
                await self._failed(ticket, link, error, {}, report)
                return
        update = plan_update(ticket, metadata, link.return_synced, ctx.config.return_trip, incident)
        tracked_moved = any(update.synced.get(name) != link.return_synced.get(name) for name in TRACKED)
        if update.empty:
            if tracked_moved:
                # Nothing to write (no rule, or return trip off), but remember we saw it, with why.
                why = "; ".join(update.warnings) or "no incident field changes"
                stored = await ctx.db(
                    ctx.store.update_return_synced,
                    ticket.id,
                    {name: update.synced[name] for name in TRACKED if name in update.synced},
                    now=ctx.clock(),
                    summary=f"{link.incident_number}: ticket {link.ticket_number} changed; {why}",
                    kind="skip",
                )
                ctx.bus.publish(LinkChanged(link_row(stored)))
            return
        async with self._slots:
            if ctx.is_paused("servicenow") or ctx.pacing.held("servicenow", "return"):
                report.retry_later = True  # credentials refused or a Retry-After: keep the window
                return
            try:
                await ctx.db(ctx.store.begin_return, ticket.id)
                await ctx.servicenow.update_incident(link.sys_id, update.patch)
            except ConnectorError as error:
                await self._failed(ticket, link, error, update.patch, report)
                return
        ctx.succeeded("servicenow")
        stored = await ctx.db(
            ctx.store.update_return_synced,
            ticket.id,
            update.synced,
            now=ctx.clock(),
            summary=(
                f"{link.incident_number} updated from ticket {link.ticket_number}: "
                + ", ".join(f"{change.field} {change.new}" for change in update.changes)
            ),
            request_body=to_json(update.patch),
        )
        report.applied += 1
        ctx.bus.publish(
            ReturnApplied(
                ticket_id=ticket.id,
                ticket_number=link.ticket_number,
                sys_id=link.sys_id,
                number=link.incident_number,
                changes=tuple(
                    FieldChangeView(change.field, change.old, change.new, change.reason)
                    for change in update.changes
                ),
            )
        )
        ctx.bus.publish(LinkChanged(link_row(stored)))

    async def _failed(
        self, ticket: Ticket, link: Link, error: ConnectorError, patch: dict[str, str], report: ReturnReport
    ) -> None:
        ctx = self.ctx
        await ctx.pacing.hold_for("return", error)
        await ctx.failed("servicenow", error)
        retry_at = ctx.retry_at(1, error) if error.retryable else None
        if error.retryable:
            report.retry_later = True
        outcome = AuditOutcome.RETRY if error.retryable else AuditOutcome.FAILED
        then = " (tried again on the next cycle)" if error.retryable else ""
        await ctx.db(
            ctx.store.add_audit,
            direction=AuditDirection.RETURN,
            kind="update",
            outcome=outcome,
            summary=f"{link.incident_number}: update from ticket {link.ticket_number} failed: {error}{then}",
            now=ctx.clock(),
            sys_id=link.sys_id,
            incident_number=link.incident_number,
            ticket_id=ticket.id,
            ticket_number=link.ticket_number,
            request_body=to_json(patch),
        )
        report.failures.append(f"{link.incident_number} <- {link.ticket_number}: {error}")
        ctx.bus.publish(
            ReturnFailed(
                ticket_id=ticket.id,
                ticket_number=link.ticket_number,
                sys_id=link.sys_id,
                number=link.incident_number,
                error=str(error),
                retry_at=retry_at,
            )
        )
