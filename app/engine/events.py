"""Typed engine events and the one subscription API the UI and the headless runner share.

Subscribers are plain callables invoked on the engine's event-loop thread, in publish order. A
subscriber that raises is logged and never breaks the engine or other subscribers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from app.engine.views import AuditRow, BudgetState, HealthState, LinkRow, QueueRow

log = logging.getLogger(__name__)

SystemName = Literal["servicenow", "autotask"]


@dataclass(frozen=True)
class PollStarted:
    system: SystemName


@dataclass(frozen=True)
class PollFinished:
    system: SystemName
    fetched: int
    queued: int = 0
    refreshed: int = 0
    removed: int = 0
    applied: int = 0
    requests: int = 0
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class PollFailed:
    system: SystemName
    error: str


@dataclass(frozen=True)
class ItemQueued:
    row: QueueRow


@dataclass(frozen=True)
class ItemUpdated:
    row: QueueRow


@dataclass(frozen=True)
class ItemRemoved:
    sys_id: str
    number: str
    reason: str


@dataclass(frozen=True)
class PushStarted:
    sys_id: str
    number: str
    attempt: int


@dataclass(frozen=True)
class PushSucceeded:
    sys_id: str
    number: str
    ticket_id: int
    ticket_number: str
    recovered: bool = False  # True when an existing ticket was found and linked instead of created


@dataclass(frozen=True)
class PushFailed:
    sys_id: str
    number: str
    error: str
    permanent: bool
    retry_at: datetime | None = None


@dataclass(frozen=True)
class FieldChangeView:
    field: str
    old: str | None
    new: str
    reason: str


@dataclass(frozen=True)
class ReturnApplied:
    ticket_id: int
    ticket_number: str
    sys_id: str
    number: str
    changes: tuple[FieldChangeView, ...]


@dataclass(frozen=True)
class ReturnFailed:
    ticket_id: int
    ticket_number: str
    sys_id: str
    number: str
    error: str
    retry_at: datetime | None = None


@dataclass(frozen=True)
class LinkChanged:
    row: LinkRow


@dataclass(frozen=True)
class AuditRecorded:
    row: AuditRow
    from_store: bool = False  # an attached desk read it from the store (any direction, not only system)


@dataclass(frozen=True)
class HealthChanged:
    system: SystemName
    health: HealthState


@dataclass(frozen=True)
class BudgetChanged:
    used: int
    limit: int
    remaining: int
    state: BudgetState | None = None  # the full view: tenant reading, pacing delay, holds


@dataclass(frozen=True)
class AutoPushChanged:
    enabled: bool


@dataclass(frozen=True)
class ReviewersChanged:
    """Another desk claimed or released an incident: "anna is reviewing" may have changed."""


EngineEvent = (
    PollStarted
    | PollFinished
    | PollFailed
    | ItemQueued
    | ItemUpdated
    | ItemRemoved
    | PushStarted
    | PushSucceeded
    | PushFailed
    | ReturnApplied
    | ReturnFailed
    | LinkChanged
    | AuditRecorded
    | HealthChanged
    | BudgetChanged
    | AutoPushChanged
    | ReviewersChanged
)

Subscriber = Callable[[EngineEvent], None]


@dataclass
class EventBus:
    _subscribers: list[Subscriber] = field(default_factory=list)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    def publish(self, event: EngineEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("event subscriber failed on %s", type(event).__name__)
