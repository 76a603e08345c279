"""Start-up in team mode: run the engine here, or attach to the one that runs elsewhere.

A desktop runs the engine when nobody else does. When a live process holds the engine lease (a
``triage-sync run`` service, another desktop) it attaches instead of failing: an
:class:`AttachedDesk` on the same store, which needs no API credentials.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.config import AppConfig, effective_store_url
from app.engine.desk import AskEngine, AttachedDesk
from app.engine.desk_requests import ask_engine as ask_through_store
from app.store import EngineAlreadyRunning, EngineLease, Store
from app.store.lease import DEFAULT_LEASE_TIMEOUT, stale_reason

if TYPE_CHECKING:
    from app.engine.api import EngineAPI
    from app.engine.factory import EngineSecrets


def open_store(config: AppConfig) -> Store:
    return Store.open(effective_store_url(config), migrate_schema=config.store.auto_migrate)


def live_holder(store: Store) -> EngineLease | None:
    """The lease of an engine that is alive elsewhere, or None (no lease, or a stale one)."""
    lease = store.lease_info()
    if lease is None:
        return None
    if stale_reason(lease, datetime.now(UTC), DEFAULT_LEASE_TIMEOUT, socket.gethostname()) is not None:
        return None
    return lease


async def attach(config: AppConfig, *, name: str, ask_engine: AskEngine | None = None) -> AttachedDesk:
    store = await asyncio.to_thread(open_store, config)
    if ask_engine is None:  # live reads: a request row the running engine answers (desk_requests)

        async def ask(
            kind: str,
            key: str,
            timeout: float,
            *,
            asked_by: str | None = None,
            params: dict[str, Any] | None = None,
        ) -> dict[str, Any]:
            return await ask_through_store(
                store, kind, key, timeout, asked_by=asked_by or name, params=params
            )

        ask_engine = ask
    desk = AttachedDesk(config, store, name=name, ask_engine=ask_engine)
    try:
        await desk.start()
    except BaseException:
        await desk.close()
        raise
    return desk


async def engine_or_desk(
    config: AppConfig, *, secrets: EngineSecrets | None, holder: str, desk_name: str
) -> EngineAPI:
    """A started engine, or an attached desk when another live process runs the engine."""
    from app.engine.factory import build_engine  # looked up now: tests substitute the factory

    store = await asyncio.to_thread(open_store, config)
    try:
        running_elsewhere = await asyncio.to_thread(live_holder, store)
    finally:
        store.close()
    if running_elsewhere is not None:
        return await attach(config, name=desk_name)
    engine = build_engine(config, secrets=secrets, holder=holder)
    try:
        await engine.start()
    except EngineAlreadyRunning:  # another one started a moment ago
        await engine.close()
        return await attach(config, name=desk_name)
    except BaseException:
        await engine.close()
        raise
    return engine


async def take_over(config: AppConfig, *, secrets: EngineSecrets | None, holder: str) -> EngineAPI:
    """Run the engine here: the lease is taken when free or stale (raises EngineAlreadyRunning
    when its holder is alive, AuthFailed when credentials are missing)."""
    from app.engine.factory import build_engine

    engine = build_engine(config, secrets=secrets, holder=holder)
    try:
        await engine.start()
    except BaseException:
        await engine.close()
        raise
    return engine
