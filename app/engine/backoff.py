"""Per-item and per-system retry scheduling: exponential backoff with jitter, honouring Retry-After."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.connectors.errors import ConnectorError, RateLimited


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 15.0
    max_seconds: float = 15 * 60.0
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, attempt: int, error: ConnectorError | None = None) -> float:
        """Seconds before try number ``attempt + 1`` (attempt >= 1); never shorter than Retry-After."""
        ceiling = min(self.max_seconds, self.base_seconds * (2 ** max(0, attempt - 1)))
        delay: float = ceiling * (0.5 + 0.5 * self.jitter())
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = max(delay, float(error.retry_after))
        return delay

    def next_at(self, now: datetime, attempt: int, error: ConnectorError | None = None) -> datetime:
        return now + timedelta(seconds=self.delay(attempt, error))
