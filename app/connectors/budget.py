"""Our share of Autotask's hourly request limit, as a sliding-window budget, and the tenant's.

Autotask allows about 10,000 requests per hour per database, shared by every integration on the
tenant, and refuses requests at 100 % until usage drops. We keep to our share: normally no
delay; from half of the share used, requests are spaced out more and more so the rest lasts until
the window frees up; when the share is used up, the delay is the time until our oldest request in
the window leaves it (a single wait, never a busy loop).

``update_from_threshold`` merges the tenant-wide count from ``/ThresholdInformation`` so other
integrations' usage slows us down too. A reading is not frozen: its requests leave the hourly
window as the hour rolls on (taken as spread evenly over the hour), so the estimate falls and the
pace picks up again without waiting for a new reading. The pace never drops below what the
remaining requests and the rest of the reading's hour allow. :meth:`threshold_due` says when to
read again: about every minute above 90 %, less often when the tenant is quiet.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

WINDOW_SECONDS = 3600.0
PACING_FROM = 0.5  # fraction of the budget from which requests are spaced out
TENANT_RECHECK_SECONDS = 60.0  # when the whole tenant is at its limit, look again after this
HIGH_USAGE = 0.9  # from this tenant fraction, ThresholdInformation is read about every minute
RECHECK_HIGH_SECONDS = 60.0
RECHECK_PACED_SECONDS = 300.0  # between PACING_FROM and HIGH_USAGE
RECHECK_LOW_SECONDS = 1800.0  # a quiet tenant: an idle run --once reuses the stored reading


@dataclass(frozen=True)
class BudgetState:
    """A snapshot for the UI: our usage, our allowance and, when known, the tenant's."""

    used: int
    allowance: int
    remaining: int
    fraction_used: float
    tenant_count: int | None  # the tenant's estimated count now (the reading, decayed, plus ours since)
    tenant_limit: int | None
    reading_age: float | None = None  # seconds since the tenant reading was taken
    delay: float = 0.0  # seconds before the next request may go


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

    def update_from_threshold(self, info: Mapping[str, Any], *, age: float = 0.0) -> None:
        """Merge /ThresholdInformation: externalRequestThreshold and currentTimeframeRequestCount.
        ``age``: seconds since the reading was taken (a reading kept in the store)."""
        count = info.get("currentTimeframeRequestCount")
        limit = info.get("externalRequestThreshold")
        if isinstance(count, int) and not isinstance(count, bool):
            self._tenant_count = max(0, count)
            self._tenant_at = self._clock() - max(0.0, age)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            self._tenant_limit = limit
            self.hourly_limit = limit
            self.allowance = max(1, int(limit * self.share))
        self._notify()

    def _tenant_estimate(self, now: float) -> tuple[int, int] | None:
        """(estimated tenant count now, tenant limit); None when never read.

        The reading's requests leave the window as the hour rolls on (taken as evenly spread);
        ours sent after the reading are added while they are in the window."""
        if self._tenant_count is None or self._tenant_limit is None:
            return None
        elapsed = max(0.0, now - self._tenant_at)
        remaining_share = max(0.0, 1.0 - elapsed / self.window)
        ours_since = sum(1 for sent in self._sent if sent > self._tenant_at)
        return int(round(self._tenant_count * remaining_share)) + ours_since, self._tenant_limit

    def threshold_due(self) -> bool:
        """Time to read ThresholdInformation again: never read, or the last reading is older than
        the interval its level asks for (about a minute when it was above :data:`HIGH_USAGE`)."""
        now = self._clock()
        if self._tenant_count is None or self._tenant_limit is None:
            return True
        fraction = self._tenant_count / self._tenant_limit  # the last reading's level
        if fraction >= HIGH_USAGE:
            interval = RECHECK_HIGH_SECONDS
        elif fraction >= PACING_FROM:
            interval = RECHECK_PACED_SECONDS
        else:
            interval = RECHECK_LOW_SECONDS
        return now - self._tenant_at >= interval

    # ---- pacing ----------------------------------------------------------------------------------

    @staticmethod
    def _spacing(fraction: float, rest: float, remaining: int) -> float:
        """From PACING_FROM, a growing share of the even spacing ``rest / remaining``; never more
        than that spacing (so the remaining requests always fit in the rest of the hour)."""
        if fraction < PACING_FROM:
            return 0.0
        ramp = min(1.0, (fraction - PACING_FROM) / (1 - PACING_FROM))
        return max(0.0, ramp * rest / max(1, remaining))

    def delay(self) -> float:
        """Seconds to wait before the next request (0.0 normally): the spacing the usage asks for,
        counted from our last request, so one wait is always enough."""
        now = self._clock()
        self._prune(now)
        used = len(self._sent)
        frees_in = (self._sent[0] + self.window - now) if self._sent else self.window
        if used >= self.allowance:
            return max(0.0, frees_in)
        spacing = self._spacing(used / self.allowance, frees_in, self.allowance - used)
        tenant = self._tenant_estimate(now)
        if tenant is not None:
            count, limit = tenant
            if count >= limit:
                # Autotask refuses everyone now; look again in a minute (a new reading corrects us).
                return TENANT_RECHECK_SECONDS
            rest = max(1.0, self._tenant_at + self.window - now)
            spacing = max(spacing, self._spacing(count / limit, rest, limit - count))
        if spacing <= 0 or not self._sent:
            return 0.0
        return max(0.0, self._sent[-1] + spacing - now)

    def reading_age(self) -> float | None:
        return None if self._tenant_count is None else max(0.0, self._clock() - self._tenant_at)

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
            reading_age=self.reading_age(),
            delay=self.delay(),
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
