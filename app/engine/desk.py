"""An attached desk: the EngineAPI for a desktop that does not run the engine.

Another process holds the engine lease (a ``triage-sync run`` service, another desktop). The desk
reads the queue, links and activity from the shared store, writes approvals and rejections there
(the engine's change feed wakes its push loop at once), and shows the health, budget and
auto-push state the engine publishes in the store. It needs no API credentials at all: previews
are built from the stored incident snapshot and the picklists the engine keeps in the store.

What only a live read can answer (an incident the store does not know, a fresh re-read, a
return-trip retry) goes through :attr:`AttachedDesk.ask_engine`, a hook for the store's desk
requests; until it is wired those answers say plainly that they need the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, Protocol, TypeVar

from app.config import AppConfig
from app.domain.impact import ImpactReport
from app.domain.outbound import Preview, preview
from app.domain.overrides import overrides_from_json
from app.domain.overview import Overview
from app.domain.records import Incident, TicketMetadata, is_sys_id
from app.engine.convert import audit_row, link_row, queue_row
from app.engine.events import (
    AuditRecorded,
    AutoPushChanged,
    BudgetChanged,
    EngineEvent,
    EventBus,
    HealthChanged,
    ItemQueued,
    ItemUpdated,
    LinkChanged,
    ReviewersChanged,
    SystemName,
)
from app.engine.overview import levels_now, read_overview
from app.engine.picklists import PICKLISTS_KEY
from app.engine.published import STATUS_KEY, SYSTEMS, PublishedStatus, decode
from app.engine.rules import impact_inputs, sliced_impact
from app.engine.store_views import StoreBacked, dry_run_report, explain_stored
from app.engine.views import (
    ActionResult,
    BudgetState,
    DryRunReport,
    Explanation,
    HealthState,
)
from app.store import EngineLease, QueueItem, Store
from app.store.changes import Change, ChangeFeed
from app.store.lease import DEFAULT_LEASE_TIMEOUT, stale_reason
from app.store.team_reads import (
    audit_after,
    items_updated_since,
    last_audit_id,
    links_for,
    newest_item_update,
)

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")


class AskEngine(Protocol):
    """``await ask_engine(kind, key, timeout, asked_by=..., params=...)``: a live read answered by
    the engine through the store (kinds "explain", "retry_return", "poll_now", "push_anyway");
    returns the engine's answer as a dict. ``asked_by`` defaults to the desk's name."""

    def __call__(
        self,
        kind: str,
        key: str,
        timeout: float,
        *,
        asked_by: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Awaitable[dict[str, Any]]: ...


ASK_TIMEOUT_SECONDS = 20.0
#: Queue rows are re-read from this far before the newest change seen: a transaction stamped
#: earlier may commit later.
QUEUE_OVERLAP = timedelta(seconds=60)
HEARTBEAT_LATE_SECONDS = 40.0  # two missed 15 s heartbeats: say so before the lease goes stale
STOP_GRACE_SECONDS = 10.0
PAGE = 1000  # items_updated_since's page size


def utcnow() -> datetime:
    return datetime.now(UTC)


class NeedsEngine(RuntimeError):
    """The request needs a live read only the engine (with the API credentials) can make."""


def holder_text(lease: EngineLease | None, now: datetime, *, hostname: str | None = None) -> tuple[str, str]:
    """("Engine: triage-sync run on srv-01, pid 4242, heartbeat 3 s ago", level): level is ok,
    late (heartbeats missed, not yet stale) or stale (may be taken over) or none (no engine)."""
    if lease is None:
        return "Engine: not running (nobody syncs; Take over to run it here)", "none"
    age = max(0, int((now - lease.heartbeat_at).total_seconds()))
    where = f"{lease.holder or 'an engine'} on {lease.hostname}, pid {lease.pid}"
    reason = stale_reason(lease, now, DEFAULT_LEASE_TIMEOUT, hostname or socket.gethostname())
    if reason is not None:
        return f"Engine stopped? {where}: {reason}; Take over to run it here", "stale"
    if age > HEARTBEAT_LATE_SECONDS:
        return f"Engine: {where}, heartbeat late ({age} s ago)", "late"
    return f"Engine: {where}, heartbeat {age} s ago", "ok"


class AttachedDesk(StoreBacked):
    """Implements :class:`app.engine.api.EngineAPI` over the shared store (see the module doc)."""

    attached = True

    def __init__(
        self,
        config: AppConfig,
        store: Store,
        *,
        name: str = "desk",
        ask_engine: AskEngine | None = None,
        owns_store: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.name = name
        #: The hook for live reads: wire it to the store's desk requests (``ask_engine``).
        self.ask_engine = ask_engine
        self.bus = EventBus()
        self.clock = clock
        self.changes = ChangeFeed(store.engine)
        self.lease: EngineLease | None = None
        self.status = PublishedStatus()
        self._owns_store = owns_store
        self._seen: dict[str, tuple[str, datetime, int]] = {}
        self._queue_mark: datetime | None = None
        self._audit_mark = 0
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # ---- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read where things stand, then follow the change feed (no lease taken)."""
        self._audit_mark = await self._db(last_audit_id, self.store.engine)
        # The window loads the queue itself; the desk only learns where changes start from.
        self._queue_mark = await self._db(newest_item_update, self.store.engine)
        await self._refresh({"queue"}, announce=False)
        await self._refresh({"lease", "state"}, announce=True)
        self.changes.subscribe(self._on_change)
        await self.changes.start()
        self._task = asyncio.get_running_loop().create_task(self._follow(), name="desk-follow")

    async def stop(self) -> None:
        await self.close()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            # Let a refresh in progress finish its store call: cancelling the await would leave the
            # worker thread holding a connection while the store is closed under it.
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(task), STOP_GRACE_SECONDS)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.changes.close()
        if self._owns_store:
            self.store.close()

    def _on_change(self, change: Change) -> None:
        self._dirty |= change.topics
        self._wake.set()

    async def _follow(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            topics, self._dirty = self._dirty, set()
            try:
                await self._refresh(topics, announce=True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: the feed resyncs when it is back
                log.warning("desk refresh failed: %s", exc)

    async def refresh(self) -> None:
        """Re-read everything that may have changed (the "Refresh" action, a resync)."""
        await self._refresh({"queue", "audit", "lease", "state"}, announce=True)

    async def _refresh(self, topics: set[str], *, announce: bool) -> None:
        events: list[EngineEvent] = []
        if topics & {"queue"}:
            events += await self._queue_changes(announce)
        if topics & {"audit", "links"}:
            events += await self._audit_changes()
        if topics & {"lease"}:
            self.lease = await self._db(self.store.lease_info)
        if topics & {"state", "cursors"}:
            events += await self._status_changes()
        if "claims" in topics:
            events.append(ReviewersChanged())  # the queue re-reads the claims now, not at its timer
        if announce:
            for event in events:
                self.bus.publish(event)

    async def _queue_changes(self, announce: bool) -> list[EngineEvent]:
        since = self._queue_mark - QUEUE_OVERLAP if self._queue_mark is not None else None
        events: list[EngineEvent] = []
        after: tuple[datetime, int] | None = None
        while True:  # page by (updated_at, id): a burst (the first poll of thousands) comes whole
            items = await self._db(items_updated_since, self.store.engine, since, after=after, limit=PAGE)
            for item in items:
                event = self._note_item(item)
                if event is not None and announce:
                    events.append(event)
            if len(items) < PAGE:
                return events
            last = items[-1]
            after = (last.updated_at, int(last.id or 0))

    def _note_item(self, item: QueueItem) -> EngineEvent | None:
        signature = (str(item.state), item.updated_at, item.attempts)
        previous = self._seen.get(item.sys_id)
        self._seen[item.sys_id] = signature
        if self._queue_mark is None or item.updated_at > self._queue_mark:
            self._queue_mark = item.updated_at
        if previous == signature:
            return None
        row = queue_row(item)
        return ItemQueued(row) if previous is None else ItemUpdated(row)

    async def _audit_changes(self) -> list[EngineEvent]:
        rows = await self._db(audit_after, self.store.engine, self._audit_mark)
        if not rows:
            return []
        self._audit_mark = max(int(row.id or 0) for row in rows)
        events: list[EngineEvent] = [AuditRecorded(audit_row(row), from_store=True) for row in rows]
        touched = {row.sys_id for row in rows if row.sys_id}
        links = await self._db(links_for, self.store.engine, touched)
        events += [LinkChanged(link_row(link)) for link in links]
        return events

    async def _status_changes(self) -> list[EngineEvent]:
        stored = await self._db(self.store.get_state, STATUS_KEY)
        if stored is None:
            return []
        status = decode(stored.value)
        old, self.status = self.status, status
        events: list[EngineEvent] = [
            HealthChanged(system, status.health[system])
            for system in SYSTEMS
            if status.health[system] != old.health[system]
        ]
        budget = status.budget
        if budget != old.budget:
            events.append(BudgetChanged(budget.used, budget.limit, budget.remaining, budget))
        if status.auto_push != old.auto_push:
            events.append(AutoPushChanged(status.auto_push))
        return events

    # ---- who runs the engine ---------------------------------------------------------------------

    def holder_text(self, now: datetime | None = None) -> tuple[str, str]:
        """The status line; level "offline" while this desk cannot reach the shared store."""
        feed = self.changes
        if not feed.connected and feed.last_error and feed.backend == "postgresql":
            return f"Shared store unreachable ({feed.last_error[:80]}); reconnecting", "offline"
        return holder_text(self.lease, now or self.clock())

    def where(self) -> str:
        lease = self.lease
        return f"{lease.holder or 'the engine'} on {lease.hostname}" if lease else "no engine is running"

    # ---- state -----------------------------------------------------------------------------------

    @property
    def auto_push(self) -> bool:
        return self.status.auto_push

    def set_auto_push(self, enabled: bool) -> None:
        """Auto-push is the engine host's setting: the switch snaps back to what the engine does."""
        log.info("auto-push is decided where the engine runs (%s); not changed here", self.where())
        self.bus.publish(AutoPushChanged(self.status.auto_push))

    def health(self, system: SystemName) -> HealthState:
        return self.status.health[system]

    def budget(self) -> BudgetState:
        return self.status.budget

    async def poll_now(self) -> None:
        """Ask the engine to poll (when wired); in any case re-read the shared store now."""
        if self.ask_engine is not None:
            await self.ask_engine("poll_now", "", ASK_TIMEOUT_SECONDS)
        await self.refresh()

    # ---- previews from the store -----------------------------------------------------------------

    async def stored_picklists(self) -> TicketMetadata | None:
        """The picklists the engine last read (any age: a desk cannot read them itself)."""
        stored = await self._db(self.store.get_state, PICKLISTS_KEY)
        if stored is None:
            return None
        try:
            return TicketMetadata.model_validate(stored.value.get("metadata"))
        except ValueError:
            return None

    async def _picklists(self) -> TicketMetadata | None:
        return await self.stored_picklists()

    def _now(self) -> datetime:
        return self.clock()

    async def preview(self, key: str) -> Preview:
        item = await self._db(self.store.get_item, key)
        if item is None:
            raise LookupError(f"{key}: not in the queue")
        metadata = await self.stored_picklists()
        overrides = overrides_from_json(item.overrides)
        return preview(item.incident(), self.config.outbound, metadata, now=self.clock(), overrides=overrides)

    async def overview(self, window: str = "24h") -> Overview:
        """The Overview tab from the shared store; the "now" levels from the engine's published
        budget and the stored queue counts (the engine keeps the samples)."""
        current = await levels_now(self.store, self.status.budget, self.clock())
        return await read_overview(self.store, window, current.at, current)

    async def dry_run(self) -> DryRunReport:
        metadata = await self.stored_picklists()
        return await self._db(dry_run_report, self.config, self.store, metadata, self.clock())

    def _decided(self, item: QueueItem) -> None:
        event = self._note_item(item)  # our own change is not news again when the feed reports it
        self.bus.publish(event if event is not None else ItemUpdated(queue_row(item)))

    # ---- rules: previewed here, saved where the engine runs -------------------------------------

    async def picklists(self) -> TicketMetadata | None:
        return await self.stored_picklists()

    async def sample_incident(self, key: str, *, fresh: bool) -> Incident | None:
        if fresh:
            raise RuntimeError(self._needs_engine("Reading an incident fresh from ServiceNow"))
        item = await self._db(self.store.get_item, key.strip())
        return item.incident() if item is not None else None

    async def rules_impact(self, new: AppConfig) -> ImpactReport:
        inputs = await self._db(impact_inputs, self.store)
        return await sliced_impact(self.config, new, inputs, now=self.clock())

    def rules_read_only(self) -> str | None:
        return (
            f"The rules live in the configuration file of the machine that runs the engine ({self.where()}); "
            "edit and save them there. This desk previews them only."
        )

    async def apply_rules(self, new: AppConfig, by: str) -> tuple[str, ...]:
        raise NeedsEngine(self.rules_read_only() or "")

    # ---- what needs the engine -------------------------------------------------------------------

    def _needs_engine(self, what: str) -> str:
        return f"{what} needs the engine, which reads ServiceNow and Autotask ({self.where()})"

    async def retry_return(self, ticket_id: int) -> None:
        if self.ask_engine is None:
            raise NeedsEngine(self._needs_engine(f"Retrying the update from ticket {ticket_id}"))
        await self.ask_engine("retry_return", str(ticket_id), ASK_TIMEOUT_SECONDS)

    async def explain(self, key: str) -> Explanation:
        stored = await self._db(explain_stored, self.config, self.store, key)
        if stored is not None:
            return stored
        key = key.strip()
        if self.ask_engine is not None:
            answer = await self.ask_engine("explain", key, ASK_TIMEOUT_SECONDS)
            return Explanation(
                key,
                bool(answer.get("found")),
                bool(answer.get("in_queue")),
                answer.get("state"),
                str(answer.get("summary") or ""),
                tuple(str(r) for r in answer.get("reasons") or ()),
                answer.get("ticket_number"),
                bool(answer.get("can_push_anyway")),
            )
        return Explanation(
            key,
            False,
            False,
            None,
            f"{key} is not in the shared queue or links. "
            + self._needs_engine("Looking it up in ServiceNow"),
        )

    async def push_anyway(self, key: str, by: str, reason: str) -> ActionResult:
        """Asked of the engine (it reads the incident fresh); its answer comes back as is."""
        key = key.strip()
        if self.ask_engine is None:
            return ActionResult(key, False, self._needs_engine("Push anyway (a fresh read of the incident)"))
        try:
            answer = await self.ask_engine(
                "push_anyway", key, ASK_TIMEOUT_SECONDS, asked_by=by, params={"reason": reason}
            )
        except (TimeoutError, RuntimeError) as exc:  # no engine answered, or it said why not
            return ActionResult(key, False, f"Push anyway not done: {exc}")
        return ActionResult(
            str(answer.get("key") or key),
            bool(answer.get("ok")),
            str(answer.get("message") or ""),
            str(answer.get("status") or "changed"),
        )

    async def test_connection(self, system: SystemName) -> str:
        raise NeedsEngine(
            f"This desk has no API credentials: connections are tested where the engine runs ({self.where()})"
        )

    def record_url(self, system: SystemName, record_id: str) -> str | None:
        if system == "servicenow":
            base = self.config.servicenow.url
            if not is_sys_id(record_id) or not base:
                return None
            return f"{base}/nav_to.do?uri=incident.do%3Fsys_id%3D{record_id}"
        web = self.config.autotask.web_url
        if not web or not (record_id.isascii() and record_id.isdigit()):
            return None
        return f"{web.rstrip('/')}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&ticketId={record_id}"
