"""Outbound step 5: tell the incident which ticket it has (one PATCH per incident).

The PATCH sets ``correlation_id``/``correlation_display`` and appends a work note naming the
ticket. Two rules keep it safe on real instances:

- a work note is never appended twice: the attempt is counted before the PATCH goes out, and a
  later try (after a timeout, a reset or a kill) reads the incident first;
- ``correlation_id``/``correlation_display`` are often owned by other integrations: when they hold
  a value that is not ours, they are left alone; the link lives in our store and the Links view
  says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from app.connectors.errors import ConnectorError, NotFound, Rejected
from app.domain.records import Incident
from app.engine.context import EngineContext, to_json
from app.engine.convert import link_row
from app.engine.events import LinkChanged
from app.store import Link, WritebackState


async def fill_ticket_numbers(ctx: EngineContext, ticket_ids: Sequence[int]) -> dict[int, str]:
    """A create answers with the id only: read the numbers of a whole batch in one query."""
    numbers: dict[int, str] = {}
    async for page in ctx.autotask.query_tickets_by_ids(ticket_ids, include_fields=("id", "ticketNumber")):
        for ticket in page:
            if ticket.ticket_number:
                numbers[ticket.id] = ticket.ticket_number
                await ctx.db(ctx.store.set_ticket_number, ticket.id, ticket.ticket_number)
    return numbers


def foreign_correlation(incident: Incident, ticket_id: int, ticket_number: str) -> str | None:
    """What another integration keeps in correlation_id/correlation_display ("correlation_id holds
    'JIRA-4711'"), or None when both are empty or ours."""
    value = incident.correlation_id.strip()
    if value and value != str(ticket_id):
        return f"correlation_id holds {value!r}"
    display = incident.correlation_display.strip()
    if not value and display and display != ticket_number:
        return f"correlation_display holds {display!r}"
    return None


class WriteBack:
    def __init__(self, ctx: EngineContext, slots: asyncio.Semaphore) -> None:
        self.ctx = ctx
        self._slots = slots

    def _held(self) -> bool:
        """ServiceNow paused (credentials) or a Retry-After holds every write-back."""
        ctx = self.ctx
        return ctx.is_paused("servicenow") or ctx.pacing.held("servicenow", "writeback") is not None

    async def due(self) -> list[str]:
        """Every link whose write-back is due: one PATCH per incident. Ticket numbers are read for
        the whole batch first. Returns one message per problem."""
        ctx = self.ctx
        if self._held():
            return []
        links = await ctx.db(ctx.store.writebacks_due, ctx.clock())
        if not links:
            return []
        missing = [link.ticket_id for link in links if not link.ticket_number]
        if missing and not ctx.is_paused("autotask"):
            try:
                await fill_ticket_numbers(ctx, missing)
            except ConnectorError as error:
                await ctx.failed("autotask", error)
                return [f"reading ticket numbers: {error}"]
            links = await ctx.db(ctx.store.writebacks_due, ctx.clock())
        ready = [link for link in links if link.ticket_number]
        results = await asyncio.gather(*(self._one(link) for link in ready))
        return [message for message in results if message]

    async def _current(self, link: Link) -> Incident | None:
        """The incident as we last know it: read again after an earlier attempt (it may have
        landed), else the queue snapshot (re-read just before the push when it was stale)."""
        ctx = self.ctx
        if link.writeback_attempts > 0:
            return await ctx.servicenow.get_incident(link.sys_id)
        item = await ctx.db(ctx.store.get_item, link.sys_id)
        return item.incident() if item is not None else None

    async def _done(self, link: Link, summary: str, note: str | None = None, body: str | None = None) -> None:
        ctx = self.ctx
        updated = await ctx.db(
            ctx.store.mark_writeback,
            link.sys_id,
            WritebackState.DONE,
            now=ctx.clock(),
            summary=summary,
            note=note,
            request_body=body,
        )
        ctx.bus.publish(LinkChanged(link_row(updated)))

    async def _record(
        self,
        link: Link,
        state: WritebackState,
        error: str,
        next_at: datetime | None,
        patch: dict[str, str],
    ) -> None:
        ctx = self.ctx
        updated = await ctx.db(
            ctx.store.mark_writeback,
            link.sys_id,
            state,
            now=ctx.clock(),
            error=error,
            next_at=next_at,
            request_body=to_json(patch),
        )
        ctx.bus.publish(LinkChanged(link_row(updated)))

    async def _one(self, link: Link) -> str | None:
        ctx = self.ctx
        async with self._slots:
            if self._held():
                return None
            note_text = f"Autotask ticket {link.ticket_number} created by Triage Sync."
            patch = {
                "correlation_id": str(link.ticket_id),
                "correlation_display": link.ticket_number,
                "work_notes": note_text,
            }
            note: str | None = None
            try:
                current = await self._current(link)
                theirs = (
                    foreign_correlation(current, link.ticket_id, link.ticket_number)
                    if current is not None
                    else None
                )
                if current is not None and link.writeback_attempts > 0:
                    landed = current.correlation_id == str(link.ticket_id)
                    if not landed and theirs is not None:  # the note is the only trace then
                        landed = note_text in await self._notes(link)
                    if landed:
                        await self._done(
                            link, f"{link.incident_number} already names ticket {link.ticket_number}"
                        )
                        return None
                if theirs is not None:
                    patch = {"work_notes": note_text}
                    note = (
                        f"{theirs} (another integration's); left unchanged, the link is kept in Triage Sync"
                    )
                await ctx.db(ctx.store.begin_writeback, link.sys_id)
                await ctx.servicenow.update_incident(link.sys_id, patch)
            except (Rejected, NotFound) as error:
                await self._record(link, WritebackState.FAILED, str(error), None, patch)
                return f"{link.incident_number}: write-back refused: {error}"
            except ConnectorError as error:
                await ctx.pacing.hold_for("writeback", error)
                await ctx.failed("servicenow", error)
                next_at = ctx.retry_at(link.writeback_attempts + 1, error)
                await self._record(link, WritebackState.PENDING, str(error), next_at, patch)
                return f"{link.incident_number}: write-back will be retried: {error}"
            ctx.succeeded("servicenow")
            summary = (
                f"{link.incident_number}: work note names ticket {link.ticket_number}; {note}"
                if note
                else f"{link.incident_number} now names ticket {link.ticket_number}"
            )
            await self._done(link, summary, note, to_json(patch))
            return None

    async def _notes(self, link: Link) -> list[str]:
        """The incident's work notes: with a foreign correlation_id the note is the only trace of an
        earlier attempt that landed."""
        rows = await self.ctx.servicenow.work_notes(link.sys_id)
        return [row.get("value", "") for row in rows]
