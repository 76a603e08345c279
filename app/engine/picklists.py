"""The tenant's ticket picklists (field metadata), kept in the store with a time to live.

Autotask picklists change while we run: an admin adds a status or renames a queue. Loaded once per
process, a new value stayed unknown until a restart (pushes failed pre-flight; the return trip
stored "#id" as last synced and wrote the change back late, out of order). Now:

- :meth:`Picklists.get` answers from memory, else from the store, while younger than
  ``autotask.picklist_ttl_seconds`` (default one hour); only then from Autotask. A ``run --once``
  from cron so costs no metadata request.
- :meth:`Picklists.refresh` reads them again at once: when Autotask refuses a value ("does not
  reference an existing entity"), when a pre-flight check meets an unknown label, or when the
  return trip meets an unknown id. At most one such read per :data:`MIN_REFRESH_SECONDS`, however
  many items ask.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from app.connectors.autotask_errors import refers_to_stale_value
from app.connectors.errors import Rejected
from app.domain.outbound import PICKLIST_FIELDS, Preview, preview
from app.domain.overrides import Overrides
from app.domain.records import Incident, TicketMetadata

if TYPE_CHECKING:
    from app.engine.context import EngineContext

log = logging.getLogger(__name__)

PICKLISTS_KEY = "autotask.picklists"
MIN_REFRESH_SECONDS = 30.0


class Picklists:
    def __init__(self, ctx: EngineContext) -> None:
        self.ctx = ctx
        self._metadata: TicketMetadata | None = None
        self._read_at: datetime | None = None
        self._refreshed_at: datetime | None = None  # the last read a refusal or unknown id asked for
        self._lock = asyncio.Lock()

    def _younger_than(self, moment: datetime | None, seconds: float) -> bool:
        return moment is not None and (self.ctx.clock() - moment).total_seconds() < seconds

    @property
    def read_at(self) -> datetime | None:
        return self._read_at

    async def get(self) -> TicketMetadata:
        """The picklists: from memory or the store while fresh, else read from Autotask."""
        ttl = float(self.ctx.config.autotask.picklist_ttl_seconds)
        if self._metadata is not None and self._younger_than(self._read_at, ttl):
            return self._metadata
        async with self._lock:
            if self._metadata is not None and self._younger_than(self._read_at, ttl):
                return self._metadata
            stored = await self.ctx.db(self.ctx.store.get_state, PICKLISTS_KEY)
            if stored is not None and self._younger_than(stored.updated_at, ttl):
                try:
                    self._metadata = TicketMetadata.model_validate(stored.value.get("metadata"))
                except ValidationError:
                    log.warning("stored Autotask picklists are unreadable; reading them again")
                else:
                    self._read_at = stored.updated_at
                    return self._metadata
            return await self._fetch()

    async def refresh(self, reason: str) -> TicketMetadata:
        """Read the picklists again now (unless that was done moments ago), and say why."""
        async with self._lock:
            if self._metadata is not None and self._younger_than(self._refreshed_at, MIN_REFRESH_SECONDS):
                return self._metadata  # many items meeting the same new value: one read
            metadata = await self._fetch()
            self._refreshed_at = self._read_at
        await self.ctx.audit_system(f"Autotask picklists read again: {reason}", kind="picklists")
        return metadata

    async def _fetch(self) -> TicketMetadata:
        metadata = await self.ctx.autotask.metadata(refresh=True)
        now = self.ctx.clock()
        await self.ctx.db(
            self.ctx.store.put_state, PICKLISTS_KEY, {"metadata": metadata.model_dump(mode="json")}, now=now
        )
        self._metadata, self._read_at = metadata, now
        return metadata


class PreflightFailed(Exception):
    """After a picklist refresh the item cannot be built any more (e.g. a renamed label)."""

    def __init__(self, draft: Preview) -> None:
        super().__init__("pre-flight check failed: " + "; ".join(draft.errors))
        self.draft = draft


def has_picklist_errors(draft: Preview) -> bool:
    """A picklist field could not be resolved: the tenant may have a value we have not read yet."""
    return any(item.error is not None and item.target in PICKLIST_FIELDS for item in draft.fields)


async def replan(
    ctx: EngineContext, incident: Incident, reason: str, overrides: Overrides | None = None
) -> Preview:
    """Read the picklists again (at most once in a while) and build the preview anew."""
    metadata = await ctx.picklists.refresh(reason)
    return preview(incident, ctx.config.outbound, metadata, now=ctx.clock(), overrides=overrides)


async def create_ticket(
    ctx: EngineContext, number: str, incident: Incident, draft: Preview, overrides: Overrides | None = None
) -> tuple[int, Preview]:
    """Create the ticket; returns its id and the preview actually sent. When Autotask refuses a
    value it no longer has (renamed, removed), the picklists are read again and the item
    re-planned: a changed payload is sent once more; a payload the fresh picklists cannot build
    fails pre-flight (:class:`PreflightFailed`) with the valid labels."""
    try:
        return await ctx.autotask.create_ticket(draft.payload), draft
    except Rejected as error:
        if not refers_to_stale_value(error.message):
            raise
        fresh = await replan(
            ctx, incident, f"Autotask refused a value for {number}: {error.message}", overrides
        )
        if not fresh.ok:
            raise PreflightFailed(fresh) from None
        if fresh.payload == draft.payload:
            raise
        return await ctx.autotask.create_ticket(fresh.payload), fresh
