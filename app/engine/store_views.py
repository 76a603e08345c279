"""Answers that come from the store alone: the engine and an attached desk (no credentials) share
them, so a desk explains and dry-runs exactly as the engine would from the same rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from app.config import AppConfig
from app.domain.outbound import preview
from app.domain.overrides import check_override, overrides_from_json
from app.domain.records import TicketMetadata
from app.domain.triggers import evaluate
from app.engine.claims import ClaimsAPI, with_reviewers
from app.engine.convert import audit_row, link_row, queue_row, queue_row_from_columns
from app.engine.events import EventBus, ItemUpdated
from app.engine.views import (
    ActionResult,
    AuditRow,
    DryRunEntry,
    DryRunReport,
    Explanation,
    LinkRow,
    OverrideChoices,
    QueueRow,
    choices_for,
)
from app.store import QueueItem, QueueState, Store, TransitionResult
from app.store.queue_listing import list_queue_columns

P = ParamSpec("P")
R = TypeVar("R")


class StoreBacked(ClaimsAPI):
    """Lists and decisions straight on the store (EngineAPI's share that needs no API): the engine
    and an attached desk both use these. Store calls run in a worker thread."""

    store: Store
    bus: EventBus

    async def _db(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(call, *args, **kwargs)

    def _decided(self, item: QueueItem) -> None:
        """A decision changed ``item``: the views learn it at once."""
        self.bus.publish(ItemUpdated(queue_row(item)))

    def _after_decisions(self) -> None:
        """Hook: the engine wakes its push loop here."""

    async def list_queue(
        self, states: Sequence[str] | None = None, search: str | None = None
    ) -> list[QueueRow]:
        # Rows are built in the worker thread too: 100,000 of them would hold the event loop.
        if search:
            found = self.store.list_items
            return await self._db(
                lambda: with_reviewers(self.store, [queue_row(item) for item in found(states, search)])
            )
        # The whole list (the desktop's queue): its columns only, no ORM objects, no snapshots.
        return await self._db(
            lambda: with_reviewers(
                self.store,
                [queue_row_from_columns(columns) for columns in list_queue_columns(self.store, states)],
            )
        )

    async def list_links(self, search: str | None = None, limit: int | None = None) -> list[LinkRow]:
        return await self._db(lambda: [link_row(link) for link in self.store.list_links(search, limit)])

    async def list_audit(
        self,
        *,
        direction: str | None = None,
        sys_id: str | None = None,
        ticket_id: int | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        events = await self._db(
            lambda: self.store.list_audit(
                direction=direction, sys_id=sys_id, ticket_id=ticket_id, limit=limit
            )
        )
        return [audit_row(event) for event in events]

    async def _act(
        self, action: Callable[..., list[TransitionResult]], keys: Sequence[str], by: str, **extra: Any
    ) -> list[ActionResult]:
        results = await self._db(action, list(keys), by, **extra)
        for result in results:
            if result.item is not None and result.status == "changed":
                self._decided(result.item)
        self._after_decisions()
        return [ActionResult(key=r.key, ok=r.ok, message=r.message, status=r.status) for r in results]

    async def approve(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        return await self._act(self.store.approve, keys, by, seen=seen)

    async def reject(
        self,
        keys: Sequence[str],
        by: str = "user",
        reason: str | None = None,
        *,
        seen: Mapping[str, str] | None = None,
    ) -> list[ActionResult]:
        return await self._act(self.store.reject, keys, by, reason=reason, seen=seen)

    async def restore(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        return await self._act(self.store.restore, keys, by, seen=seen)

    async def retry(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        return await self._act(self.store.retry, keys, by, seen=seen)

    # ---- per-ticket overrides (the engine and an attached desk alike) ----------------------------

    async def _picklists(self) -> TicketMetadata | None:
        """The tenant's picklists: the engine's cache, or what the engine stored for a desk."""
        raise NotImplementedError

    def _now(self) -> datetime:
        raise NotImplementedError

    async def override_choices(self) -> OverrideChoices:
        """What each overridable field may be set to: the tenant's active labels (from the stored
        picklists), and the title's length limit."""
        return choices_for(await self._picklists())

    async def set_overrides(self, key: str, values: Mapping[str, str | None], by: str) -> ActionResult:
        """Change ticket fields of one queued incident (None: back to the mapping). Picklist values
        must be the tenant's active labels; the title 1 to its length limit."""
        metadata = await self._picklists()
        problems = [
            f"{target}: {problem}"
            for target, value in values.items()
            if value is not None and (problem := check_override(target, value, metadata))
        ]
        if problems:
            return ActionResult(key, False, "; ".join(problems))
        result = await self._db(self.store.set_overrides, key, values, by, now=self._now())
        if result.item is not None and result.ok:
            self._decided(result.item)
        return ActionResult(result.key, result.ok, result.message)

    async def clear_overrides(self, key: str, by: str) -> ActionResult:
        result = await self._db(self.store.clear_overrides, key, by, now=self._now())
        if result.item is not None and result.ok:
            self._decided(result.item)
        return ActionResult(result.key, result.ok, result.message)


def explain_stored(config: AppConfig, store: Store, key: str) -> Explanation | None:
    """Why an item is where it is, from the queue and links; None when the store does not know it
    (then only a live read of ServiceNow can say). Blocking: run it in a worker thread."""
    key = key.strip()
    item = store.get_item(key)
    link = store.get_link(number=key) if item is None else None
    if item is None and link is None:
        return None
    if item is None:
        assert link is not None
        return Explanation(
            key,
            True,
            False,
            "pushed",
            f"{link.incident_number} is linked to ticket {link.ticket_number}",
            ticket_number=link.ticket_number,
        )
    linked = store.get_link(sys_id=item.sys_id)
    verdict = evaluate(config.trigger, item.incident(), linked=linked is not None)
    number = item.number
    ticket_number = linked.ticket_number if linked else "?"
    decider = item.decided_by or "a user"
    summaries = {
        QueueState.PENDING: f"{number} is in the queue, waiting for approval",
        QueueState.APPROVED: f"{number} is approved and will be pushed on the next cycle",
        QueueState.PUSHING: f"{number} is being pushed (or waits to check Autotask first)",
        QueueState.PUSHED: f"{number} is linked to Autotask ticket {ticket_number}",
        QueueState.REJECTED: f"{number} was rejected by {decider}"
        + (f" ({item.drop_reason})" if item.drop_reason else "")
        + "; restore it to queue it",
        QueueState.FAILED: f"{number} failed: {item.last_error}",
        QueueState.DROPPED: f"{number} left the queue: {item.drop_reason}",
    }
    summary = summaries[item.state]
    if item.state in (QueueState.APPROVED, QueueState.PENDING) and item.next_retry_at is not None:
        summary += f"; next try at {item.next_retry_at:%Y-%m-%d %H:%M:%S} UTC ({item.last_error})"
    return Explanation(
        key,
        True,
        item.state in (QueueState.PENDING, QueueState.APPROVED, QueueState.PUSHING, QueueState.FAILED),
        str(item.state),
        summary,
        tuple(verdict.reasons()),
        ticket_number=linked.ticket_number if linked else None,
    )


def dry_run_report(
    config: AppConfig, store: Store, metadata: TicketMetadata | None, now: datetime
) -> DryRunReport:
    """What auto-push would do now over the queued snapshots: no write anywhere. Blocking."""
    items = store.list_items([QueueState.PENDING, QueueState.APPROVED])
    linked = store.linked_sys_ids_among([item.sys_id for item in items])
    create: list[DryRunEntry] = []
    fail: list[DryRunEntry] = []
    not_matching: list[DryRunEntry] = []
    for item in items:
        incident = item.incident()
        verdict = evaluate(config.trigger, incident, linked=item.sys_id in linked)
        overrides = overrides_from_json(item.overrides)
        draft = preview(incident, config.outbound, metadata, now=now, overrides=overrides)
        problems = tuple(draft.errors) if verdict.matched else tuple(verdict.reasons())
        if metadata is None:
            problems = ("Autotask picklists could not be read; ids cannot be resolved", *problems)
        entry = DryRunEntry(
            item.sys_id, item.number, item.short_description, not problems, problems, dict(draft.payload)
        )
        (create if entry.ok else fail if verdict.matched else not_matching).append(entry)
    return DryRunReport(tuple(create), tuple(fail), tuple(not_matching))
