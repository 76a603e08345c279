"""Read-only views of engine state for the UI and the CLI (no SQLModel objects leak upward)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from app.domain.overrides import OVERRIDABLE, PICKLIST_OVERRIDES, title_limit
from app.domain.records import TicketMetadata

HealthLevel = Literal["unknown", "ok", "degraded", "auth_failed", "offline", "paused"]


@dataclass(frozen=True)
class QueueRow:
    id: int
    sys_id: str
    number: str
    short_description: str
    category: str
    priority: int
    caller: str
    state: str  # pending, approved, pushing, pushed, rejected, failed, dropped
    attempts: int
    last_error: str | None
    next_retry_at: datetime | None
    queued_at: datetime
    updated_at: datetime
    sn_updated_on: datetime
    decided_by: str | None = None
    drop_reason: str | None = None
    forced_reason: str | None = None  # "Push anyway": why a person sent it past the trigger
    duplicate_of: str | None = None  # the incident this one looks like a repeat of (auto-push holds it)
    duplicate_note: str | None = None  # why: same caller or CI, how alike, how far apart
    overrides: dict[str, str] = field(default_factory=dict)  # ticket field -> a person's value
    overridden_by: str | None = None  # who set the latest override
    reviewers: tuple[str, ...] = ()  # desks with the item open right now (soft claims), oldest first


@dataclass(frozen=True)
class LinkRow:
    id: int
    sys_id: str
    incident_number: str
    ticket_id: int
    ticket_number: str
    linked_at: datetime
    writeback_state: str  # pending, done, failed
    writeback_error: str | None
    last_outbound_at: datetime | None
    last_return_at: datetime | None
    return_synced: dict[str, str] = field(default_factory=dict)
    adopted: bool = False  # found in Autotask (lost database, second desk), not created here
    note: str | None = None  # the latest remark (closed incident skipped, value the instance kept)
    ticket_title: str = ""  # as created/adopted, refreshed by the return trip's reads


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    direction: str  # outbound, return, system
    kind: str
    outcome: str  # ok, failed, skipped, retry
    sys_id: str | None
    incident_number: str | None
    ticket_id: int | None
    ticket_number: str | None
    summary: str
    request_body: str | None
    response_body: str | None


@dataclass(frozen=True)
class HealthState:
    level: HealthLevel = "unknown"
    message: str = ""
    last_success: datetime | None = None
    last_failure: datetime | None = None
    next_poll: datetime | None = None
    last_reconciled: datetime | None = None  # the last reconciliation pass, and what it found
    reconcile_found: tuple[str, ...] = ()


HOLD_KINDS: dict[str, str] = {
    "poll": "poll",
    "push": "pushes",
    "writeback": "write-backs",
    "return": "return-trip updates",
}
_SYSTEM_NAMES = {"servicenow": "ServiceNow", "autotask": "Autotask"}


@dataclass(frozen=True)
class HoldView:
    """A "not before" for one system and kind of call (a Retry-After the server asked for)."""

    system: str  # servicenow | autotask
    kind: str  # poll | push | writeback | return
    until: datetime
    reason: str = ""

    def describe(self) -> str:
        what = f"{_SYSTEM_NAMES.get(self.system, self.system)} {HOLD_KINDS.get(self.kind, self.kind)}"
        reason = f" ({self.reason})" if self.reason else ""
        return f"{what} held until {self.until.astimezone(UTC):%H:%M:%S} UTC{reason}"


def _seconds(value: float) -> str:
    whole = max(1, math.ceil(value))
    if whole < 120:
        return f"{whole} s"
    return f"{math.ceil(whole / 60)} min"


@dataclass(frozen=True)
class BudgetState:
    """Our Autotask request budget, the tenant's last reading and every hold, for the status bar
    and ``triage-sync status``."""

    used: int
    limit: int
    remaining: int
    tenant_count: int | None = None  # the tenant's estimated count now (all integrations)
    tenant_limit: int | None = None
    delay_seconds: float = 0.0  # before our next Autotask request may go
    holds: tuple[HoldView, ...] = ()
    reading_at: datetime | None = None  # when ThresholdInformation was last read
    as_of: datetime | None = None  # when delay_seconds was computed

    def describe(self, now: datetime) -> str:
        """One plain line, e.g. "Autotask is 97 % busy this hour (others 9,600, us 120): pushes
        are paced, next in 40 s"; then any hold."""
        text = ""
        if self.tenant_count is not None and self.tenant_limit:
            percent = min(100, int(100 * self.tenant_count / self.tenant_limit))
            others = max(0, self.tenant_count - self.used)
            text = f"Autotask is {percent} % busy this hour (others {others:,}, us {self.used:,})"
        elif self.limit > 0:
            text = f"budget: {self.remaining:,} / {self.limit:,} left this hour"
        delay = self.delay_seconds
        if self.as_of is not None:
            delay -= (now - self.as_of).total_seconds()
        if delay >= 1:
            text += f"{': p' if text else 'P'}ushes are paced, next in {_seconds(delay)}"
        active = [hold.describe() for hold in self.holds if hold.until > now]
        return " · ".join(part for part in [text, *active] if part)


@dataclass(frozen=True)
class Explanation:
    """Why an incident is or is not in the queue, in sentences a triage user understands."""

    key: str
    found: bool
    in_queue: bool
    state: str | None
    summary: str
    reasons: tuple[str, ...] = ()
    ticket_number: str | None = None
    can_push_anyway: bool = False  # found, not linked, not selected by the trigger


@dataclass(frozen=True)
class DryRunEntry:
    sys_id: str
    number: str
    short_description: str
    ok: bool
    problems: tuple[str, ...]
    payload: dict[str, object]


@dataclass(frozen=True)
class DryRunReport:
    would_create: tuple[DryRunEntry, ...]
    would_fail: tuple[DryRunEntry, ...]
    not_matching: tuple[DryRunEntry, ...] = ()


@dataclass(frozen=True)
class ActionResult:
    """Per-key outcome of approve/reject/restore/retry."""

    key: str
    ok: bool
    message: str
    # changed | unchanged (already so, e.g. another desk approved it first) | invalid | unknown |
    # conflict (another desk decided it after this desk looked: the message says who and when)
    status: str = "changed"


@dataclass(frozen=True)
class OverrideChoices:
    """What "Edit ticket fields" offers: each picklist field's active labels (empty while the
    picklists are not loaded), and the title's length limit."""

    labels: dict[str, tuple[str, ...]]
    title_max: int
    loaded: bool = True

    @property
    def fields(self) -> tuple[str, ...]:
        return OVERRIDABLE


def choices_for(metadata: TicketMetadata | None) -> OverrideChoices:
    labels = {
        target: tuple(metadata.labels(target)) if metadata is not None else ()
        for target in OVERRIDABLE
        if target in PICKLIST_OVERRIDES
    }
    return OverrideChoices(labels, title_limit(metadata), loaded=metadata is not None)
