"""Simulator time: the wall clock by default, or a manual clock tests move forward."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    """Wall-clock time in UTC. ``advance`` adds an offset (for scenarios that jump ahead)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)


class ManualClock(SimClock):
    """A clock that stands still until told to move: deterministic timestamps for tests."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__()
        self._now = start or datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment
