"""Both simulators on loopback plus engines wired to them, shared by the engine, proof and UI tests
(on pytest's pythonpath): fast retries with an optional recording sleep, client timeout, an HTTP
transport that can refuse connections, a temp SQLite store, and journal helpers."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from app.config import AppConfig, parse_config
from app.connectors.autotask import AutotaskClient
from app.connectors.budget import RequestBudget
from app.connectors.retry import RetryPolicy
from app.connectors.servicenow import ServiceNowClient
from app.engine.backoff import Backoff
from app.engine.engine import SyncEngine
from app.engine.events import EngineEvent
from app.secrets import Secret
from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimulator
from app.store import Store

RETRY_ATTEMPTS = 3
# Retries come due almost at once, so a second cycle retries (tests assert order, not time).
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


class Sleeps:
    """An instant ``sleep`` for RetryPolicy that remembers every delay asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def dead_port() -> int:
    """A loopback port nobody listens on (bound, then closed): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RefuseRule:
    method: str
    path: str
    count: int
    skip: int = 0  # let this many matching requests through first
    refused: int = 0


class RefusingTransport(httpx.AsyncBaseTransport):
    """Real loopback HTTP; a matching request is sent to a closed port instead (connection refused)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.rules: list[RefuseRule] = []
        self.port = dead_port()

    def refuse(self, method: str, path: str, count: int = 1, *, skip: int = 0) -> RefuseRule:
        rule = RefuseRule(method.upper(), path, count, skip)
        self.rules.append(rule)
        return rule

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for rule in self.rules:
            if (
                rule.count > 0
                and rule.method in ("*", request.method)
                and re.search(rule.path, request.url.path)
            ):
                if rule.skip > 0:
                    rule.skip -= 1
                    continue
                rule.count -= 1
                rule.refused += 1
                await request.aread()
                request = httpx.Request(
                    request.method,
                    request.url.copy_with(port=self.port),
                    headers=request.headers,
                    content=request.content,
                )
                break
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class SimHarness:
    """Both simulators (already serving) and the engines built against them in one test."""

    sn: ServiceNowSimulator
    at: AutotaskSimulator
    tmp: Path
    engines: list[SyncEngine] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.tmp / "sync.sqlite3"

    def config_data(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "servicenow": {"url": self.sn.base_url, "username": self.sn.settings.username, "poll_seconds": 5},
            "autotask": {
                "url": self.at.rest_base,
                "username": self.at.settings.username,
                "integration_code": self.at.settings.integration_code,
                "poll_seconds": 10,
            },
            "store": {"url": f"sqlite:///{self.db_path}"},
            "outbound": {"company_id": 174, "default_queue": "Level I Support", "freshness_seconds": 60},
            # Tests create many alike incidents from one caller: only the duplicate tests want them
            # held for a person (they switch it on with duplicates={"enabled": True}).
            "duplicates": {"enabled": False},
        }
        return _merge(data, overrides)

    def config(self, **overrides: Any) -> AppConfig:
        return parse_config(self.config_data(**overrides), "test.toml")

    def engine(
        self,
        config: AppConfig | None = None,
        *,
        timeout: float = 5,
        sleeps: Sleeps | None = None,
        max_inline_wait: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        holder: str = "test",
        events: list[EngineEvent] | None = None,
        password: str | None = None,
        secret: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> SyncEngine:
        """``password``/``secret`` default to what the simulators accept (pass others to test 401s).
        ``clock``: the engine's and the request budget's time (e.g. the Autotask simulator's)."""
        config = config or self.config()
        if sleeps is not None:
            retry = RetryPolicy(
                attempts=RETRY_ATTEMPTS,
                base_delay=0.01,
                max_delay=0.05,
                max_inline_wait=max_inline_wait,
                sleep=sleeps,
            )
        else:
            retry = RetryPolicy(
                attempts=RETRY_ATTEMPTS, base_delay=0.01, max_delay=0.05, max_inline_wait=max_inline_wait
            )
        sn = ServiceNowClient(
            base_url=config.servicenow.url,
            username=config.servicenow.username,
            password=Secret(self.sn.settings.password if password is None else password),
            timeout=timeout,
            page_size=config.servicenow.page_size,
            retry=retry,
            transport=transport,
        )
        at = AutotaskClient(
            username=config.autotask.username,
            integration_code=config.autotask.integration_code,
            secret=Secret(self.at.settings.secret if secret is None else secret),
            base_url=config.autotask.url,
            timeout=timeout,
            retry=retry,
            budget=RequestBudget(
                hourly_limit=config.autotask.hourly_request_limit,
                share=1.0,
                **({"clock": lambda: clock().timestamp()} if clock is not None else {}),
            ),
            transport=transport,
        )
        assert config.store.url
        engine = SyncEngine(
            config,
            Store.open(config.store.url),
            sn,
            at,
            holder=holder,
            backoff=FAST_BACKOFF,
            **({"clock": clock} if clock is not None else {}),
        )
        if events is not None:
            engine.bus.subscribe(events.append)
        self.engines.append(engine)
        return engine

    def incident(self, **fields: Any) -> dict[str, str]:
        """A human creates an incident; IT hardware and active unless told otherwise."""
        return self.sn.create_incident(**{**IT, **fields})

    def tickets_for(self, sys_id: str) -> list[dict[str, Any]]:
        return [ticket for ticket in self.at.tickets() if ticket.get("externalID") == sys_id]

    def writeback_notes(self, sys_id: str) -> list[str]:
        return [n["value"] for n in self.sn.journal(sys_id) if "created by Triage Sync" in n["value"]]

    def return_notes(self, sys_id: str) -> list[str]:
        return [n["value"] for n in self.sn.journal(sys_id) if "changed:" in n["value"]]
