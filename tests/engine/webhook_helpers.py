"""Shared by the webhook tests: start an engine with the receiver, wait on conditions, count polls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from engine_harness import Harness

from app.engine.engine import SyncEngine
from app.engine.events import EngineEvent, PollFinished

WAIT = 10.0
SECRET = "hook-secret-for-tests"
SN_SECRET = "servicenow-notify-token-for-tests"
HOUR = {"servicenow": {"poll_seconds": 3600}, "autotask": {"poll_seconds": 3600}}


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)
    assert await check(), what


def polls(events: list[EngineEvent], system: str) -> int:
    return sum(1 for e in events if isinstance(e, PollFinished) and e.system == system)


async def started(
    harness: Harness,
    events: list[EngineEvent],
    *,
    check: bool = True,
    password: str | None = None,
    **config: Any,
) -> SyncEngine:
    """An engine with the receiver on a free port, after both first polls have finished."""
    webhook = {"enabled": True, "port": 0, **config.pop("webhook", {})}
    overrides: dict[str, Any] = {**HOUR, "webhook": webhook, **config}
    engine = harness.engine(harness.config(**overrides), events=events, password=password)
    await engine.start()
    if check:
        assert engine.webhooks is not None

    async def first_polls_done() -> bool:
        refused = engine.health("servicenow").level == "auth_failed"  # a poll that failed is done too
        return (refused or polls(events, "servicenow") >= 1) and polls(events, "autotask") >= 1

    await until(first_polls_done, "the first polls did not finish")
    return engine
