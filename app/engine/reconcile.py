"""The reconciliation pass: what no incremental poll can see any more (DESIGN "Polling without loss").

Stamps are taken when a transaction starts, not when it commits, and imports write older stamps:
a record can become visible with a stamp below ``watermark - overlap``, where no poll reads again.
Every ``polling.reconcile_minutes`` (default hourly; the schedule is kept on the cursor, so a
``run --once`` from cron keeps the rhythm) one cheap query per system looks at everything the
incremental path has been responsible for (since ``covered_since``), whatever the watermark:

- ServiceNow: the trigger's encoded query, ids and stamps only; incidents below the poll window
  that are neither linked nor queued are re-read in ``sys_idIN`` batches and ingested as a poll hit.
- Autotask: our tickets (externalID set) whose ``lastActivityDate`` lies below the poll window;
  a linked ticket whose status or priority differs from what was last synced is applied.

Anything found is a miss of the incremental path: it is logged as a warning and audited, and the
cursor keeps when the pass ran and what it found (``status``, the ``run --once`` report). Records
stamped inside the poll window are left to the polls: they are not misses (yet).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.records import TicketMetadata, format_iso_time, is_sys_id
from app.engine.context import EngineContext
from app.engine.events import SystemName
from app.engine.outbound import IDS_PER_QUERY, OutboundPipeline
from app.engine.return_trip import ReturnPipeline, ReturnReport
from app.store import AuditDirection, AuditOutcome, Cursor, Link, QueueState

log = logging.getLogger(__name__)

KEY_FIELDS: tuple[str, ...] = ("sys_id", "sys_updated_on")  # ids and stamps: the cheap read
LABELS: dict[SystemName, str] = {"servicenow": "incident", "autotask": "ticket change"}


@dataclass(frozen=True)
class ReconcileResult:
    """One reconciliation pass: when, how many records it looked at, what it found (numbers)."""

    system: SystemName
    ran_at: datetime
    checked: int
    found: tuple[str, ...]
    failures: tuple[str, ...] = ()
    applied: int = 0  # return trip: incident updates sent for what was found


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Reconciler:
    def __init__(self, ctx: EngineContext, outbound: OutboundPipeline, returns: ReturnPipeline) -> None:
        self.ctx = ctx
        self.outbound = outbound
        self.returns = returns

    async def _due(self, system: SystemName) -> tuple[Cursor, datetime] | None:
        """The cursor and the bottom of the poll window when a pass is due; else None. The first
        successful poll only schedules the first pass: its lookback already read everything."""
        ctx = self.ctx
        cursor = await ctx.db(ctx.store.get_cursor, system)
        if cursor.covered_since is None or cursor.watermark is None:
            return None
        now = ctx.clock()
        if cursor.reconcile_due_at is None:
            await ctx.db(ctx.store.schedule_reconcile, system, now + self._interval())
            return None
        if now < cursor.reconcile_due_at:
            return None
        return cursor, ctx.poll_since(cursor.watermark)

    def _interval(self) -> timedelta:
        return timedelta(minutes=self.ctx.config.polling.reconcile_minutes)

    async def _finish(
        self, system: SystemName, checked: int, found: list[str], returns: ReturnReport | None = None
    ) -> ReconcileResult:
        ctx = self.ctx
        now = ctx.clock()
        # A found change that could not be applied yet (ServiceNow unavailable, a Retry-After) is
        # below every poll window: the pass stays due, as a failed poll keeps its window.
        again = returns is not None and returns.retry_later
        due = now if again else now + self._interval()
        await ctx.db(ctx.store.schedule_reconcile, system, due, ran_at=now, found=found)
        if found:
            what = LABELS[system] + ("s" if len(found) > 1 else "")
            outcome = "not all applied yet; the pass runs again next cycle" if again else "now handled"
            message = (
                f"reconciliation found {len(found)} {what} missed by the incremental poll: "
                f"{', '.join(found)} (late commit or back-dated stamp); {outcome}"
            )
            log.warning("%s", message)
            await ctx.audit_system(message, outcome=AuditOutcome.RETRY, kind="reconcile")
        ctx.reconciled(system, now, tuple(found))
        failures = tuple(returns.failures) if returns else ()
        return ReconcileResult(
            system, now, checked, tuple(found), failures, returns.applied if returns else 0
        )

    # ---- ServiceNow --------------------------------------------------------------------------------

    async def servicenow(self) -> ReconcileResult | None:
        due = await self._due("servicenow")
        if due is None:
            return None
        cursor, window = due
        ctx = self.ctx
        assert cursor.covered_since is not None
        below: list[str] = []
        checked = 0
        query = self.outbound.trigger_query
        async for page in ctx.servicenow.query_incidents(
            query, updated_since=cursor.covered_since, fields=KEY_FIELDS
        ):
            checked += len(page)
            # Only real sys_ids go into the sys_idIN re-read (remote text never adds query terms).
            below += [inc.sys_id for inc in page if inc.sys_updated_on < window and is_sys_id(inc.sys_id)]
        linked = await ctx.db(ctx.store.linked_sys_ids_among, below)
        states = await ctx.db(ctx.store.states_by_sys_id, below)
        unknown = [
            sys_id
            for sys_id in dict.fromkeys(below)
            if sys_id not in linked and states.get(sys_id, QueueState.DROPPED) == QueueState.DROPPED
        ]
        found: list[str] = []
        for chunk in _chunks(unknown, IDS_PER_QUERY):
            async for page in ctx.servicenow.query_incidents(f"sys_idIN{','.join(chunk)}"):
                await self.outbound.ingest(page)
                now_queued = await ctx.db(ctx.store.states_by_sys_id, [inc.sys_id for inc in page])
                found += [
                    inc.number
                    for inc in page
                    if now_queued.get(inc.sys_id, QueueState.DROPPED) != QueueState.DROPPED
                ]
        await self.outbound.duplicates.compare_new()
        return await self._finish("servicenow", checked, found)

    # ---- Autotask ----------------------------------------------------------------------------------

    async def autotask(self) -> ReconcileResult | None:
        due = await self._due("autotask")
        if due is None:
            return None
        cursor, window = due
        ctx = self.ctx
        assert cursor.covered_since is not None
        query = [
            {"op": "exist", "field": "externalID"},
            {"op": "gte", "field": "lastActivityDate", "value": format_iso_time(cursor.covered_since)},
            {"op": "lt", "field": "lastActivityDate", "value": format_iso_time(window)},
        ]
        metadata: TicketMetadata | None = None
        found: list[str] = []
        checked = 0
        report = ReturnReport()
        async for page in ctx.autotask.query_tickets(query):
            checked += len(page)
            links = await ctx.db(ctx.store.links_for_ticket_ids, [ticket.id for ticket in page])
            for ticket in page:
                link = links.get(ticket.id)
                if link is None:
                    continue
                metadata = metadata or await ctx.picklists.get()
                if not self.returns.unsynced(ticket, link, metadata):
                    continue
                if await self._refused_since(link, ticket.last_activity_date):
                    continue
                await self.returns.apply(ticket, link, metadata, report)
                found.append(link.ticket_number or str(ticket.id))
        return await self._finish("autotask", checked, found, report)

    async def _refused_since(self, link: Link, moment: datetime | None) -> bool:
        """A change the poll did see but ServiceNow refused (shown with a Retry action): not a miss."""
        ctx = self.ctx
        events = await ctx.db(
            lambda: ctx.store.list_audit(direction=AuditDirection.RETURN, ticket_id=link.ticket_id, limit=1)
        )
        return bool(
            events and events[0].outcome == AuditOutcome.FAILED and (moment is None or events[0].at >= moment)
        )
