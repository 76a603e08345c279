"""Soft claims: which desk has which queue item open ("Anna is reviewing").

A claim is advisory: it never blocks a decision, it lets the others know (the queue row and the
preview say who is reviewing, and approving an item someone else is reviewing asks first). Claims
expire on their own (:data:`CLAIM_TTL` unless renewed), so a desk that crashed or lost its network
never leaves an item claimed for long. A desk reviews one item at a time: claiming one releases its
claims on the others, and :meth:`ClaimStore.release_claims` lets go when it closes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from app.store.changes import watch_table
from app.store.models import DeskClaim
from app.store.session import StoreSession, chunks
from app.store.types import require_utc

#: How long a claim lasts without renewal; a desk renews well within it while the item is open.
CLAIM_TTL = timedelta(minutes=2)

watch_table("desk_claim", "claims")  # the change feed tells the other desks at once


class ClaimStore(StoreSession):
    """Mixed into :class:`app.store.Store`."""

    def claim(self, sys_id: str, desk: str, *, now: datetime, ttl: timedelta = CLAIM_TTL) -> DeskClaim:
        """``desk`` has ``sys_id`` open until ``now + ttl``: create or renew the claim, release the
        desk's claims on other items, and sweep every expired claim (one transaction)."""
        now = require_utc(now, "now")
        with self._write() as session:
            session.execute(delete(DeskClaim).where(col(DeskClaim.expires_at) <= now))
            session.execute(
                delete(DeskClaim).where(col(DeskClaim.desk) == desk, col(DeskClaim.sys_id) != sys_id)
            )
            row = session.get(DeskClaim, (sys_id, desk))
            if row is None:
                row = DeskClaim(sys_id=sys_id, desk=desk, claimed_at=now, expires_at=now + ttl)
                session.add(row)
            else:
                row.expires_at = now + ttl
            return row

    def release_claims(self, desk: str, sys_id: str | None = None) -> int:
        """``desk`` let go of ``sys_id`` (or of everything it claimed). Returns how many were held."""
        query = delete(DeskClaim).where(col(DeskClaim.desk) == desk)
        if sys_id is not None:
            query = query.where(col(DeskClaim.sys_id) == sys_id)
        with self._write() as session:
            return int(getattr(session.execute(query), "rowcount", 0) or 0)

    def live_claims(self, now: datetime, sys_ids: Iterable[str] | None = None) -> dict[str, list[DeskClaim]]:
        """Unexpired claims by item (all items, or these), oldest claim first."""
        now = require_utc(now, "now")
        query = select(DeskClaim).where(col(DeskClaim.expires_at) > now)
        found: dict[str, list[DeskClaim]] = {}
        with self._read() as session:
            if sys_ids is None:
                rows = list(session.exec(query).all())
            else:
                rows = []
                for chunk in chunks(sorted(set(sys_ids))):
                    rows += session.exec(query.where(col(DeskClaim.sys_id).in_(chunk))).all()
        for row in sorted(rows, key=lambda claim: (claim.claimed_at, claim.desk)):
            found.setdefault(row.sys_id, []).append(row)
        return found

    def others_reviewing(self, sys_id: str, desk: str, *, now: datetime) -> list[str]:
        """The other desks that have ``sys_id`` open right now (ask before deciding over them)."""
        claims = self.live_claims(now, [sys_id]).get(sys_id, [])
        return [claim.desk for claim in claims if claim.desk != desk]
