"""EngineBridge: engine events in, coalesced Qt signals out.

The engine publishes plain events on its asyncio loop (the GUI thread under qasync, but a
subscriber must not rely on that). The bridge only appends each event to a buffer; a single-shot
timer flushes the buffer at most every ``interval_ms`` and emits one signal per event family with
the whole batch. A poll that queues 5,000 incidents therefore costs the UI a handful of model
updates, not 5,000.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot

from app.engine.events import (
    AuditRecorded,
    AutoPushChanged,
    BudgetChanged,
    EngineEvent,
    EventBus,
    HealthChanged,
    ItemQueued,
    ItemRemoved,
    ItemUpdated,
    LinkChanged,
    PollFailed,
    PollFinished,
    PollStarted,
    PushFailed,
    PushStarted,
    PushSucceeded,
    ReturnApplied,
    ReturnFailed,
    ReviewersChanged,
)

QUEUE_EVENTS = (ItemQueued, ItemUpdated, ItemRemoved)
ACTIVITY_EVENTS = (PushStarted, PushSucceeded, PushFailed, ReturnApplied, ReturnFailed, AuditRecorded)
POLL_EVENTS = (PollStarted, PollFinished, PollFailed)


class EngineBridge(QObject):
    """Subscribes to an ``EventBus`` and re-emits batched Qt signals (payloads are lists of events)."""

    queueEvents = Signal(object)  # list[ItemQueued | ItemUpdated | ItemRemoved], in publish order
    activityEvents = Signal(object)  # list[Push* | Return* | AuditRecorded]
    linkEvents = Signal(object)  # list[LinkChanged]
    pollEvents = Signal(object)  # list[PollStarted | PollFinished | PollFailed]
    healthChanged = Signal(str, object)  # system, HealthState (latest per system)
    budgetChanged = Signal(object)  # BudgetChanged (latest)
    autoPushChanged = Signal(bool)
    reviewersChanged = Signal()  # claims changed on another desk (one signal per flush at most)
    flushed = Signal(int)  # number of events delivered by one flush (tests, diagnostics)

    _wake = Signal()

    def __init__(self, bus: EventBus, parent: QObject | None = None, *, interval_ms: int = 100) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._buffer: list[EngineEvent] = []
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.flush)
        # A queued connection makes publishing from any thread safe: the timer starts on ours.
        self._wake.connect(self._arm, Qt.ConnectionType.QueuedConnection)
        self._unsubscribe: Callable[[], None] | None = bus.subscribe(self._on_event)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._timer.stop()

    def _on_event(self, event: EngineEvent) -> None:
        with self._lock:
            first = not self._buffer
            self._buffer.append(event)
        if first:
            self._wake.emit()

    @Slot()
    def _arm(self) -> None:
        if not self._timer.isActive():
            self._timer.start()

    @Slot()
    def flush(self) -> None:
        with self._lock:
            events, self._buffer = self._buffer, []
        if not events:
            return
        queue: list[EngineEvent] = []
        activity: list[EngineEvent] = []
        links: list[EngineEvent] = []
        polls: list[EngineEvent] = []
        health: dict[str, HealthChanged] = {}
        budget: BudgetChanged | None = None
        auto_push: bool | None = None
        reviewers = False
        for event in events:
            if isinstance(event, QUEUE_EVENTS):
                queue.append(event)
            elif isinstance(event, ACTIVITY_EVENTS):
                activity.append(event)
            elif isinstance(event, LinkChanged):
                links.append(event)
            elif isinstance(event, POLL_EVENTS):
                polls.append(event)
            elif isinstance(event, HealthChanged):
                health[event.system] = event
            elif isinstance(event, BudgetChanged):
                budget = event
            elif isinstance(event, AutoPushChanged):
                auto_push = event.enabled
            elif isinstance(event, ReviewersChanged):
                reviewers = True
        if queue:
            self.queueEvents.emit(queue)
        if activity:
            self.activityEvents.emit(activity)
        if links:
            self.linkEvents.emit(links)
        if polls:
            self.pollEvents.emit(polls)
        for system, changed in health.items():
            self.healthChanged.emit(system, changed.health)
        if budget is not None:
            self.budgetChanged.emit(budget)
        if auto_push is not None:
            self.autoPushChanged.emit(auto_push)
        if reviewers:
            self.reviewersChanged.emit()
        self.flushed.emit(len(events))
