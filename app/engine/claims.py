"""Soft claims for the engine API: "anna is reviewing" (the store side is :mod:`app.store.claims`).

Both the engine and a store-backed attached desk implement these the same way, over the store
alone (no API call): mix :class:`ClaimsAPI` into any class that has ``store``. Claims are advisory,
so after the store was closed (a window releasing its claim while the app shuts down) they do
nothing rather than open a new connection: the claim expires on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from app.engine.context import utcnow
from app.engine.views import QueueRow
from app.store import Store


class ClaimsAPI:
    """``claim`` / ``release_claim`` / ``reviewing`` / ``reviewers`` of :class:`app.engine.api.EngineAPI`."""

    store: Store

    async def claim(self, key: str, desk: str) -> list[str]:
        """``desk`` has the item open: claim it (or renew the claim; its other claims go), and
        return the other desks reviewing it now. An item not in the queue claims nothing."""
        if self.store.closed:
            return []
        item = await asyncio.to_thread(self.store.get_item, key)
        if item is None:
            return []
        await asyncio.to_thread(self.store.claim, item.sys_id, desk, now=utcnow())
        return await asyncio.to_thread(self.store.others_reviewing, item.sys_id, desk, now=utcnow())

    async def release_claim(self, desk: str) -> None:
        """``desk`` closed its item (or quits): let the others know at once."""
        if self.store.closed:
            return
        await asyncio.to_thread(self.store.release_claims, desk)

    async def reviewing(self) -> dict[str, tuple[str, ...]]:
        """Every item someone has open now: sys_id -> desks, oldest claim first (the queue list)."""
        if self.store.closed:
            return {}
        claims = await asyncio.to_thread(self.store.live_claims, utcnow())
        return {sys_id: tuple(claim.desk for claim in rows) for sys_id, rows in claims.items()}

    async def reviewers(self, key: str, desk: str) -> list[str]:
        """The other desks reviewing this item right now (ask before deciding over them)."""
        if self.store.closed:
            return []
        item = await asyncio.to_thread(self.store.get_item, key)
        if item is None:
            return []
        return await asyncio.to_thread(self.store.others_reviewing, item.sys_id, desk, now=utcnow())


def with_reviewers(store: Store, rows: Sequence[QueueRow]) -> list[QueueRow]:
    """The rows with who is reviewing each (one query for all; call from a worker thread)."""
    claims = store.live_claims(utcnow())
    if not claims:
        return list(rows)
    return [
        replace(row, reviewers=tuple(c.desk for c in claims[row.sys_id])) if row.sys_id in claims else row
        for row in rows
    ]
