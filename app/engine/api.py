"""The engine facade the UI (and the CLI) drive. The UI depends on this protocol only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from app.config import AppConfig
from app.domain.impact import ImpactReport
from app.domain.outbound import Preview
from app.domain.overview import Overview
from app.domain.records import Incident, TicketMetadata
from app.engine.events import EventBus, SystemName
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


class EngineAPI(Protocol):
    bus: EventBus
    config: AppConfig

    # --- life cycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Take the single-engine lease, recover interrupted pushes, start the poll loops."""

    async def stop(self) -> None:
        """Stop loops; in-flight pushes finish or stay 'pushing' for safe recovery."""

    # --- state ------------------------------------------------------------------------------
    @property
    def auto_push(self) -> bool: ...

    def set_auto_push(self, enabled: bool) -> None: ...

    def health(self, system: SystemName) -> HealthState: ...

    def budget(self) -> BudgetState: ...

    async def poll_now(self) -> None:
        """Run one poll of both systems now (and the pushes that are due)."""

    async def list_queue(
        self, states: Sequence[str] | None = None, search: str | None = None
    ) -> list[QueueRow]: ...

    async def list_links(self, search: str | None = None, limit: int | None = None) -> list[LinkRow]: ...

    async def list_audit(
        self,
        *,
        direction: str | None = None,
        sys_id: str | None = None,
        ticket_id: int | None = None,
        limit: int = 200,
    ) -> list[AuditRow]: ...

    async def overview(self, window: str = "24h") -> Overview:
        """Charts for the Overview tab over the last 24 hours ("24h") or 7 days ("7d")."""

    # --- actions ----------------------------------------------------------------------------
    async def preview(self, key: str) -> Preview:
        """The exact ticket the outbound mapping would create for a queued incident."""

    async def override_choices(self) -> OverrideChoices:
        """The labels each overridable ticket field may take (the tenant's stored picklists)."""

    async def set_overrides(self, key: str, values: Mapping[str, str | None], by: str) -> ActionResult:
        """Change ticket fields of one queued incident before it is pushed (None: back to the
        mapping); who made the change is kept and audited."""

    async def clear_overrides(self, key: str, by: str) -> ActionResult:
        """Every field of the incident's ticket back to what the mapping gives."""

    # ``by`` is the desk's name (Settings, ``[desk] name``). ``seen``: the state each key showed at the
    # desk; a key another desk decided since comes back status "conflict", saying who and when.
    async def approve(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]: ...

    async def reject(
        self,
        keys: Sequence[str],
        by: str = "user",
        reason: str | None = None,
        *,
        seen: Mapping[str, str] | None = None,
    ) -> list[ActionResult]:
        """Keep incidents out of Autotask; ``reason`` is kept with the item and in the audit."""

    async def restore(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]: ...

    async def retry(
        self, keys: Sequence[str], by: str = "user", *, seen: Mapping[str, str] | None = None
    ) -> list[ActionResult]: ...

    # --- people (soft claims, app/engine/claims.py) -----------------------------------------------
    async def claim(self, key: str, desk: str) -> list[str]:
        """``desk`` has the item open: claim or renew; returns the OTHER desks reviewing it."""

    async def release_claim(self, desk: str) -> None:
        """``desk`` closed its item: release its claim now (claims also expire on their own)."""

    async def reviewing(self) -> dict[str, tuple[str, ...]]:
        """Every item someone has open now: sys_id -> desk names (refreshes the queue's rows)."""

    async def reviewers(self, key: str, desk: str) -> list[str]:
        """The other desks reviewing this item now: approving over them asks first."""

    async def retry_return(self, ticket_id: int) -> None:
        """Re-read a linked ticket and apply its return-trip update again."""

    async def explain(self, key: str) -> Explanation: ...

    async def push_anyway(self, key: str, by: str, reason: str) -> ActionResult:
        """Queue an incident the trigger does not select, approved; who and why are recorded."""

    async def dry_run(self) -> DryRunReport: ...

    async def test_connection(self, system: SystemName) -> str:
        """One real, cheap API call; returns a human message or raises ConnectorError."""

    def record_url(self, system: SystemName, record_id: str) -> str | None:
        """Browser URL of an incident (sys_id) or ticket (id), when the instance URLs are known."""

    # --- rules ------------------------------------------------------------------------------
    async def picklists(self) -> TicketMetadata | None:
        """The tenant's picklists (kept in the store); None when they cannot be had."""

    async def sample_incident(self, key: str, *, fresh: bool) -> Incident | None:
        """An incident to try rules on: its queued snapshot, or read fresh from ServiceNow (None: no
        such incident; ValueError: not an incident number or sys_id; RuntimeError: unreachable)."""

    async def rules_impact(self, new: AppConfig) -> ImpactReport:
        """What the edited rules would change in the queue, trigger verdicts and return trip."""

    async def apply_rules(self, new: AppConfig, by: str) -> tuple[str, ...]:
        """Use the new rules from now on, without a restart; returns the changed rule keys."""

    def rules_read_only(self) -> str | None:
        """Why the rules cannot be saved from here (an attached desk: the engine host's file holds
        them), or None when they can."""
