"""Soft claims at the desk: claim the item this desk has open, renew it while it stays open,
release it when the desk moves on, and say who else is reviewing ("anna is reviewing")."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer

from app.engine.views import QueueRow
from app.ui.format import desk_user, reviewing_text
from app.ui.tasks import TaskSlot

if TYPE_CHECKING:
    from app.engine.api import EngineAPI

log = logging.getLogger(__name__)

#: Renew well within the store's claim lifetime (app.store.CLAIM_TTL, two minutes).
RENEW_MS = 45_000


def loop_running() -> bool:
    """Whether an asyncio loop runs now (a timer of a closed window can fire after its loop ended:
    then there is nobody to run a coroutine, so none is made)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _claim_failed(error: BaseException) -> None:
    log.warning("claim not recorded: %s", error)  # claims are advisory: the desk works on


class ClaimKeeper:
    """Holds this desk's claim on the one item it has open.

    A plain object (not a QObject) whose timer belongs to ``owner``: it adds no Qt object of its
    own that the garbage collector could delete from a worker thread."""

    def __init__(self, engine: EngineAPI, owner: QObject, on_change: Callable[[], None]) -> None:
        self.engine = engine
        self.number: str | None = None
        self._others: list[str] = []
        self._heard = False  # _others is the store's word on the open item (not only the row's)
        self._on_change = on_change  # who else is reviewing the open item changed
        self._slot = TaskSlot("claim", on_error=_claim_failed)
        self._check_slot = TaskSlot("claim-check", on_error=_claim_failed)
        self._timer = QTimer(owner)
        self._timer.setInterval(RENEW_MS)
        self._timer.timeout.connect(self._renew)

    @property
    def desk(self) -> str:
        return desk_user(self.engine.config)

    def others(self, row: QueueRow | None = None) -> list[str]:
        """The other desks reviewing the open item (from the last claim, and the row's own list)."""
        if self._heard and (row is None or row.number == self.number):
            return list(self._others)  # fresher than the row the preview opened with
        names = list(self._others) + (self.others_in(row) if row is not None else [])
        return list(dict.fromkeys(names))

    def others_in(self, row: QueueRow) -> list[str]:
        """The other desks the queue listed as reviewing ``row``."""
        return [name for name in row.reviewers if name != self.desk]

    def reviewing_lines(self, rows: list[QueueRow]) -> list[str]:
        """ "anna is reviewing INC0010001 right now." for each of ``rows`` another desk has open."""
        lines = []
        for row in rows:
            # The open item: what its claim heard too; the others: what the queue listed.
            names = self.others(row) if row.number == self.number else self.others_in(row)
            if names:
                lines.append(f"{reviewing_text(names)} {row.number} right now.")
        return lines

    def follow(self, rows: list[QueueRow]) -> None:
        """The selection changed: claim the one open item, or release when none (or many) is."""
        number = rows[0].number if len(rows) == 1 else None
        if number == self.number:
            return
        self.number = number
        self._others = []
        self._heard = False
        if number is None:
            self._timer.stop()
            if loop_running():  # else the claim simply expires
                self._slot.start(self.engine.release_claim(self.desk))
        else:
            self._timer.start()
            self._renew()

    def _renew(self) -> None:
        if self.number is not None and loop_running():
            self._slot.start(self._claim(self.number))

    async def _claim(self, number: str) -> None:
        self._heard_of(number, await self.engine.claim(number, self.desk))

    def recheck(self) -> None:
        """Another desk claimed or released something: re-read who else has the open item (a read,
        not a renewal: a write here would wake the other desks, whose re-check would wake us)."""
        if self.number is not None and loop_running():
            self._check_slot.start(self._recheck(self.number))

    async def _recheck(self, number: str) -> None:
        self._heard_of(number, await self.engine.reviewers(number, self.desk))

    def _heard_of(self, number: str, others: list[str]) -> None:
        if number != self.number:
            return  # the desk moved on meanwhile
        changed = others != self._others or not self._heard
        self._others, self._heard = others, True
        if changed:
            self._on_change()
