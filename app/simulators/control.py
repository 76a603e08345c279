"""Shared simulator plumbing: a request log for inspection and the loopback control endpoints.

Control endpoints (loopback only, never part of the real APIs):
- ``GET /_sim/requests``: every request received (method, path, query, JSON body, status).
- ``GET|POST|DELETE /_sim/faults``: list, add (JSON body = :class:`Fault` fields) or clear faults.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.simulators.faults import ASGIApp, Fault, FaultPlan, Message, Receive, Scope, Send

# Gets a list/query request's parameters; returns True when it has done its job (then removed).
PageHook = Callable[[Mapping[str, str]], bool]


@dataclass(frozen=True)
class LoggedRequest:
    at: float
    method: str
    path: str
    query: str
    body: Any  # parsed JSON body, raw text, or None
    status: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """Thread-safe log of what a simulator received. Credentials (headers) are never recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def add(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, method: str | None = None, path_contains: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            entries = list(self._entries)
        return [
            e
            for e in entries
            if (method is None or e.method == method.upper())
            and (path_contains is None or path_contains.lower() in e.path.lower())
        ]

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        return len(self.entries(method, path_contains))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class RequestLogMiddleware:
    """Outermost layer: records each request with the status the client finally saw, and stamps
    every answer with a ``Date`` header from the simulator's own clock (as a real server does from
    the clock its record stamps come from; clients use it to learn the server's time)."""

    def __init__(self, app: ASGIApp, log: RequestLog, now: Callable[[], datetime] | None = None) -> None:
        self.app = app
        self.log = log
        self.now = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            chunks.append(bytes(message.get("body", b"")))
            more = bool(message.get("more_body", False))
        raw = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        status = 0
        logged = False

        def record() -> None:
            # Logged before the last body chunk goes out, so a client that has its answer always
            # finds its request in the log (logging after sending raced with test assertions).
            nonlocal logged
            if logged:
                return
            logged = True
            body: Any = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
            self.log.add(
                LoggedRequest(
                    at=time.time(),
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    body=body,
                    status=status,
                )
            )

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                if self.now is not None:
                    date = email.utils.format_datetime(self.now().astimezone(UTC), usegmt=True)
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"date"]
                    message = {**message, "headers": [*headers, (b"date", date.encode("latin-1"))]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                record()
            await send(message)

        try:
            await self.app(scope, replay, watch)
        finally:
            record()


def control_routes(plan: FaultPlan, log: RequestLog) -> list[Route]:
    async def requests_endpoint(request: Request) -> Response:
        return JSONResponse({"requests": [e.to_json() for e in log.entries()]})

    async def faults_endpoint(request: Request) -> Response:
        if request.method == "POST":
            try:
                fault = plan.add(Fault(**(await request.json())))
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": f"bad fault: {exc}"}, status_code=400)
            return JSONResponse(fault.to_json(), status_code=201)
        if request.method == "DELETE":
            plan.clear()
            return Response(status_code=204)
        return JSONResponse({"faults": [f.to_json() for f in plan.active()]})

    handlers: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]] = [
        ("/_sim/requests", requests_endpoint, ["GET"]),
        ("/_sim/faults", faults_endpoint, ["GET", "POST", "DELETE"]),
    ]
    return [Route(path, handler, methods=methods) for path, handler, methods in handlers]


class PageHooks:
    """Edits while a client pages: callables run after a list or query page has been computed
    (under the simulator's lock, so they may call its Python API), each until it returns True."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: list[PageHook] = []

    def add(self, hook: PageHook) -> None:
        with self._lock:
            self._hooks.append(hook)

    def run(self, params: Mapping[str, str]) -> None:
        with self._lock:
            hooks = list(self._hooks)
        done = [hook for hook in hooks if hook(params)]
        if done:
            with self._lock:
                self._hooks = [hook for hook in self._hooks if hook not in done]

    def clear(self) -> None:
        with self._lock:
            self._hooks.clear()
