"""A real SyncEngine wired to both simulators on loopback, for UI tests that drive the real MainWindow.

Adapted from tests/engine/engine_harness.py (test folders share no modules): fast retries, a temp
SQLite store, and credentials passed explicitly so the keyring is never consulted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.config import AppConfig, parse_config
from app.connectors.autotask import AutotaskClient
from app.connectors.budget import RequestBudget
from app.connectors.retry import RetryPolicy
from app.connectors.servicenow import ServiceNowClient
from app.engine.backoff import Backoff
from app.engine.engine import SyncEngine
from app.secrets import Secret
from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimulator
from app.store import Store

FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, max_inline_wait=0.5)
FAST_BACKOFF = Backoff(base_seconds=0.01, max_seconds=0.05)
IT = {"category": "hardware", "active": "true"}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


@dataclass
class RealRig:
    """Both simulators (already serving) plus the engines built against them in one test."""

    sn: ServiceNowSimulator
    at: AutotaskSimulator
    tmp: Path
    engines: list[SyncEngine] = field(default_factory=list)

    def config(self, **overrides: Any) -> AppConfig:
        data: dict[str, Any] = {
            "servicenow": {"url": self.sn.base_url, "username": "demo.integration", "poll_seconds": 5},
            "autotask": {
                "url": self.at.rest_base,
                "username": "demo@example.com",
                "integration_code": "DEMO",
                "poll_seconds": 10,
            },
            "store": {"url": f"sqlite:///{self.tmp / 'sync.sqlite3'}"},
            "outbound": {"company_id": 174, "default_queue": "Level I Support", "freshness_seconds": 60},
        }
        return parse_config(_merge(data, overrides), str(self.tmp / "config.toml"))

    def engine(
        self,
        config: AppConfig | None = None,
        *,
        timeout: float = 5,
        password: str = "demo",
        secret: str = "demo",
    ) -> SyncEngine:
        config = config or self.config()
        sn = ServiceNowClient(
            base_url=config.servicenow.url,
            username=config.servicenow.username,
            password=Secret(password),
            timeout=timeout,
            page_size=config.servicenow.page_size,
            retry=FAST_RETRY,
        )
        at = AutotaskClient(
            username=config.autotask.username,
            integration_code=config.autotask.integration_code,
            secret=Secret(secret),
            base_url=config.autotask.url,
            timeout=timeout,
            retry=FAST_RETRY,
            budget=RequestBudget(hourly_limit=config.autotask.hourly_request_limit, share=1.0),
        )
        assert config.store.url
        engine = SyncEngine(
            config, Store.open(config.store.url), sn, at, holder="ui-test", backoff=FAST_BACKOFF
        )
        self.engines.append(engine)
        return engine

    def incident(self, **fields: Any) -> dict[str, str]:
        """A human creates an incident; IT hardware and active unless told otherwise."""
        return self.sn.create_incident(**{**IT, **fields})

    def tickets_for(self, sys_id: str) -> list[dict[str, Any]]:
        return [ticket for ticket in self.at.tickets() if ticket.get("externalID") == sys_id]

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()  # stops loops if started, then close() (idempotent)
        self.engines.clear()
