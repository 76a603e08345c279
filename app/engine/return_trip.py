"""Return-trip pipeline: changed Autotask tickets -> one PATCH per linked incident.

One query per cycle (paged by ``nextPageUrl``): tickets whose ``lastActivityDate`` is at or after
the watermark minus an overlap and that carry an externalID (only ours do). Narrowing to linked
ids would need an ``in`` list that grows with every link, so the page is filtered to linked
tickets locally (DESIGN "Return trip"). ``lastActivityDate`` also moves on notes and time
entries, so the mapped values are compared with the link's last-synced ones and only real
changes are sent.

Respect the incident (DESIGN "Return trip", step 2): the incidents a page is about to change are
read in ONE ``sys_idIN`` query first; Closed and Canceled ones are skipped with a visible reason
(never written: read-only for most users, silently reopened for an admin). The PATCH answer is
compared with what was sent: a field an ACL ignored or a business rule reverted is a warning
("sent state 6, instance kept 2"), and what the instance holds is what is recorded. The close code
is checked against the instance's ``sys_choice`` before the first resolve.

The pages run by ticket id while the filter is by time: a ticket on a page already read that a
technician edits meanwhile is behind the cursor, and only the next poll can see it. So the
watermark never takes a stamp from the pages; it moves to the tenant's time at which the poll
began (everything stamped before it was matched by the filter when paging started).

Never lose an update: when a PATCH fails in a way worth retrying, the watermark stays where it
was and the next cycle reads the window again (already applied tickets are no-ops then). A
definite refusal is shown with a Retry action and the values stay unsynced, so the next change
carries them again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace
from datetime import datetime

from app.connectors.errors import ConnectorError, Rejected
from app.domain.records import Incident, Ticket, TicketMetadata, format_iso_time
from app.domain.return_sentence import return_sentence
from app.domain.return_trip import (
    FINAL_STATES,
    TRACKED,
    ReturnUpdate,
    close_code_problems,
    plan_update,
    unknown_ids,
)
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
PATCH_CONCURRENCY = 3
IDS_PER_READ = 100  # sys_ids per batched incident read (keeps the GET URL short)
JOURNAL = frozenset({"work_notes", "comments"})


@dataclass
class ReturnReport:
    fetched: int = 0
    applied: int = 0
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    retry_later: bool = False
    lags: list[float] = field(default_factory=list)  # seconds from the ticket's change to our update


def kept_fields(sent: dict[str, str], answer: Incident) -> dict[str, tuple[str, str]]:
    """Fields whose value the instance did not take: name -> (sent, held)."""
    kept: dict[str, tuple[str, str]] = {}
    for name, value in sent.items():
        if name in JOURNAL:
            continue
        held = answer.field_text(name)
        if held != value:
            kept[name] = (value, held)
    return kept


class ReturnPipeline:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._slots = asyncio.Semaphore(PATCH_CONCURRENCY)
        self._close_codes: list[str] | None = None  # the instance's, read before the first resolve

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
        server_clock = ctx.autotask.server_clock
        began = server_clock.mark()
        since = ctx.poll_since(cursor.watermark)
        metadata = await ctx.picklists.get()
        async for page in ctx.autotask.query_tickets(self._filter(since)):
            report.fetched += len(page)
            links = await ctx.db(ctx.store.links_for_ticket_ids, [ticket.id for ticket in page])
            ours = [(ticket, links[ticket.id]) for ticket in page if ticket.id in links]
            await self._refresh_titles([ticket for ticket, _ in ours])
            metadata = await self._known(metadata, [ticket for ticket, _ in ours])
            config = ctx.config.return_trip
            changing = [
                link.sys_id
                for ticket, link in ours
                if not plan_update(ticket, metadata, link.return_synced, config).empty
            ]
            try:
                incidents = await self._read_incidents(changing)
            except ConnectorError as error:
                await ctx.pacing.hold_for("return", error)  # a Retry-After holds the next cycles too
                await ctx.failed("servicenow", error)
                report.failures.append(f"reading the incidents to update: {error}")
                report.retry_later = True
                break
            jobs = [
                self._apply(ticket, link, metadata, report, incidents.get(link.sys_id))
                for ticket, link in ours
            ]
            await asyncio.gather(*jobs)
        if not report.retry_later:
            watermark = ctx.covered(cursor.watermark, server_clock.to_server(began))
            await ctx.db(ctx.store.save_cursor, SYSTEM, watermark, {}, now=ctx.clock(), covered_since=since)
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
        incidents = await self._read_incidents([link.sys_id])
        await self._apply(ticket, link, metadata, report, incidents.get(link.sys_id))
        return not report.failures

    async def _read_incidents(self, sys_ids: list[str]) -> dict[str, Incident]:
        """The current incidents, one ``sys_idIN`` query per 100 (not one GET per change). One that
        is missing (deleted, hidden by an ACL) is left to the PATCH, which says so."""
        found: dict[str, Incident] = {}
        ids = sorted(set(sys_ids))
        for start in range(0, len(ids), IDS_PER_READ):
            query = "sys_idIN" + ",".join(ids[start : start + IDS_PER_READ])
            async for page in self.ctx.servicenow.query_incidents(query):
                found.update((incident.sys_id, incident) for incident in page)
        return found

    async def close_code_problems(self, *, refresh: bool = False) -> list[str]:
        """The configured close codes the instance does not offer (read from sys_choice once)."""
        if self._close_codes is None or refresh:
            self._close_codes = await self.ctx.servicenow.close_codes()
        return close_code_problems(self.ctx.config.return_trip, self._close_codes)

    async def _known(self, metadata: TicketMetadata, tickets: list[Ticket]) -> TicketMetadata:
        """Picklists that know every status and priority id of ``tickets``: an unknown id (a status
        added or renamed in Autotask) reads them again at once, before anything is planned."""
        unknown = sorted(
            {f"{name} {value}" for ticket in tickets for name, value in unknown_ids(ticket, metadata)}
        )
        if not unknown:
            return metadata
        return await self.ctx.picklists.refresh(f"the return trip met unknown id(s): {', '.join(unknown)}")

    def unsynced(self, ticket: Ticket, link: Link, metadata: TicketMetadata) -> bool:
        """Whether the ticket's tracked values differ from what was last synced to its incident."""
        update = plan_update(ticket, metadata, link.return_synced, self.ctx.config.return_trip, None)
        return any(update.synced.get(name) != link.return_synced.get(name) for name in TRACKED)

    async def apply(self, ticket: Ticket, link: Link, metadata: TicketMetadata, report: ReturnReport) -> None:
        """Apply one linked ticket as a poll would, its incident read first (the reconciliation
        pass uses it for what it finds)."""
        await self._refresh_titles([ticket])
        incidents = await self._read_incidents([link.sys_id])
        await self._apply(ticket, link, metadata, report, incidents.get(link.sys_id))

    async def _refresh_titles(self, tickets: list[Ticket]) -> None:
        """Keep each link's ticket title current (a technician may retitle the ticket); Links shows it."""
        titles = {ticket.id: ticket.title for ticket in tickets if ticket.title}  # blank: not read
        if not titles:
            return
        changed = await self.ctx.db(self.ctx.store.refresh_ticket_titles, titles)
        for link in changed:
            self.ctx.bus.publish(LinkChanged(link_row(link)))

    async def _apply(
        self,
        ticket: Ticket,
        link: Link,
        metadata: TicketMetadata,
        report: ReturnReport,
        incident: Incident | None,
    ) -> None:
        """``incident``: its current state (read in the page's batch), so only what is still
        different is sent (after a lost answer too: never a second work note for one change)."""
        ctx = self.ctx
        update = plan_update(ticket, metadata, link.return_synced, ctx.config.return_trip, incident)
        tracked_moved = any(update.synced.get(name) != link.return_synced.get(name) for name in TRACKED)
        if update.empty:
            if tracked_moved:
                await self._skipped(ticket, link, update, incident)
            return
        if "close_code" in update.patch:  # before the first resolve: is the code one the instance offers?
            try:
                await self.close_code_problems()
            except ConnectorError as error:
                await self._failed(ticket, link, error, update.patch, report)
                return
            offered = self._close_codes or []
            code = update.patch["close_code"]
            if code not in offered:
                refused = Rejected(
                    "servicenow",
                    f"close code {code!r} is not one of the instance's resolution codes "
                    f"({', '.join(offered) or 'none'}); fix the return_trip close codes in the configuration",
                )
                await self._failed(ticket, link, refused, update.patch, report)
                return
        async with self._slots:
            if ctx.is_paused("servicenow") or ctx.pacing.held("servicenow", "return"):
                report.retry_later = True  # credentials refused or a Retry-After: keep the window
                return
            try:
                await ctx.db(ctx.store.begin_return, ticket.id)
                answer = await ctx.servicenow.update_incident(link.sys_id, update.patch)
            except ConnectorError as error:
                await self._failed(ticket, link, error, update.patch, report)
                return
        ctx.succeeded("servicenow")
        kept = kept_fields(update.patch, answer)
        held = {name: answer.field_text(name) for name in update.patch if name not in JOURNAL}
        # The sentence the desk shows live ("T… moved to In Progress → incident In Progress"), so the
        # Activity tab and the Links history read the same after a restart.
        summary = return_sentence(
            link.ticket_number or f"ticket {ticket.id}",
            [replace(change, new=held.get(change.field, change.new)) for change in update.changes],
        )
        warning = None
        if kept:
            warning = ", ".join(
                f"sent {name} {sent}, instance kept {now}" for name, (sent, now) in kept.items()
            )
            summary = (
                f"{link.incident_number}: update from ticket {link.ticket_number} not fully taken: "
                f"{warning} (a field ACL or business rule on the instance ignored or reverted it)"
            )
            report.warnings.append(summary)
        stored = await ctx.db(
            ctx.store.update_return_synced,
            ticket.id,
            update.synced,
            now=ctx.clock(),
            summary=summary,
            request_body=to_json(update.patch),
            response_body=to_json(held),
            outcome=AuditOutcome.FAILED if kept else AuditOutcome.OK,
            note=warning,
        )
        report.applied += 1
        if ticket.last_activity_date is not None:
            tenant_now = ctx.autotask.server_clock.to_server(ctx.autotask.server_clock.mark())
            report.lags.append(max(0.0, (tenant_now - ticket.last_activity_date).total_seconds()))
        ctx.bus.publish(
            ReturnApplied(
                ticket_id=ticket.id,
                ticket_number=link.ticket_number,
                sys_id=link.sys_id,
                number=link.incident_number,
                changes=tuple(
                    FieldChangeView(
                        change.field, change.old, held.get(change.field, change.new), change.reason
                    )
                    for change in update.changes
                ),
            )
        )
        ctx.bus.publish(LinkChanged(link_row(stored)))

    async def _skipped(
        self, ticket: Ticket, link: Link, update: ReturnUpdate, incident: Incident | None
    ) -> None:
        """Nothing to write (a Closed or Canceled incident, no rule, return trip off), but remember
        the ticket's values, with why; a closed incident's reason also shows in Links."""
        ctx = self.ctx
        why = "; ".join(update.warnings) or "no incident field changes"
        closed = incident is not None and incident.state in FINAL_STATES
        stored = await ctx.db(
            ctx.store.update_return_synced,
            ticket.id,
            {name: update.synced[name] for name in TRACKED if name in update.synced},
            now=ctx.clock(),
            summary=f"{link.incident_number}: ticket {link.ticket_number} changed; {why}",
            kind="skip",
            outcome=AuditOutcome.SKIPPED if closed else AuditOutcome.OK,
            note=why if closed else link.note,
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
