"""Fault injection for the simulators: an ASGI middleware driven by a thread-safe plan.

A fault matches by HTTP method and a path regular expression and fires for the next ``count``
matching requests (or with probability ``rate``). Kinds:

- ``status``: answer ``status`` (429/500/502/503/401/403...) with the system's own error envelope,
  optionally with ``Retry-After``; the request is NOT processed.
- ``hang``: hold the request for ``seconds`` (past the client's timeout); not processed.
- ``reset_before``: drop the connection without processing the request.
- ``reset_after``: process the request (the write happens) then drop the connection mid-answer.
- ``hang_after``: process the request (the write happens), then hold the answer for ``seconds``:
  the window in which a client that is killed never learns the outcome.
- ``html``: answer 200 with an HTML page (hibernating instance, SSO redirect); not processed.
- ``truncated``: process the request, answer with the JSON body cut in half.
- ``drop_fields`` / ``rename_fields``: process the request, then remove or rename ``fields`` in
  every record of the JSON answer (the entries of ``result``, ``items``, ``item`` or ``fields``, or
  the answer itself when it has none of those, like ``{"itemId": N}``); ``extra_fields`` adds
  unknown ones.
- ``latency``: add ``seconds`` of delay to each matching request, then process it normally.
- ``deep_json``: process the request, answer with JSON nested ``size`` levels deep (a hostile or
  broken server; Python's parser gives up with RecursionError).
- ``huge_body``: answer 200 with a JSON body of ``size`` bytes, streamed; not processed.
- ``drip``: answer 200 and send the body one byte every ``seconds`` (``size`` bytes): each read
  arrives within any read timeout, the whole answer never does; not processed.

Tests drive it through :class:`FaultPlan`; other processes through the simulators' loopback
control endpoint ``POST /_sim/faults``.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "status",
    "hang",
    "reset_before",
    "reset_after",
    "hang_after",
    "html",
    "truncated",
    "drop_fields",
    "rename_fields",
    "extra_fields",
    "latency",
    "deep_json",
    "huge_body",
    "drip",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RECORD_KEYS: tuple[str, ...] = ("result", "items", "item", "fields")
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Instance Hibernating</title></head>"
    b"<body><h1>Your instance is hibernating</h1><p>Sign in to wake it up.</p></body></html>"
)


@dataclass
class Fault:
    kind: FaultKind
    method: str = "*"
    path: str = ".*"  # regular expression searched in the request path
    count: int | None = 1  # None: unlimited (use with rate or latency)
    rate: float | None = None  # probability per matching request, instead of count
    status: int = 503
    # Seconds, or the header's exact text (e.g. "inf", "-5", an HTTP date) to test odd values.
    retry_after: float | str | None = None
    message: str | None = None  # the error envelope's message (default: the status reason)
    seconds: float = 0.0
    size: int = 100_000  # deep_json: nesting depth; huge_body/drip: body bytes
    fields: list[str] = field(default_factory=list)
    renames: dict[str, str] = field(default_factory=dict)
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.method != "*" and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path) is not None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultPlan:
    """Thread-safe list of pending faults, shared between a test thread and the server thread."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._random = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def inject(self, kind: FaultKind, **options: Any) -> Fault:
        return self.add(Fault(kind=kind, **options))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that fire for this request (at most one non-latency fault)."""
        fired: list[Fault] = []
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, path):
                    continue
                if fault.kind != "latency" and any(f.kind != "latency" for f in fired):
                    continue
                if fault.rate is not None and self._random.random() >= fault.rate:
                    continue
                fault.fired += 1
                fired.append(fault)
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
        return fired


ErrorBody = Callable[[int, str], bytes]


class FaultMiddleware:
    """Wraps a simulator app. ``error_body(status, message)`` renders the system's error envelope."""

    def __init__(self, app: ASGIApp, plan: FaultPlan, error_body: ErrorBody) -> None:
        self.app = app
        self.plan = plan
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        faults = self.plan.take(scope["method"], scope["path"])
        for fault in faults:
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
        chosen = next((f for f in faults if f.kind != "latency"), None)
        if chosen is None:
            await self.app(scope, receive, send)
            return
        await self._apply(chosen, scope, receive, send)

    async def _apply(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        if fault.kind == "status":
            headers = [(b"content-type", b"application/json")]
            if fault.retry_after is not None:
                value = fault.retry_after
                text = value if isinstance(value, str) else str(int(value))
                headers.append((b"retry-after", text.encode()))
            body = self.error_body(fault.status, fault.message or _reason(fault.status))
            await _respond(send, fault.status, headers, body)
        elif fault.kind == "hang":
            await asyncio.sleep(fault.seconds or 3600)
            await _respond(send, 504, [(b"content-type", b"text/plain")], b"gateway timeout")
        elif fault.kind == "reset_before":
            await _reset(send)
        elif fault.kind == "html":
            await _respond(send, 200, [(b"content-type", b"text/html; charset=utf-8")], HTML_PAGE)
        elif fault.kind in ("huge_body", "drip"):
            await _stream(send, fault)
        else:
            status, headers, body = await _capture(self.app, scope, receive)
            if fault.kind == "reset_after":
                await _reset(send)
                return
            if fault.kind == "hang_after":
                await asyncio.sleep(fault.seconds or 3600)
                await _respond(send, status, headers, body)
                return
            if fault.kind == "truncated":
                body = body[: max(1, len(body) // 2)]
            elif fault.kind == "deep_json":
                body = b"[" * fault.size + b"]" * fault.size
            else:
                body = _mutate_json(body, fault)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            await _respond(send, status, headers, body)


def _reason(status: int) -> str:
    return {
        401: "User Not Authenticated",
        403: "Forbidden",
        429: "Rate limit exceeded",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }.get(status, "Error")


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _stream(send: Send, fault: Fault) -> None:
    """A 200 JSON answer of ``fault.size`` bytes: in 64 KiB chunks, or (drip) a byte at a time."""
    headers = [(b"content-type", b"application/json"), (b"content-length", str(fault.size).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    chunk = 1 if fault.kind == "drip" else 64 * 1024
    sent = 0
    while sent < fault.size:
        size = min(chunk, fault.size - sent)
        await send({"type": "http.response.body", "body": b" " * size, "more_body": True})
        sent += size
        if fault.kind == "drip":
            await asyncio.sleep(fault.seconds)
    await send({"type": "http.response.body", "body": b""})


class ConnectionDropped(Exception):
    """Raised after the response head is sent: uvicorn then closes the socket mid-answer."""


async def _reset(send: Send) -> None:
    # Promise a body, send none, and abort: the client sees the connection drop mid-response.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
        }
    )
    raise ConnectionDropped("simulated connection reset")


async def _capture(
    app: ASGIApp, scope: Scope, receive: Receive
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def capture_send(message: Message) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, capture_send)
    return status, headers, b"".join(chunks)


def _mutate_json(body: bytes, fault: Fault) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        return body

    def mutate(record: Any) -> None:
        if not isinstance(record, dict):
            return
        if fault.kind == "drop_fields":
            for name in fault.fields:
                record.pop(name, None)
        elif fault.kind == "rename_fields":
            for old, new in fault.renames.items():
                if old in record:
                    record[new] = record.pop(old)
        elif fault.kind == "extra_fields":
            for name in fault.fields or ["u_unexpected"]:
                record[name] = "unexpected value"

    # Records live under "result" (ServiceNow), "items"/"item" (Autotask queries and reads) or
    # "fields" (Autotask field metadata); an answer without any of them (Autotask's {"itemId": N})
    # is itself the record to mutate.
    containers = [document.get(key) for key in RECORD_KEYS] if isinstance(document, dict) else []
    if isinstance(document, dict) and all(value is None for value in containers):
        mutate(document)
    for value in containers:
        if isinstance(value, list):
            for record in value:
                mutate(record)
        elif isinstance(value, dict):
            mutate(value)
    return json.dumps(document).encode()
