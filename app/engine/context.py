"""What both pipelines share: config, store, clients, the event bus, the clock, and system health.

Store calls are blocking SQLAlchemy transactions; :meth:`EngineContext.db` runs them in a worker
thread so the event loop (the GUI thread under qasync) never waits on the disk.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import ParamSpec, TypeVar

from app.config import AppConfig
from app.connectors.autotask import AutotaskClient
from app.connectors.errors import AuthFailed, ConnectorError, Transient
from app.connectors.servicenow import ServiceNowClient
from app.engine.backoff import Backoff
from app.engine.convert import audit_row
from app.engine.events import AuditRecorded, EventBus, HealthChanged, SystemName
from app.engine.pacing import Pacing
from app.engine.picklists import Picklists
from app.engine.views import HealthLevel, HealthState
from app.store import AuditDirection, AuditOutcome, Store

P = ParamSpec("P")
R = TypeVar("R")

# After an authentication failure a system is left alone this long (or until "Poll now").
AUTH_PAUSE_SECONDS = 300.0
SYSTEM_NAMES: dict[SystemName, str] = {"servicenow": "ServiceNow", "autotask": "Autotask"}
AUTH_FIX: dict[SystemName, str] = {
    "servicenow": "check servicenow.url, servicenow.username and the password in Settings "
    "(or SERVICENOW_PASSWORD)",
    "autotask": "check autotask.username, autotask.integration_code and the secret in Settings "
    "(or AUTOTASK_SECRET)",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_json(value: object) -> str:
    """Exact bodies for the audit trail (payloads only; headers and credentials never get here)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=False, default=str)


@dataclass
class EngineContext:
    config: AppConfig
    store: Store
    servicenow: ServiceNowClient
    autotask: AutotaskClient
    bus: EventBus = field(default_factory=EventBus)
    clock: Callable[[], datetime] = utcnow
    backoff: Backoff = field(default_factory=Backoff)
    health: dict[SystemName, HealthState] = field(
        default_factory=lambda: {"servicenow": HealthState(), "autotask": HealthState()}
    )
    paused_until: dict[SystemName, float] = field(default_factory=dict)
    monotonic: Callable[[], float] = time.monotonic  # the auth pause's clock (tests move it)
    pacing: Pacing = field(init=False)
    picklists: Picklists = field(init=False)

    def __post_init__(self) -> None:
        self.pacing = Pacing(self)
        self.picklists = Picklists(self)

    def poll_since(self, watermark: datetime | None) -> datetime:
        """Where a poll starts reading: the watermark minus the overlap, or the first poll's lookback."""
        if watermark is None:
            return self.clock() - timedelta(hours=self.config.servicenow.initial_lookback_hours)
        return watermark - timedelta(minutes=self.config.polling.overlap_minutes)

    @staticmethod
    def covered(watermark: datetime | None, began: datetime) -> datetime:
        """The new watermark: the server time at which the poll began (never moved backwards)."""
        return began if watermark is None else max(watermark, began)

    async def db(self, call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return await asyncio.to_thread(call, *args, **kwargs)

    # ---- health -----------------------------------------------------------------------------------

    def is_paused(self, system: SystemName) -> bool:
        until = self.paused_until.get(system)
        return until is not None and self.monotonic() < until

    def unpause(self) -> None:
        self.paused_until.clear()

    def _set_health(self, system: SystemName, health: HealthState) -> None:
        if health != self.health[system]:
            self.health[system] = health
            self.bus.publish(HealthChanged(system, health))

    def succeeded(self, system: SystemName) -> None:
        self.paused_until.pop(system, None)
        self._set_health(
            system,
            replace(self.health[system], level="ok", message="", last_success=self.clock()),
        )

    def reconciled(self, system: SystemName, at: datetime, found: tuple[str, ...]) -> None:
        self._set_health(system, replace(self.health[system], last_reconciled=at, reconcile_found=found))

    def set_next_poll(self, system: SystemName, seconds: float) -> None:
        self._set_health(
            system, replace(self.health[system], next_poll=self.clock() + timedelta(seconds=seconds))
        )

    async def failed(self, system: SystemName, error: ConnectorError) -> None:
        """One clear status per system: an auth failure pauses that system and is audited once."""
        level: HealthLevel
        if isinstance(error, AuthFailed):
            level = "auth_failed"
            message = f"the credentials were refused; {AUTH_FIX[system]}"
            first = self.health[system].level != "auth_failed"
            self.paused_until[system] = self.monotonic() + AUTH_PAUSE_SECONDS
            # Health first, before any await: a concurrent 401 then sees it and stays silent.
            self._set_health(
                system,
                replace(self.health[system], level=level, message=message, last_failure=self.clock()),
            )
            if first:
                await self.audit_system(
                    f"{SYSTEM_NAMES[system]} refused the credentials: {AUTH_FIX[system]}. Sync with "
                    f"{SYSTEM_NAMES[system]} is paused until they are fixed ({error.message})",
                    outcome=AuditOutcome.FAILED,
                    kind="auth",
                )
            return
        elif isinstance(error, Transient) and "connect" in error.message.lower():
            level, message = "offline", f"cannot reach {SYSTEM_NAMES[system]}: {error.message}"
        else:
            level, message = "degraded", str(error)
        self._set_health(
            system, replace(self.health[system], level=level, message=message, last_failure=self.clock())
        )

    async def audit_system(
        self, summary: str, *, outcome: AuditOutcome = AuditOutcome.OK, kind: str = "system"
    ) -> None:
        event = await self.db(
            self.store.add_audit,
            direction=AuditDirection.SYSTEM,
            kind=kind,
            outcome=outcome,
            summary=summary,
            now=self.clock(),
        )
        self.bus.publish(AuditRecorded(audit_row(event)))

    def retry_at(self, attempt: int, error: ConnectorError | None = None) -> datetime:
        return self.backoff.next_at(self.clock(), attempt, error)
