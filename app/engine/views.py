"""Read-only views of engine state for the UI and the CLI (no SQLModel objects leak upward)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

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


@dataclass(frozen=True)
class BudgetState:
    used: int
    limit: int
    remaining: int


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
