"""Rule changes against what the store holds: the impact report's inputs, and new rules taken up by
a running engine without a restart.

:func:`impact_inputs` reads the store only (no API call, no credentials), so ``triage-sync config
diff`` works beside a running engine and on a desk without credentials; the desktop's Rules window
gets the same report through :meth:`RuleChanges.impact`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from app.config import AppConfig, ConfigError, load_config
from app.domain.impact import (
    HeldIncident,
    ImpactReport,
    LinkedValues,
    changed_rules,
    combine,
    held_impact,
    links_impact,
)
from app.domain.records import TicketMetadata
from app.domain.triggers import to_encoded_query
from app.engine.picklists import PICKLISTS_KEY
from app.store import AuditOutcome, QueueState, Store

if TYPE_CHECKING:
    from app.engine.context import EngineContext
    from app.engine.outbound import OutboundPipeline

# Items whose ticket is still to be built: the new rules apply to them on their push.
QUEUED_STATES = (QueueState.PENDING, QueueState.APPROVED, QueueState.FAILED)
# Items set aside because they stopped matching: a wider trigger brings them back.
SET_ASIDE_STATES = (QueueState.DROPPED,)
# How long the store's records are reused between reports while someone edits the rules.
INPUTS_MAX_AGE = 20.0
IMPACT_SLICE = 50  # queued items per slice (~30 ms of previews) between yields to the event loop


@dataclass(frozen=True)
class ImpactInputs:
    held: tuple[HeldIncident, ...]
    links: tuple[LinkedValues, ...]
    metadata: TicketMetadata | None


def stored_picklists(store: Store) -> TicketMetadata | None:
    """The tenant's picklists the engine keeps in the store (None: not read yet, or unreadable)."""
    row = store.get_state(PICKLISTS_KEY)
    if row is None:
        return None
    try:
        return TicketMetadata.model_validate(row.value.get("metadata"))
    except ValidationError:
        return None


def impact_inputs(store: Store) -> ImpactInputs:
    """Queued and set-aside snapshots, linked tickets' current labels, and the stored picklists."""
    held = [HeldIncident(item.incident(), queued=True) for item in store.list_items(QUEUED_STATES)]
    held += [HeldIncident(item.incident(), queued=False) for item in store.list_items(SET_ASIDE_STATES)]
    links = tuple(
        LinkedValues(link.incident_number, link.ticket_number, dict(link.return_synced))
        for link in store.list_links()
        if link.return_synced
    )
    return ImpactInputs(tuple(held), links, stored_picklists(store))


async def sliced_impact(
    old: AppConfig, new: AppConfig, inputs: ImpactInputs, *, now: datetime
) -> ImpactReport:
    """The impact report computed in slices on the event loop, not in a worker thread: the loop
    stays free between slices, a newer edit's request cancels this one for real, and nothing
    allocates Qt-visible garbage off the GUI thread (a collection there can destroy Qt objects on
    the wrong thread)."""
    parts = []
    for start in range(0, len(inputs.held), IMPACT_SLICE):
        chunk = inputs.held[start : start + IMPACT_SLICE]
        parts.append(held_impact(old, new, chunk, inputs.metadata, now=now))
        await asyncio.sleep(0)
    parts.append(links_impact(old, new, inputs.links))
    return combine(parts, picklists_known=inputs.metadata is not None)


def with_rules(base: AppConfig, rules: AppConfig) -> AppConfig:
    """``base`` with the rule sections (trigger, outbound, return_trip) of ``rules``."""
    return base.model_copy(
        update={"trigger": rules.trigger, "outbound": rules.outbound, "return_trip": rules.return_trip}
    )


class RuleChanges:
    """The engine's side of a rule edit: what it would change, and taking the new rules up.

    With :meth:`watch`, the engine also follows its own configuration file: an edit made outside
    the app (a deploy from git, an editor on the engine host) is taken up at the next poll when the
    file is valid; an invalid file keeps the rules in use and says why once."""

    def __init__(self, ctx: EngineContext, outbound: OutboundPipeline) -> None:
        self.ctx = ctx
        self.outbound = outbound
        self._path: Path | None = None
        self._stamp: tuple[int, int] | None = None
        self._refused: tuple[int, int] | None = None
        self._inputs: tuple[float, ImpactInputs] | None = None

    @staticmethod
    def _file_stamp(path: Path) -> tuple[int, int] | None:
        try:
            info = path.stat()
        except OSError:
            return None
        return (info.st_mtime_ns, info.st_size)

    def watch(self, path: Path) -> None:
        """Follow ``path`` (the file the engine's rules came from) from its current state on."""
        self._path = path
        self._stamp = self._file_stamp(path)

    async def reload_if_changed(self) -> tuple[str, ...]:
        """Take the watched file's rules up when it changed since the last look (cheap: one stat)."""
        path = self._path
        if path is None:
            return ()
        stamp = self._file_stamp(path)
        if stamp is None or stamp == self._stamp:
            return ()
        self._stamp = stamp
        try:
            new = load_config(path, must_exist=True)
        except ConfigError as exc:
            if stamp != self._refused:
                self._refused = stamp
                await self.ctx.audit_system(
                    f"{path} changed but is not valid, so the rules in use stay: {'; '.join(exc.problems)}",
                    outcome=AuditOutcome.FAILED,
                    kind="rules",
                )
            return ()
        return await self.apply(new, f"the rules file {path}")

    async def impact(self, new: AppConfig) -> ImpactReport:
        """The report for ``new``. The Rules window asks on every edit: the store is read at most
        once per :data:`INPUTS_MAX_AGE` seconds, and the comparison (two previews per queued item)
        runs in slices that yield to the event loop, so a big queue never freezes the window."""
        now = time.monotonic()
        cached = self._inputs
        if cached is None or now - cached[0] > INPUTS_MAX_AGE:
            inputs = await self.ctx.db(impact_inputs, self.ctx.store)
            if inputs.metadata is None:
                inputs = replace(inputs, metadata=await self._live_picklists())
            self._inputs = cached = (now, inputs)
        return await sliced_impact(self.ctx.config, new, cached[1], now=self.ctx.clock())

    async def _live_picklists(self) -> TicketMetadata | None:
        from app.connectors.errors import ConnectorError

        try:
            return await self.ctx.picklists.get()
        except ConnectorError:
            return None

    async def apply(self, new: AppConfig, by: str) -> tuple[str, ...]:
        """Use ``new``'s rules from now on (the next poll, push and return trip), and record who
        changed which rule. Returns the changed rule keys (empty: nothing to do)."""
        ctx = self.ctx
        updated = with_rules(ctx.config, new)
        changed = changed_rules(ctx.config, updated)
        if not changed:
            return ()
        ctx.config = updated
        self._inputs = None  # the next report reads the store again
        # The poll's server-side narrowing follows the new trigger (evaluate() stays authoritative).
        self.outbound.trigger_query = to_encoded_query(updated.trigger).query
        await ctx.audit_system(
            f"rules changed by {by}: {', '.join(changed)}", outcome=AuditOutcome.OK, kind="rules"
        )
        return changed
