"""SyncEngine: the headless heart. Plain asyncio, no Qt; the GUI and the CLI drive the same object.

Life cycle: :meth:`start` takes the single-engine lease and runs three loops (ServiceNow poll ->
pushes -> write-backs; a push loop woken by approvals and auto-push; the Autotask return-trip
poll) plus a lease heartbeat. :meth:`run_once` does one full cycle for ``triage-sync run --once``.
:meth:`stop` lets in-flight pushes finish for a moment, then cancels: an interrupted push stays
``pushing`` and the next start searches Autotask before creating anything.

Reads (queue, links, audit, preview, explain, dry-run) work without :meth:`start`, so short
commands can run beside an engine that holds the lease elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from app.config import AppConfig
from app.connectors.autotask import AutotaskClient
from app.connectors.budget import BudgetState as ConnectorBudget
from app.connectors.errors import ConnectorError, NotFound
from app.connectors.servicenow import ServiceNowClient
from app.domain.impact import ImpactReport
from app.domain.outbound import Preview, preview
from app.domain.overrides import overrides_from_json
from app.domain.overview import Overview
from app.domain.records import Incident, TicketMetadata, is_sys_id
from app.domain.triggers import evaluate
from app.engine.backoff import Backoff
from app.engine.connections import check_close_codes
from app.engine.context import EngineContext, utcnow
from app.engine.convert import queue_row
from app.engine.cycle import CycleReport, undone_lines
from app.engine.desk_requests import DeskRequestAnswerer
from app.engine.events import (
    AutoPushChanged,
    EventBus,
    ItemUpdated,
    PollFailed,
    ReviewersChanged,
    SystemName,
)
from app.engine.outbound import OutboundPipeline
from app.engine.overview import OverviewSampler
from app.engine.pacing import HoldKind
from app.engine.published import STATUS_KEY, PublishedStatus, StatusPublisher
from app.engine.reconcile import Reconciler
from app.engine.return_trip import ReturnPipeline
from app.engine.rules import RuleChanges
from app.engine.store_views import StoreBacked, dry_run_report, explain_stored
from app.engine.views import (
    ActionResult,
    BudgetState,
    DryRunReport,
    Explanation,
    HealthState,
)
from app.engine.webhooks import WebhookReceiver
from app.httpserver import ServerLimits
from app.secrets import get_secret
from app.store import (
    AuditOutcome,
    Lease,
    LeaseLost,
    QueueItem,
    Store,
)
from app.store.changes import Change, ChangeFeed

log = logging.getLogger(__name__)

PUSH_TICK_SECONDS = 5.0  # how often the push loop looks for due retries without being woken
HEARTBEAT_SECONDS = 15.0
STOP_GRACE_SECONDS = 5.0


class SyncEngine(StoreBacked):
    """Implements :class:`app.engine.api.EngineAPI`."""

    def __init__(
        self,
        config: AppConfig,
        store: Store,
        servicenow: ServiceNowClient,
        autotask: AutotaskClient,
        *,
        holder: str = "engine",
        owns_store: bool = True,
        clock: Callable[[], datetime] = utcnow,
        backoff: Backoff | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.holder = holder
        self._owns_store = owns_store
        self.bus = EventBus()
        self.ctx = EngineContext(
            config, store, servicenow, autotask, bus=self.bus, clock=clock, backoff=backoff or Backoff()
        )
        self.outbound = OutboundPipeline(self.ctx)
        self.returns = ReturnPipeline(self.ctx)
        self.reconciler = Reconciler(self.ctx, self.outbound, self.returns)
        self.sampler = OverviewSampler(self.ctx)
        self.rule_changes = RuleChanges(self.ctx, self.outbound)
        self.desk_requests = DeskRequestAnswerer(self)  # live reads the desks ask through the store
        self._lease: Lease | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._push_wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._poll_wake = {"servicenow": asyncio.Event(), "autotask": asyncio.Event()}
        self._lock = asyncio.Lock()  # one cycle of a kind at a time (loops vs run_once/poll_now)
        self._push_lock = asyncio.Lock()
        self._closed = False
        self.webhooks: WebhookReceiver | None = None  # the optional fast path (config.webhook)
        # Team mode: a desk's approval in another process wakes the push loop at once, and the
        # desks see this engine's health, budget and auto-push through the store.
        self.changes: ChangeFeed | None = None
        self._publisher = StatusPublisher(self._published_status, self._write_status)
        self.bus.subscribe(self._publisher)
        if autotask.budget is not None:
            autotask.budget.subscribe(self._on_budget)

    @property
    def servicenow(self) -> ServiceNowClient:
        return self.ctx.servicenow

    @property
    def autotask(self) -> AutotaskClient:
        return self.ctx.autotask

    # ---- life cycle ------------------------------------------------------------------------------

    async def acquire_lease(self) -> None:
        if self._lease is None:
            self._lease = await self.ctx.db(self.store.acquire_engine_lease, self.holder)

    async def start(self) -> None:
        await self.acquire_lease()
        await self.ctx.pacing.load()
        stuck = await self.ctx.db(self.store.stuck_pushing)
        if stuck:
            await self.ctx.audit_system(
                f"resuming: {len(stuck)} push(es) were interrupted; Autotask is searched before any create"
            )
        self._stopping.clear()
        self._tasks = [
            asyncio.create_task(self._servicenow_loop(), name="servicenow-poll"),
            asyncio.create_task(self._push_loop(), name="push"),
            asyncio.create_task(self._autotask_loop(), name="autotask-poll"),
            asyncio.create_task(self._heartbeat_loop(), name="lease-heartbeat"),
            asyncio.create_task(self.desk_requests.run(self._stopping), name="desk-requests"),
        ]
        await self._listen_to_desks()
        if self.config.webhook.enabled and self.webhooks is None:
            hook = self.config.webhook
            receiver = WebhookReceiver(
                self,
                asyncio.get_running_loop(),
                host=hook.host,
                port=hook.port,
                secret=get_secret("autotask_webhook_secret", self.config.autotask.username),
                servicenow_secret=get_secret("servicenow_webhook_secret", self.config.servicenow.username),
                allowed_hosts=tuple(hook.allowed_hosts),
                max_pending_ids=hook.max_pending_ids,
                reads_per_minute=hook.reads_per_minute,
                limits=ServerLimits(
                    max_connections=hook.max_connections, header_timeout=hook.header_timeout_seconds
                ),
            )
            try:
                await asyncio.to_thread(receiver.start)
            except (OSError, RuntimeError) as exc:  # e.g. port in use: polling alone still syncs
                await asyncio.to_thread(receiver.stop)
                message = f"webhook receiver not started on {hook.host}:{hook.port} ({exc}); polling only"
                log.error("%s", message)
                await self.ctx.audit_system(message, outcome=AuditOutcome.FAILED, kind="webhook")
            else:
                self.webhooks = receiver

    async def _listen_to_desks(self) -> None:
        if self.changes is None:
            self.changes = ChangeFeed(self.store.engine)
            self.changes.subscribe(self._on_store_change)
            await self.changes.start()
        self._publisher.start()

    def _on_store_change(self, change: Change) -> None:
        feed = self.changes
        if feed is not None and "queue" in change.topics and change.foreign_to(feed.origin):
            self._push_wake.set()  # a desk decided: push now, not at the next tick
        if "requests" in change.topics:
            self.desk_requests.wake.set()  # a desk asked for a live read: answer now
        if feed is not None and "claims" in change.topics and change.foreign_to(feed.origin):
            self.bus.publish(ReviewersChanged())  # another desk opened or left an incident

    def _published_status(self) -> PublishedStatus:
        return PublishedStatus(dict(self.ctx.health), self.budget(), self.auto_push, self.ctx.clock())

    async def _write_status(self, value: dict[str, Any]) -> None:
        await self.ctx.db(self.store.put_state, STATUS_KEY, value, now=self.ctx.clock())

    def request_return_poll(self) -> None:
        """Wake the return-trip poll now (an Autotask webhook said a ticket changed; the poll
        re-reads the tickets through the API). Call on the engine loop."""
        self._poll_wake["autotask"].set()

    async def _stop_webhooks(self) -> None:
        receiver, self.webhooks = self.webhooks, None
        if receiver is not None:
            await asyncio.to_thread(receiver.stop)

    async def stop(self) -> None:
        await self._stop_webhooks()
        self._stopping.set()
        self._push_wake.set()
        for event in self._poll_wake.values():
            event.set()
        tasks, self._tasks = self._tasks, []
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.close()

    async def close(self) -> None:
        """Release the lease, close both HTTP clients and the store (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._stop_webhooks()
        await self._publisher.stop()
        feed, self.changes = self.changes, None
        if feed is not None:
            await feed.close()
        if self._lease is not None:
            with contextlib.suppress(Exception):
                await self.ctx.db(self._lease.release)
            self._lease = None
        await self.ctx.servicenow.aclose()
        await self.ctx.autotask.aclose()
        if self._owns_store:
            self.store.close()

    async def run_forever(self, stop: asyncio.Event) -> None:
        """``triage-sync run``: start, wait until ``stop`` is set (SIGINT/SIGTERM), stop cleanly."""
        await self.start()
        try:
            waiter = asyncio.create_task(stop.wait())
            watched = [waiter, *self._tasks]
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not waiter and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            waiter.cancel()
        finally:
            await self.stop()

    async def run_once(self, *, auto_push: bool | None = None) -> CycleReport:
        """One full cycle: poll ServiceNow, push what is due, write back, poll Autotask, apply."""
        await self.acquire_lease()
        await self.ctx.pacing.load()
        if auto_push is not None:
            self.outbound.auto_push = auto_push
        await self._follow_rules_file()
        report = CycleReport()
        await self._servicenow_cycle(report)
        await self._push_cycle(report)
        await self._settle_cycle(report)
        await self._autotask_cycle(report)
        report.undone = await self.ctx.db(undone_lines, self.store, report.failures, self.outbound.auto_push)
        return report

    async def _settle_cycle(self, report: CycleReport) -> None:
        """Unknown create outcomes are searched for now (read-only), and what that links is
        written back in the same run."""

        async def step() -> None:
            async with self._push_lock:
                before = await self.ctx.db(self.store.stuck_pushing)
                if not before:
                    return
                await self.outbound.settle_unknown()
                after = {item.sys_id for item in await self.ctx.db(self.store.stuck_pushing)}
                # Their earlier failure lines are answered now: linked, or an "undone" line.
                numbers = tuple(f"{item.number}:" for item in before)
                report.failures = [f for f in report.failures if not f.startswith(numbers)]
                settled = [item for item in before if item.sys_id not in after]
                if settled:
                    report.pushed += len(settled)
                    report.failures += await self.outbound.write_back_due()

        await self._guarded("autotask", "push", step, report)

    # ---- loops -------------------------------------------------------------------------------------

    async def _sleep(self, seconds: float, wake: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=seconds)
        if wake is not self._stopping:  # a wake-up is used once; the stop request must stay set
            wake.clear()

    async def _servicenow_loop(self) -> None:
        interval = self.config.servicenow.poll_seconds
        while not self._stopping.is_set():
            await self._follow_rules_file()
            report = CycleReport()
            await self._servicenow_cycle(report)
            self._push_wake.set()
            self.ctx.set_next_poll("servicenow", interval)
            await self._sleep(interval, self._poll_wake["servicenow"])

    async def _push_loop(self) -> None:
        while not self._stopping.is_set():
            await self._push_cycle(CycleReport())
            await self._sleep(PUSH_TICK_SECONDS, self._push_wake)

    async def _autotask_loop(self) -> None:
        interval = self.config.autotask.poll_seconds
        while not self._stopping.is_set():
            await self._autotask_cycle(CycleReport())
            self.ctx.set_next_poll("autotask", interval)
            await self._sleep(interval, self._poll_wake["autotask"])

    async def _heartbeat_loop(self) -> None:
        while not self._stopping.is_set():
            await self._sleep(HEARTBEAT_SECONDS, self._stopping)
            lease = self._lease
            if lease is None or self._stopping.is_set():
                return
            try:
                await self.ctx.db(lease.refresh)
            except LeaseLost as exc:
                log.error("%s", exc)
                await self.ctx.audit_system(str(exc))
                self._lease = None
                self._stopping.set()
                self._push_wake.set()
                for event in self._poll_wake.values():
                    event.set()
                return
            except Exception:
                log.exception("lease heartbeat failed; trying again")

    async def _guarded(
        self, system: SystemName, kind: HoldKind, step: Callable[[], Awaitable[None]], report: CycleReport
    ) -> None:
        """Run one step; a connector error becomes health + event, never a dead loop. A
        Retry-After becomes a hold on ``kind`` of call, honoured by the next cycles."""
        try:
            await step()
        except ConnectorError as error:
            await self.ctx.pacing.hold_for(kind, error)
            await self.ctx.failed(error.system, error)
            await self.ctx.db(self.store.cursor_failure, system, str(error), now=self.ctx.clock())
            self.bus.publish(PollFailed(system, str(error)))
            report.failures.append(str(error))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not stop unattended syncing; it is logged in full
            log.exception("%s step failed", system)
            self.bus.publish(PollFailed(system, f"internal error: {exc}"))
            report.failures.append(f"internal error in the {system} step: {exc}")

    async def _servicenow_cycle(self, report: CycleReport) -> None:
        if self.ctx.is_paused("servicenow") or self.ctx.pacing.held("servicenow", "poll"):
            return

        async def step() -> None:
            async with self._lock:
                finished = await self.outbound.poll()
                reconciled = await self.reconciler.servicenow()
            report.queued += finished.queued
            report.removed += finished.removed
            self.bus.publish(finished)
            if reconciled is not None:
                report.reconciled.append(reconciled)
                report.queued += len(reconciled.found)

        await self._guarded("servicenow", "poll", step, report)

    async def _push_cycle(self, report: CycleReport) -> None:
        await self.ctx.pacing.refresh_threshold()  # when due; never held back by the budget

        async def step() -> None:
            async with self._push_lock:
                pushes = await self.outbound.push_due()
                report.pushed += pushes.pushed
                report.failures += pushes.failures
                report.warnings += pushes.held
                report.failures += await self.outbound.write_back_due()

        await self._guarded("autotask", "push", step, report)
        await self.sampler.maybe_sample()  # the Overview tab's levels, every few minutes

    async def _autotask_cycle(self, report: CycleReport) -> None:
        # The return trip writes to ServiceNow: with either side refusing credentials, wait.
        if self.ctx.is_paused("autotask") or self.ctx.is_paused("servicenow"):
            return
        # Read the tenant's usage first, whatever the poll does: a busy tenant must be seen to
        # become quiet again even when our own budget holds the poll back.
        await self.ctx.pacing.refresh_threshold()
        pacing = self.ctx.pacing
        if pacing.held("autotask", "poll") or pacing.held("servicenow", "return"):
            return  # a Retry-After: the window is read again once it has passed

        async def step() -> None:
            finished, returns = await self.returns.poll()
            report.applied += returns.applied
            report.failures += returns.failures
            report.warnings += returns.warnings
            self.sampler.note_lags(returns.lags)
            self.bus.publish(finished)
            if not returns.retry_later:
                reconciled = await self.reconciler.autotask()
                if reconciled is not None:
                    report.reconciled.append(reconciled)
                    report.applied += reconciled.applied
                    report.failures += reconciled.failures

        await self._guarded("autotask", "poll", step, report)

    # ---- state -------------------------------------------------------------------------------------

    @property
    def auto_push(self) -> bool:
        return self.outbound.auto_push

    def set_auto_push(self, enabled: bool) -> None:
        if enabled == self.outbound.auto_push:
            return
        self.outbound.auto_push = enabled
        self.bus.publish(AutoPushChanged(enabled))
        self._push_wake.set()
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(
                self.ctx.audit_system(f"auto-push switched {'on' if enabled else 'off'}")
            )

    def health(self, system: SystemName) -> HealthState:
        return self.ctx.health[system]

    def budget(self) -> BudgetState:
        """Our budget, the tenant's reading, the pacing delay and every hold."""
        return self.ctx.pacing.state()

    def _on_budget(self, _state: ConnectorBudget) -> None:
        self.ctx.pacing.publish()

    async def poll_now(self) -> None:
        """Both systems now (a user asked: credentials may be fixed, so pauses are lifted)."""
        self.ctx.unpause()
        if self._tasks:
            for event in self._poll_wake.values():
                event.set()
            self._push_wake.set()
            return
        await self.run_once()

    async def overview(self, window: str = "24h") -> Overview:
        """The Overview tab's charts for "24h" or "7d" (from the audit trail and the samples)."""
        return await self.sampler.overview(window)

    # ---- actions -----------------------------------------------------------------------------------

    async def _metadata(self) -> TicketMetadata | None:
        try:
            return await self.ctx.picklists.get()
        except ConnectorError as error:
            log.warning("Autotask picklists unavailable: %s", error)
            return None

    async def _item(self, key: str) -> QueueItem:
        item = await self.ctx.db(self.store.get_item, key)
        if item is None:
            raise LookupError(f"{key}: not in the queue")
        return item

    async def preview(self, key: str) -> Preview:
        item = await self._item(key)
        metadata = await self._metadata()
        overrides = overrides_from_json(item.overrides)
        return preview(
            item.incident(), self.config.outbound, metadata, now=self.ctx.clock(), overrides=overrides
        )

    async def _picklists(self) -> TicketMetadata | None:
        return await self._metadata()

    def _now(self) -> datetime:
        return self.ctx.clock()

    # ---- rules -------------------------------------------------------------------------------------

    async def picklists(self) -> TicketMetadata | None:
        """The tenant's picklists (from the store while fresh); None when Autotask cannot be read."""
        return await self._metadata()

    async def sample_incident(self, key: str, *, fresh: bool) -> Incident | None:
        """An incident to preview rules on: the queued snapshot, or read fresh from ServiceNow."""
        if not fresh:
            item = await self.ctx.db(self.store.get_item, key.strip())
            return item.incident() if item is not None else None
        try:
            return await self._find_remote(key.strip())
        except ConnectorError as error:  # the UI says it; it has no business with connector types
            raise RuntimeError(f"ServiceNow could not be read ({error})") from error

    async def rules_impact(self, new: AppConfig) -> ImpactReport:
        """What ``new``'s rules would change in the queue, the trigger verdicts and the return trip."""
        return await self.rule_changes.impact(new)

    async def _follow_rules_file(self) -> None:
        """An edit of the engine's own rules file (outside the app) is taken up before each poll."""
        try:
            if await self.rule_changes.reload_if_changed():
                self.config = self.ctx.config
        except Exception:  # reading a file must never stop unattended syncing
            log.exception("reading the rules file failed; the rules in use stay")

    def rules_read_only(self) -> str | None:
        return None  # this process runs the engine: its own file holds the rules

    async def apply_rules(self, new: AppConfig, by: str) -> tuple[str, ...]:
        """Take ``new``'s rules up now, without a restart; the audit trail says who changed what."""
        changed = await self.rule_changes.apply(new, by)
        self.config = self.ctx.config
        self._push_wake.set()
        return changed

    def _after_decisions(self) -> None:
        self._push_wake.set()  # an approval in this process: push now

    async def retry_return(self, ticket_id: int) -> None:
        self.ctx.unpause()
        if not await self.returns.retry(ticket_id):
            raise RuntimeError(f"the update from ticket {ticket_id} failed again; see the activity view")

    async def ingest_incident_ids(self, sys_ids: Sequence[str]) -> None:
        """The seam for an id-only notification (webhook): re-read each record, then the same path
        as a poll hit. Extra or missing payload fields never matter: only the id is trusted."""
        if self.ctx.pacing.held("servicenow", "poll"):
            return  # a Retry-After: the poll after it reads these records anyway
        incidents: list[Incident] = []
        for sys_id in dict.fromkeys(sys_ids):
            try:
                incidents.append(await self.servicenow.get_incident(sys_id))
            except NotFound:
                continue
            except ConnectorError as error:  # a Retry-After holds the next re-reads and the poll
                await self.ctx.pacing.hold_for("poll", error)
                raise
        await self.outbound.ingest(incidents)
        await self.outbound.duplicates.compare_new()
        self._push_wake.set()

    async def explain(self, key: str) -> Explanation:
        stored = await self.ctx.db(explain_stored, self.config, self.store, key)
        return stored if stored is not None else await self._explain_remote(key.strip())

    async def _find_remote(self, key: str) -> Incident | None:
        """One incident from ServiceNow by number or sys_id (None: not there or not visible)."""
        field_name, value = ("sys_id", key.lower()) if is_sys_id(key) else ("number", key.upper())
        if not value.isalnum():  # never let a typed key add terms to the encoded query
            raise ValueError(f"{key!r} is not an incident number or sys_id")
        async for page in self.servicenow.query_incidents(f"{field_name}={value}"):
            return page[0]
        return None

    async def _explain_remote(self, key: str) -> Explanation:
        try:
            found = await self._find_remote(key)
        except ValueError as exc:
            return Explanation(key, False, False, None, str(exc))
        if found is None:
            return Explanation(
                key, False, False, None, f"ServiceNow has no incident {key} (or the API user cannot see it)"
            )
        verdict = evaluate(self.config.trigger, found, linked=False)
        if verdict.matched:
            summary = f"{found.number} matches the trigger; it is queued on the next poll"
        else:
            summary = f"{found.number} does not match the trigger"
        return Explanation(
            key, True, False, None, summary, tuple(verdict.reasons()), can_push_anyway=not verdict.matched
        )

    async def push_anyway(self, key: str, by: str, reason: str) -> ActionResult:
        """Queue an incident the trigger does not select, approved, with who and why recorded."""
        key = key.strip()
        if not reason.strip():
            return ActionResult(key, False, "Say why it should be pushed anyway.")
        try:
            incident = await self._find_remote(key)
        except ValueError as exc:
            return ActionResult(key, False, str(exc))
        if incident is None:
            return ActionResult(
                key, False, f"ServiceNow has no incident {key} (or the API user cannot see it)"
            )
        link = await self.ctx.db(self.store.get_link, sys_id=incident.sys_id)
        if link is not None:
            return ActionResult(
                key, False, f"{incident.number} is already linked to ticket {link.ticket_number}"
            )
        result = await self.ctx.db(self.store.push_anyway, incident, by, reason, now=self.ctx.clock())
        if result.item is not None and result.status == "changed":
            self.bus.publish(ItemUpdated(queue_row(result.item)))
        self._push_wake.set()
        return ActionResult(result.key, result.ok, result.message)

    async def dry_run(self) -> DryRunReport:
        """What auto-push would do now over the queued snapshots: no write to either system."""
        metadata = await self._metadata()
        return await self.ctx.db(dry_run_report, self.config, self.store, metadata, self.ctx.clock())

    async def test_connection(self, system: SystemName) -> str:
        if system == "servicenow":
            message = await check_close_codes(
                self.servicenow, self.config.return_trip, await self.servicenow.test_connection()
            )
        else:
            message = await self.autotask.test_connection()
        self.ctx.succeeded(system)
        return message

    def record_url(self, system: SystemName, record_id: str) -> str | None:
        """The record in the browser; None for an id that is not a sys_id / ticket number id (it
        goes into the URL opened in the user's browser)."""
        if system == "servicenow" and not is_sys_id(record_id):
            return None
        if system == "autotask" and not (record_id.isascii() and record_id.isdigit()):
            return None
        if system == "servicenow":
            base = self.config.servicenow.url
            return f"{base}/nav_to.do?uri=incident.do%3Fsys_id%3D{record_id}" if base else None
        web = self.config.autotask.web_url or (self.autotask.zone.web_url if self.autotask.zone else "")
        if not web:
            return None
        return f"{web.rstrip('/')}/Mvc/ServiceDesk/TicketDetail.mvc?workspace=False&ticketId={record_id}"
