"""The store's face of the single-engine lease (the lease itself lives in :mod:`app.store.lease`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.store import lease as lease_module
from app.store.lease import DEFAULT_LEASE_TIMEOUT, Lease
from app.store.models import EngineLease
from app.store.session import StoreSession


class LeaseStore(StoreSession):
    """Mixed into :class:`app.store.Store`."""

    def acquire_engine_lease(
        self, holder: str, *, timeout: timedelta = DEFAULT_LEASE_TIMEOUT, now: datetime | None = None
    ) -> Lease:
        """Take the single-engine lease or raise EngineAlreadyRunning (stale leases are taken over)."""
        return lease_module.acquire(self.engine, holder, timeout=timeout, now=now)

    def lease_info(self) -> EngineLease | None:
        """The current lease row (for `status`: who runs the engine), stale or not."""
        with self._read() as session:
            return session.get(EngineLease, 1)
