"""Serve an ASGI app with uvicorn in a background thread: the webhook receiver and the simulators.

The socket is bound before the thread starts, so the URL (with an OS-chosen port when port=0) is
known at once and a test can never race the server's start-up.

:class:`ServerLimits` bounds what a peer can hold (docs/security.md): connections beyond
``max_connections`` are closed at once, a connection that has not sent complete request headers
within ``header_timeout`` seconds is closed (also between keep-alive requests), and request headers
are capped at ``max_header_bytes``. uvicorn itself has no header timeout; the guard is a small
subclass of its h11 protocol. Body size and body time are the app's to cap while it streams.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerLimits:
    max_connections: int = 32
    header_timeout: float = 10.0
    max_header_bytes: int = 16 * 1024
    keep_alive: int = 5


def _guarded_protocol(limits: ServerLimits) -> type[H11Protocol]:
    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                transport.close()
                return
            self._arm()

        def _waiting_for_headers(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(limits.header_timeout, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self._waiting_for_headers() and not self.transport.is_closing():
                self.transport.close()

        def data_received(self, data: bytes) -> None:
            before = self.cycle
            if self._waiting_for_headers():
                self._arm()
            super().data_received(data)
            if self.cycle is not before and not self._waiting_for_headers():
                self._disarm()  # a request's headers arrived; the app bounds its body

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedH11Protocol


class ServerThread:
    """``start()`` binds and serves in a daemon thread; ``stop()`` ends it and frees the port."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "http",
        limits: ServerLimits | None = None,
        date_header: bool = True,
    ) -> None:
        """``date_header=False``: the app sends its own ``Date`` (the simulators, from their clock)."""
        self.app = app
        self.host = host
        self.name = name
        self.limits = limits
        self.date_header = date_header
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
        # TCP; without it Nagle + delayed ACK add ~40 ms to every keep-alive request.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.host, self._requested_port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._socket = sock
        self.port = sock.getsockname()[1]
        limits = self.limits
        config = uvicorn.Config(
            self.app,
            log_level="critical",
            access_log=False,
            lifespan="off",
            date_header=self.date_header,
            timeout_graceful_shutdown=1,
            timeout_keep_alive=limits.keep_alive if limits else 30,
            http=_guarded_protocol(limits) if limits else "h11",
            h11_max_incomplete_event_size=limits.max_header_bytes if limits else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-http", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self.name} did not start on {self.url}")
        return self.url

    def _run(self) -> None:
        assert self._server is not None and self._socket is not None
        server = self._server
        sock = self._socket

        async def serve() -> None:
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():
                await asyncio.sleep(0.005)
            self._ready.set()
            await task

        try:
            asyncio.run(serve())
        except Exception:  # pragma: no cover - logged, the thread must not die silently
            log.exception("%s stopped with an error", self.name)
        finally:
            self._ready.set()

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._server = None
        self._socket = None

    def __enter__(self) -> ServerThread:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
