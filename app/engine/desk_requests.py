"""Desk requests: live reads a credential-less desk asks of the engine, through the store.

The desk's side (an attached desk, the CLI) is one call::

    from app.engine.desk_requests import ask_engine, explanation_from_answer

    answer = await ask_engine(store, "explain", "INC0010001", timeout=10.0, asked_by="anna")
    explanation = explanation_from_answer(answer)

``ask_engine(store, kind, key, timeout, *, asked_by="", params=None, wake=None, poll_seconds=0.25)``
files the request, waits for the answer (checking the store every ``poll_seconds``, or sooner when ``wake``
is set, e.g. by a LISTEN/NOTIFY listener) and returns the answer dict. It raises
:class:`EngineDidNotAnswer` ("the engine did not answer within 10 s (is it running?)") when no
engine answered in time (the request is then closed, so a late engine does not do the work for
nobody), and :class:`DeskRequestFailed` with the engine's words when the read itself failed.

Kinds (:data:`KINDS`):

- ``"explain"``: why an incident is or is not in the queue (:meth:`SyncEngine.explain`, which reads
  ServiceNow when the store does not know the incident). Answer: the fields of
  :class:`app.engine.views.Explanation`; :func:`explanation_from_answer` turns it back into one.
- ``"reread"``: re-read the incident from ServiceNow now and take it in as a poll would (refreshed
  snapshot, queued, or dropped). Answer: ``{"sys_id", "number", "state", "summary"}``.
- ``"poll_now"`` (key ignored): one poll of both systems now. Answer: ``{"summary"}``.
- ``"retry_return"`` (key: the ticket id): re-read a linked ticket and apply its return-trip update
  again. Answer: ``{"summary"}``.
- ``"push_anyway"`` (key: incident number or sys_id; ``params={"reason": ...}``; ``asked_by`` is
  who decided): queue an incident the trigger does not select, approved. Answer: the fields of
  :class:`app.engine.views.ActionResult` (``key``, ``ok``, ``message``, ``status``).

The engine's side is :class:`DeskRequestAnswerer`: the running engine answers pending requests
every :data:`TICK_SECONDS` and at once when :attr:`DeskRequestAnswerer.wake` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from app.connectors.errors import ConnectorError
from app.domain.records import is_sys_id
from app.engine.context import utcnow
from app.engine.views import Explanation
from app.store import REQUEST_MAX_AGE, DeskRequest, Store

if TYPE_CHECKING:
    from app.engine.engine import SyncEngine

log = logging.getLogger(__name__)

KINDS = ("explain", "reread", "poll_now", "retry_return", "push_anyway")
TICK_SECONDS = 1.0  # how often the engine looks for requests when nothing wakes it
PURGE_EVERY = timedelta(minutes=10)
KEEP_ANSWERED = timedelta(hours=1)


class EngineDidNotAnswer(TimeoutError):
    """No engine answered the request in time (none running, or it is busy or cut off)."""


class DeskRequestFailed(RuntimeError):
    """The engine answered, with an error instead of an answer (its words, safe to show)."""


async def ask_engine(
    store: Store,
    kind: str,
    key: str,
    timeout: float,
    *,
    asked_by: str = "",
    params: dict[str, Any] | None = None,
    wake: asyncio.Event | None = None,
    poll_seconds: float = 0.25,
    clock: Callable[[], datetime] = utcnow,
) -> dict[str, Any]:
    """Ask the engine for a live read and wait at most ``timeout`` seconds for its answer."""
    if kind not in KINDS:
        raise ValueError(f"unknown desk request {kind!r} (known: {', '.join(KINDS)})")
    request_id = await asyncio.to_thread(store.ask, kind, key, asked_by, now=clock(), params=params)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        row = await asyncio.to_thread(store.get_request, request_id)
        if row is not None and row.answered_at is not None:
            return _result(row)
        left = deadline - loop.time()
        if left <= 0:
            break
        await _nap(min(poll_seconds, left), wake)
    # Close it, so an engine that comes back later does not read ServiceNow for nobody.
    closed = await asyncio.to_thread(
        store.answer_request, request_id, now=clock(), error="the desk stopped waiting"
    )
    if not closed:  # answered in the last moment after all
        row = await asyncio.to_thread(store.get_request, request_id)
        if row is not None and row.error != "the desk stopped waiting":
            return _result(row)
    raise EngineDidNotAnswer(f"the engine did not answer within {timeout:g} s (is it running?)")


def _result(row: DeskRequest) -> dict[str, Any]:
    if row.error is not None:
        raise DeskRequestFailed(row.error)
    return dict(row.answer or {})


async def _nap(seconds: float, wake: asyncio.Event | None) -> None:
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), timeout=seconds)
    wake.clear()


def explanation_from_answer(answer: dict[str, Any]) -> Explanation:
    """An ``explain`` answer back into the view the UI shows."""
    fields = {f.name for f in dataclasses.fields(Explanation)}
    values = {name: value for name, value in answer.items() if name in fields}
    values["reasons"] = tuple(values.get("reasons") or ())
    return Explanation(**values)


class DeskRequestAnswerer:
    """The engine's side: answers the desks' pending requests with its live connections."""

    def __init__(self, engine: SyncEngine) -> None:
        self.engine = engine
        #: Set to answer at once (a NOTIFY listener, a test); cleared when the answerer wakes.
        self.wake = asyncio.Event()
        self._last_purge: datetime | None = None

    async def run(self, stopping: asyncio.Event) -> None:
        """The engine's loop: answer, then wait for a wake-up, the tick, or the stop."""
        while not stopping.is_set():
            try:
                await self.answer_pending()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store hiccup must not end the loop; the next tick tries again
                log.exception("answering desk requests failed")
            await self._wait(stopping)

    async def _wait(self, stopping: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stopping.wait())]
        try:
            await asyncio.wait(waiters, timeout=TICK_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        self.wake.clear()

    async def answer_pending(self) -> int:
        """Answer every pending request now; returns how many were answered."""
        ctx = self.engine.ctx
        now = ctx.clock()
        if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
            self._last_purge = now
            await ctx.db(ctx.store.purge_requests, before=now - KEEP_ANSWERED)
        answered = 0
        for row in await ctx.db(ctx.store.pending_requests):
            assert row.id is not None
            answer, error = await self._answer(row, now)
            await ctx.db(ctx.store.answer_request, row.id, now=ctx.clock(), answer=answer, error=error)
            answered += 1
        return answered

    async def _answer(self, row: DeskRequest, now: datetime) -> tuple[dict[str, Any] | None, str | None]:
        if now - row.asked_at > REQUEST_MAX_AGE:
            return None, "asked too long ago (the engine was not running); ask again"
        try:
            if row.kind == "explain":
                return dataclasses.asdict(await self.engine.explain(row.key)), None
            if row.kind == "reread":
                return await self._reread(row.key), None
            if row.kind == "poll_now":
                await self.engine.poll_now()
                return {"summary": "polled ServiceNow and Autotask"}, None
            if row.kind == "retry_return":
                await self.engine.retry_return(int(row.key))
                return {"summary": f"the update from ticket {row.key} was applied again"}, None
            if row.kind == "push_anyway":
                reason = str((row.params or {}).get("reason") or "")
                result = await self.engine.push_anyway(row.key, row.asked_by or "a desk", reason)
                return dataclasses.asdict(result), None
        except (ConnectorError, ValueError, LookupError, RuntimeError) as exc:
            return None, str(exc)
        return None, f"unknown request {row.kind!r}"

    async def _reread(self, key: str) -> dict[str, Any]:
        engine, store = self.engine, self.engine.store
        key = key.strip()
        item = await engine.ctx.db(store.get_item, key)
        link = await engine.ctx.db(store.get_link, number=key) if item is None else None
        if item is not None:
            sys_id = item.sys_id
        elif link is not None:
            sys_id = link.sys_id
        elif is_sys_id(key):
            sys_id = key.lower()
        else:
            found = await engine._find_remote(key)
            if found is None:
                raise LookupError(f"ServiceNow has no incident {key} (or the API user cannot see it)")
            sys_id = found.sys_id
        await engine.ingest_incident_ids([sys_id])
        item = await engine.ctx.db(store.get_item, sys_id)
        if item is None:
            return {"sys_id": sys_id, "number": key, "state": None, "summary": f"{key} is not in the queue"}
        summary = f"{item.number} re-read from ServiceNow; now {item.state}"
        return {"sys_id": sys_id, "number": item.number, "state": str(item.state), "summary": summary}
