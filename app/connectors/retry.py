"""Retry with exponential backoff and full jitter, honouring Retry-After.

Short waits are absorbed inside a call; a wait longer than ``max_inline_wait`` is handed to the
engine (the error is re-raised) so it can pause the pipeline instead of holding a request slot.
Non-idempotent requests (ticket create) are never retried here when the outcome is unknown: the
engine searches by external reference first.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from app.connectors.errors import ConnectorError, RateLimited, System

T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_RETRY_AFTER = 3600.0  # an hour: Autotask's whole threshold window; a server asking for more is broken


def sane_retry_after(value: float | None, system: System, raw: str) -> float | None:
    """Clamp a Retry-After to [0, MAX_RETRY_AFTER]; NaN means none was sent. Says so in the log
    when the server's value was absurd (``inf``, negative, huge, not a number)."""
    if value is None:
        return None
    if math.isnan(value):
        log.warning("%s sent Retry-After %r, which is not a number; ignoring it", system, raw)
        return None
    if value < 0:
        log.warning("%s sent Retry-After %r, in the past; trying again now", system, raw)
        return 0.0
    if value > MAX_RETRY_AFTER:
        log.warning("%s sent Retry-After %r; waiting %.0f s instead", system, raw, MAX_RETRY_AFTER)
        return MAX_RETRY_AFTER
    return value


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_inline_wait: float = 15.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    jitter: Callable[[], float] = field(default=random.random, compare=False)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**attempt)], never below a tenth of it."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return float(max(ceiling * 0.1, ceiling * self.jitter()))

    def delay_for(self, error: ConnectorError, attempt: int) -> float:
        if isinstance(error, RateLimited) and error.retry_after is not None:
            return max(0.0, error.retry_after)
        return self.backoff(attempt)


NO_RETRY = RetryPolicy(attempts=1)


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    idempotent: bool,
    on_retry: Callable[[ConnectorError, float], None] | None = None,
) -> T:
    """Run ``call``; retry retryable errors up to ``policy.attempts`` times in total."""
    attempt = 0
    while True:
        try:
            return await call()
        except ConnectorError as error:
            attempt += 1
            if not error.retryable or attempt >= policy.attempts:
                raise
            if error.outcome_unknown and not idempotent:
                raise
            delay = policy.delay_for(error, attempt - 1)
            if delay > policy.max_inline_wait:
                raise
            if on_retry is not None:
                on_retry(error, delay)
            await policy.sleep(delay)
