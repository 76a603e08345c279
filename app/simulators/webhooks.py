"""Outbound HTTP deliveries for the simulators (ServiceNow id-only notifications, Autotask webhooks).

:class:`WebhookDispatcher` never blocks the caller: :meth:`~WebhookDispatcher.submit` queues a
:class:`Delivery` on its *lane* (one background thread per lane, deliveries of a lane strictly in
order; the Autotask simulator uses one lane per webhook). Each delivery is tried up to
``max_attempts`` times, ``timeout`` seconds each, ``retry_delay`` seconds apart; a 2xx answer is a
success, anything else (status or transport error) a failed attempt. After the last failed attempt
the delivery is dropped and recorded. ``on_done(success)`` runs on the lane thread afterwards.

Every attempt is recorded as a :class:`DeliveryAttempt` (url, body, status or error) for tests.
:meth:`~WebhookDispatcher.clear` forgets queued work and the records (a running attempt finishes,
but its outcome is discarded); :meth:`~WebhookDispatcher.stop` also ends the threads (a later
``submit`` starts fresh ones).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import httpx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    lane: str = "default"
    max_attempts: int = 1
    retry_delay: float = 0.0
    timeout: float = 10.0
    on_done: Callable[[bool], None] | None = None


@dataclass(frozen=True)
class DeliveryAttempt:
    at: float
    lane: str
    url: str
    body: bytes
    headers: dict[str, str]
    attempt: int  # 1-based
    status: int | None  # HTTP status, None when the request itself failed
    error: str | None  # transport error text, None when an answer arrived

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Lane:
    jobs: queue.Queue[tuple[int, Delivery] | None] = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None
    pending: int = 0  # submitted and not finished (queued or running)


class WebhookDispatcher:
    def __init__(self, name: str = "webhooks") -> None:
        self.name = name
        self._cond = threading.Condition()
        self._lanes: dict[str, _Lane] = {}
        self._generation = 0
        self._stopping = False
        self._attempts: list[DeliveryAttempt] = []
        self._dropped: list[Delivery] = []
        self._delivered: list[Delivery] = []

    # ---- public

    def submit(self, delivery: Delivery) -> None:
        with self._cond:
            lane = self._lanes.get(delivery.lane)
            if lane is None:
                self._stopping = False
                lane = _Lane()
                lane.thread = threading.Thread(
                    target=self._run, args=(lane,), name=f"{self.name}-{delivery.lane}", daemon=True
                )
                self._lanes[delivery.lane] = lane
                lane.thread.start()
            lane.pending += 1
            lane.jobs.put((self._generation, delivery))

    def attempts(self, lane: str | None = None) -> list[DeliveryAttempt]:
        with self._cond:
            return [a for a in self._attempts if lane is None or a.lane == lane]

    def dropped(self) -> list[Delivery]:
        """Deliveries that failed every attempt."""
        with self._cond:
            return list(self._dropped)

    def delivered(self) -> list[Delivery]:
        with self._cond:
            return list(self._delivered)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait (bounded) until ``predicate()`` holds; re-checked after every attempt and outcome."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no lane has queued or running work."""
        return self.wait_for(lambda: all(lane.pending == 0 for lane in self._lanes.values()), timeout)

    def clear(self) -> None:
        """Drop queued deliveries and forget the records; never blocks on a running attempt."""
        with self._cond:
            self._generation += 1
            for lane in self._lanes.values():
                lane.pending -= _drain(lane.jobs)
            self._attempts.clear()
            self._dropped.clear()
            self._delivered.clear()
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Clear and end the lane threads (joined with a bounded wait)."""
        with self._cond:
            self._generation += 1
            self._stopping = True
            lanes = list(self._lanes.values())
            self._lanes.clear()
            for lane in lanes:
                _drain(lane.jobs)
                lane.jobs.put(None)
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for lane in lanes:
            if lane.thread is not None and lane.thread is not threading.current_thread():
                lane.thread.join(max(0.0, deadline - time.monotonic()))

    # ---- lane thread

    def _current(self, generation: int) -> bool:
        return generation == self._generation and not self._stopping

    def _run(self, lane: _Lane) -> None:
        with httpx.Client() as client:
            while True:
                job = lane.jobs.get()
                if job is None:
                    return
                generation, delivery = job
                try:
                    if self._current(generation):
                        self._deliver(client, generation, delivery)
                except Exception:  # pragma: no cover - a lane must survive a bad callback
                    log.exception("%s: delivery to %s failed unexpectedly", self.name, delivery.url)
                finally:
                    with self._cond:
                        lane.pending -= 1
                        self._cond.notify_all()

    def _deliver(self, client: httpx.Client, generation: int, delivery: Delivery) -> None:
        attempts = max(1, delivery.max_attempts)
        success = False
        for number in range(1, attempts + 1):
            status: int | None = None
            error: str | None = None
            try:
                response = client.post(
                    delivery.url,
                    content=delivery.body,
                    headers=dict(delivery.headers),
                    timeout=delivery.timeout,
                )
                status = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            attempt = DeliveryAttempt(
                time.time(),
                delivery.lane,
                delivery.url,
                delivery.body,
                dict(delivery.headers),
                number,
                status,
                error,
            )
            with self._cond:
                if not self._current(generation):
                    return  # cleared while the attempt ran: its outcome no longer matters
                self._attempts.append(attempt)
                self._cond.notify_all()
                if attempt.ok:
                    success = True
                    break
                if number < attempts:
                    self._cond.wait_for(lambda: not self._current(generation), timeout=delivery.retry_delay)
                    if not self._current(generation):
                        return
        with self._cond:
            if not self._current(generation):
                return
            (self._delivered if success else self._dropped).append(delivery)
            self._cond.notify_all()
        if not success:
            log.info("%s: dropped delivery to %s after %d attempts", self.name, delivery.url, attempts)
        if delivery.on_done is not None:
            delivery.on_done(success)


def _drain(jobs: queue.Queue[tuple[int, Delivery] | None]) -> int:
    """Empty a lane's queue; how many deliveries were removed."""
    removed = 0
    while True:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return removed
        if job is not None:
            removed += 1
