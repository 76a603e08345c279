"""Our share of Autotask's hourly request limit, as a sliding-window budget.

Autotask allows about 10,000 requests per hour per database, shared by every integration on the
tenant, and slows down then refuses requests near the limit. We keep to our share: normally no
delay; from half of the share used, requests are spaced out more and more so the rest lasts until
the window frees up; when the share is used up, the delay is the time until our oldest request in
the window leaves it (a single wait, never a busy loop). ``update_from_threshold`` merges the
tenant-wide count from ``/ThresholdInformation`` so other integrations' usage slows us down too.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

WINDOW_SECONDS = 3600.0
PACING_FROM = 0.5  # fraction of the budget from which requests are spaced out
TENANT_RECHECK_SECONDS = 60.0  # when the whole tenant is over its limit, look again after this


@dataclass(frozen=True)
class BudgetState:
    """A snapshot for the UI: our usage, our allowance and, when known, the tenant's."""

    used: int
    allowance: int
    remaining: int
    fraction_used: float
    tenant_count: int | None
    tenant_limit: int | None


BudgetListener = Callable[[BudgetState], None]


class RequestBudget:
    def __init__(
        self,
        hourly_limit: int,
        share: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        window: float = WINDOW_SECONDS,
    ) -> None:
        if hourly_limit < 1:
            raise ValueError("hourly_limit must be at least 1")
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.hourly_limit = hourly_limit
        self.share = share
        self.allowance = max(1, int(hourly_limit * share))
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._listeners: list[BudgetListener] = []
        self._tenant_count: int | None = None
        self._tenant_limit: int | None = None
        self._tenant_at: float = 0.0
        self._ours_at_tenant_update = 0
        self._total = 0  # requests recorded ever (the window prunes; this never goes down)

    # ---- counting --------------------------------------------------------------------------------

    def _prune(self, now: float) -> None:
        horizon = now - self.window
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()

    def record(self) -> None:
        """Count one request we are about to send."""
        now = self._clock()
        self._prune(now)
        self._sent.append(now)
        self._total += 1
        self._notify()

    def used(self) -> int:
        self._prune(self._clock())
        return len(self._sent)

    def remaining(self) -> int:
        return max(0, self.allowance - self.used())

    def fraction_used(self) -> float:
        return min(1.0, self.used() / self.allowance)

    # ---- tenant-wide usage -----------------------------------------------------------------------

    def update_from_threshold(self, info: Mapping[str, Any]) -> None:
        """Merge /ThresholdInformation: externalRequestThreshold and currentTimeframeRequestCount."""
        count = info.get("currentTimeframeRequestCount")
        limit = info.get("externalRequestThreshold")
        if isinstance(count, int) and not isinstance(count, bool):
            self._tenant_count = max(0, count)
            self._tenant_at = self._clock()
            self._ours_at_tenant_update = self._total
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            self._tenant_limit = limit
            self.hourly_limit = limit
            self.allowance = max(1, int(limit * self.share))
        self._notify()

    def _tenant_estimate(self, now: float) -> tuple[int, int] | None:
        """(estimated tenant count now, tenant limit); None when unknown or stale."""
        if self._tenant_count is None or self._tenant_limit is None:
            return None
        if now - self._tenant_at > self.window:
            return None
        ours_since = self._total - self._ours_at_tenant_update
        return self._tenant_count + ours_since, self._tenant_limit

    # ---- pacing ----------------------------------------------------------------------------------

    def delay(self) -> float:
        """Seconds to wait before the next request (0.0 normally)."""
        now = self._clock()
        self._prune(now)
        used = len(self._sent)
        frees_in = (self._sent[0] + self.window - now) if self._sent else self.window
        if used >= self.allowance:
            return max(0.0, frees_in)
        fraction = used / self.allowance
        remaining = self.allowance - used
        tenant = self._tenant_estimate(now)
        if tenant is not None:
            tenant_count, tenant_limit = tenant
            if tenant_count >= tenant_limit:
                return TENANT_RECHECK_SECONDS
            fraction = max(fraction, tenant_count / tenant_limit)
            remaining = min(remaining, tenant_limit - tenant_count)
        if fraction < PACING_FROM:
            return 0.0
        ramp = (fraction - PACING_FROM) / (1 - PACING_FROM)
        return max(0.0, ramp * frees_in / max(1, remaining))

    # ---- notifications ---------------------------------------------------------------------------

    def state(self) -> BudgetState:
        used = self.used()
        now = self._clock()
        tenant = self._tenant_estimate(now)
        return BudgetState(
            used=used,
            allowance=self.allowance,
            remaining=max(0, self.allowance - used),
            fraction_used=min(1.0, used / self.allowance),
            tenant_count=tenant[0] if tenant else None,
            tenant_limit=tenant[1] if tenant else None,
        )

    def subscribe(self, callback: BudgetListener) -> Callable[[], None]:
        """Call ``callback`` with a :class:`BudgetState` after each change; returns an unsubscribe."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def _notify(self) -> None:
        if not self._listeners:
            return
        snapshot = self.state()
        for listener in list(self._listeners):
            listener(snapshot)

    def __repr__(self) -> str:
        return f"RequestBudget(used={self.used()}, allowance={self.allowance}, window={self.window:g}s)"
