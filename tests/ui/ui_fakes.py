"""Fakes and helpers for the UI tests: an in-memory EngineAPI, rows, previews, a memory keyring."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from memory_keyring import MemoryKeyring as MemoryKeyring  # re-exported for the UI tests

from app.config import AppConfig, parse_config
from app.domain.impact import ImpactReport, compute_impact
from app.domain.outbound import FieldPreview, Preview
from app.domain.overview import AuditPoint, Overview, SamplePoint, build_overview
from app.domain.records import Incident, TicketMetadata
from app.engine.events import EngineEvent, EventBus, ItemRemoved, ItemUpdated, SystemName
from app.engine.views import (
    ActionResult,
    AuditRow,
    BudgetState,
    DryRunReport,
    Explanation,
    HealthState,
    LinkRow,
    OverrideChoices,
    QueueRow,
)

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def make_row(n: int, **changes: Any) -> QueueRow:
    categories = ("hardware", "software", "network", "database")
    row = QueueRow(
        id=n,
        sys_id=f"sys{n:06d}",
        number=f"INC{n:07d}",
        short_description=f"Printer on floor {n % 9} jams #{n}",
        category=categories[n % 4],
        priority=n % 5 + 1,
        caller=f"Caller {n % 17}",
        state="pending",
        attempts=0,
        last_error=None,
        next_retry_at=None,
        queued_at=NOW - timedelta(minutes=n),
        updated_at=NOW - timedelta(minutes=n),
        sn_updated_on=NOW - timedelta(minutes=n),
    )
    return replace(row, **changes) if changes else row


def make_preview(number: str, *, warning: str | None = None, error: str | None = None) -> Preview:
    fields = (
        FieldPreview(
            target="title",
            value="Printer jams",
            display="Printer jams",
            sources=(("short_description", "Printer jams"),),
            rule="template '{short_description}'",
            warnings=(warning,) if warning else (),
        ),
        FieldPreview(
            target="priority",
            value=2,
            display="Medium (2)",
            sources=(("priority", "3"),),
            rule="value_map priority: 3 → Medium",
        ),
        FieldPreview(
            target="queueID",
            value=None if error else 8,
            display="(not sent)" if error else "Level I Support (8)",
            sources=(("category", "hardware"),),
            rule="value_map category, default queue",
            error=error,
        ),
    )
    payload: dict[str, object] = {f.target: f.value for f in fields if f.value is not None}
    payload["externalID"] = "sys" + number
    return Preview(
        sys_id="sys" + number,
        number=number,
        payload=payload,
        fields=fields,
        warnings=(warning,) if warning else (),
        errors=(f"queueID: {error}",) if error else (),
    )


class FakeEngine:
    """Implements EngineAPI in memory; tests drive it by publishing events."""

    def __init__(self, config: AppConfig | None = None) -> None:
        self.bus = EventBus()
        self.config = config or parse_config({}, "test.toml")
        self.rows: dict[str, QueueRow] = {}
        self.links: list[LinkRow] = []
        self.audit: list[AuditRow] = []
        self.previews: dict[str, Preview] = {}
        self.preview_gate: dict[str, asyncio.Event] = {}
        self.explanations: dict[str, Explanation] = {}
        self.report = DryRunReport(would_create=(), would_fail=())
        self.healths: dict[str, HealthState] = {
            "servicenow": HealthState("ok"),
            "autotask": HealthState("ok"),
        }
        self.budget_state = BudgetState(used=130, limit=10_000, remaining=9_870)
        self.calls: list[tuple[str, Any]] = []
        self.decisions: list[tuple[str, list[str], str, str | None]] = []  # action, keys, by, reason
        self.seen: list[dict[str, str]] = []  # what each approve said the desk had seen
        self.open_by: dict[str, list[str]] = {}  # number -> desks with it open (other desks' claims)
        self.claims_made: list[tuple[str | None, str]] = []  # (number or None for a release, desk)
        self._auto_push = False
        self.started = False
        self.overview_audit: list[AuditPoint] = []  # what the Overview tab aggregates
        self.overview_samples: list[SamplePoint] = []
        self.overview_now = NOW
        self.metadata: TicketMetadata | None = None
        self.incidents: dict[str, Incident] = {}  # by number, for the Rules window's samples
        self.rules_locked: str | None = None  # an attached desk's reason

    # life cycle
    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False

    @property
    def auto_push(self) -> bool:
        return self._auto_push

    def set_auto_push(self, enabled: bool) -> None:
        self.calls.append(("set_auto_push", enabled))
        self._auto_push = enabled

    def health(self, system: SystemName) -> HealthState:
        return self.healths[system]

    def budget(self) -> BudgetState:
        return self.budget_state

    async def poll_now(self) -> None:
        self.calls.append(("poll_now", None))

    async def list_queue(
        self, states: Sequence[str] | None = None, search: str | None = None
    ) -> list[QueueRow]:
        return [row for row in self.rows.values() if states is None or row.state in states]

    async def list_links(self, search: str | None = None, limit: int | None = None) -> list[LinkRow]:
        return list(self.links)

    async def list_audit(
        self,
        *,
        direction: str | None = None,
        sys_id: str | None = None,
        ticket_id: int | None = None,
        limit: int = 200,
    ) -> list[AuditRow]:
        rows = [row for row in self.audit if sys_id is None or row.sys_id == sys_id]
        return rows[:limit]

    async def overview(self, window: str = "24h") -> Overview:
        self.calls.append(("overview", window))
        return build_overview(window, self.overview_now, self.overview_audit, self.overview_samples)

    async def preview(self, key: str) -> Preview:
        self.calls.append(("preview", key))
        gate = self.preview_gate.get(key)
        if gate is not None:
            await gate.wait()
        return self.previews.get(key) or make_preview(key)

    def _by_number(self, key: str) -> QueueRow | None:
        return next((row for row in self.rows.values() if row.number == key), None)

    async def approve(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        self.calls.append(("approve", list(keys)))
        self.seen.append(dict(seen or {}))
        self.decisions.append(("approve", list(keys), by, None))
        return [ActionResult(key, True, "approved") for key in keys]

    async def reject(
        self,
        keys: Sequence[str],
        by: str = "user",
        reason: str | None = None,
        *,
        seen: Mapping[str, str] | None = None,
    ) -> list[ActionResult]:
        self.calls.append(("reject", list(keys)))
        self.decisions.append(("reject", list(keys), by, reason))
        results = []
        for key in keys:
            row = self._by_number(key)
            if row is not None:
                rejected = replace(row, state="rejected")
                self.rows[row.sys_id] = rejected
                self.bus.publish(ItemUpdated(rejected))
            results.append(ActionResult(key, True, "rejected"))
        return results

    async def override_choices(self) -> OverrideChoices:
        self.calls.append(("override_choices", None))
        labels = {
            "queueID": ("Level I Support", "Level II Support"),
            "priority": ("Critical", "High", "Medium", "Low"),
            "issueType": ("Hardware", "Software"),
            "subIssueType": ("Other",),
        }
        return OverrideChoices(labels, 255)

    async def set_overrides(self, key: str, values: Mapping[str, str | None], by: str) -> ActionResult:
        self.calls.append(("set_overrides", (key, dict(values))))
        self.decisions.append(("set_overrides", [key], by, None))
        row = self._by_number(key)
        if row is not None:
            overrides = {**row.overrides, **{k: v for k, v in values.items() if v is not None}}
            for name in [k for k, v in values.items() if v is None]:
                overrides.pop(name, None)
            self.publish(ItemUpdated(replace(row, overrides=overrides, overridden_by=by, updated_at=NOW)))
        return ActionResult(key, True, "changed")

    async def clear_overrides(self, key: str, by: str) -> ActionResult:
        self.calls.append(("clear_overrides", key))
        row = self._by_number(key)
        if row is not None:
            self.publish(ItemUpdated(replace(row, overrides={}, overridden_by=None, updated_at=NOW)))
        return ActionResult(key, True, "cleared")

    async def restore(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        self.calls.append(("restore", list(keys)))
        return [ActionResult(key, True, "restored") for key in keys]

    async def retry(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]:
        self.calls.append(("retry", list(keys)))
        return [ActionResult(key, True, "retrying") for key in keys]

    async def claim(self, key: str, desk: str) -> list[str]:
        self.claims_made.append((key, desk))
        return [name for name in self.open_by.get(key, []) if name != desk]

    async def release_claim(self, desk: str) -> None:
        self.claims_made.append((None, desk))

    async def reviewing(self) -> dict[str, tuple[str, ...]]:
        numbers = {row.number: row.sys_id for row in self.rows.values()}
        return {numbers[key]: tuple(names) for key, names in self.open_by.items() if key in numbers}

    async def reviewers(self, key: str, desk: str) -> list[str]:
        return [name for name in self.open_by.get(key, []) if name != desk]

    async def retry_return(self, ticket_id: int) -> None:
        self.calls.append(("retry_return", ticket_id))

    async def explain(self, key: str) -> Explanation:
        self.calls.append(("explain", key))
        return self.explanations.get(key) or Explanation(
            key=key, found=False, in_queue=False, state=None, summary="not found in ServiceNow"
        )

    async def push_anyway(self, key: str, by: str, reason: str) -> ActionResult:
        self.calls.append(("push_anyway", key))
        self.decisions.append(("push_anyway", [key], by, reason))
        return ActionResult(key, True, "approved")

    async def dry_run(self) -> DryRunReport:
        self.calls.append(("dry_run", None))
        return self.report

    async def test_connection(self, system: SystemName) -> str:
        return "ok"

    def record_url(self, system: SystemName, record_id: str) -> str | None:
        return f"https://example.test/{system}/{record_id}"

    async def picklists(self) -> TicketMetadata | None:
        return self.metadata

    async def sample_incident(self, key: str, *, fresh: bool) -> Incident | None:
        self.calls.append(("sample_incident", (key, fresh)))
        return self.incidents.get(key.strip().upper())

    async def rules_impact(self, new: AppConfig) -> ImpactReport:
        return compute_impact(self.config, new, [], [], self.metadata, now=NOW)

    def rules_read_only(self) -> str | None:
        return self.rules_locked

    async def apply_rules(self, new: AppConfig, by: str) -> tuple[str, ...]:
        self.calls.append(("apply_rules", by))
        self.config = new
        return ("rules",)

    # helpers
    def add_rows(self, rows: Sequence[QueueRow]) -> None:
        for row in rows:
            self.rows[row.sys_id] = row

    def publish(self, event: EngineEvent) -> None:
        if isinstance(event, ItemRemoved):
            self.rows.pop(event.sys_id, None)
        elif hasattr(event, "row") and isinstance(event.row, QueueRow):
            self.rows[event.row.sys_id] = event.row
        self.bus.publish(event)


async def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    """Await a condition while the qasync loop keeps processing Qt and asyncio events."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def fill_settings(dialog: Any) -> None:
    """Valid values for both systems in a SettingsDialog."""
    dialog.sn_url.setText("https://acme.service-now.com")
    dialog.sn_user.setText("svc.triage")
    dialog.sn_password.setText("sn-pass-123")
    dialog.at_user.setText("api@acme.example")
    dialog.at_code.setText("TRACK-ID-1")
    dialog.at_secret.setText("at-secret-456")
