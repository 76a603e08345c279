"""The optional webhook fast path: a small loopback HTTP receiver beside the pollers.

A notification only tells us *which* record changed (DESIGN.md principle 3). Nothing in a payload is
acted on except the id:

- ``POST /servicenow``: the id-only notification of our business rule (api-contracts.md 1.6),
  ``{"table":"incident","sys_id":...}``. Only a 32-hex ``sys_id`` is trusted; extra or missing
  fields are ignored. The id goes to :meth:`SyncEngine.ingest_incident_ids`, which re-reads the
  incident through the Table API; the answer (202) never waits for that.
- ``POST /autotask``: an Autotask ticket webhook (api-contracts.md 2.5). The
  ``X-Hook-Signature: sha1=<base64(HMAC-SHA1(secret, raw body))>`` header is checked before the
  body is even parsed (also for ``Deactivated``). Create/Update of a Ticket wakes the return-trip
  poll, which re-reads the tickets through the API; ``Deactivated`` is logged and audited.

The server runs uvicorn in its own thread (:class:`app.simulators.server.SimServer`); everything it
hands to the engine is scheduled onto the engine's event loop, thread-safely. The secret and the
bodies are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import socket
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.secrets import Secret
from app.simulators.server import SimServer
from app.store.models import AuditOutcome

if TYPE_CHECKING:
    from app.engine.engine import SyncEngine

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # an id-only notification is ~150 bytes; an Autotask webhook a few KiB
SIGNATURE_HEADER = "X-Hook-Signature"
_SYS_ID = re.compile(r"[0-9a-f]{32}")


def hook_signature(secret: str, body: bytes) -> str:
    """``sha1=<base64(HMAC-SHA1(secret, body))>``, the value Autotask sends in X-Hook-Signature."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha1).digest()
    return "sha1=" + base64.b64encode(digest).decode("ascii")


def signature_ok(secret: Secret | None, body: bytes, header: str | None) -> bool:
    if secret is None or not secret.reveal() or not header:
        return False
    expected = hook_signature(secret.reveal(), body)
    return hmac.compare_digest(expected.encode("utf-8"), header.strip().encode("utf-8"))


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


class WebhookReceiver:
    """Serves the two routes on ``host:port`` (port 0: the OS picks one; see :attr:`url`)."""

    def __init__(
        self,
        engine: SyncEngine,
        loop: asyncio.AbstractEventLoop,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        secret: Secret | None = None,
    ) -> None:
        self.engine = engine
        self.loop = loop
        self._secret = secret
        self._bind = (host, port)
        app = Starlette(
            routes=[
                Route("/servicenow", self._servicenow, methods=["POST"]),
                Route("/autotask", self._autotask, methods=["POST"]),
            ]
        )
        self._server = SimServer(app, host=host, port=port, name="webhook-receiver")

    @property
    def url(self) -> str:
        """The bound base URL, e.g. ``http://127.0.0.1:8765`` (known once :meth:`start` returned)."""
        return self._server.url

    def start(self) -> str:
        """Bind and serve; an ``OSError`` (e.g. the port is in use) leaves nothing open."""
        if self._bind[1]:
            # Fail cleanly before SimServer binds (its socket would leak on a bind error).
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(self._bind)
        url = self._server.start()
        if self._secret is None or not self._secret.reveal():
            log.warning(
                "webhook receiver: no Autotask webhook secret (AUTOTASK_WEBHOOK_SECRET or the keyring); "
                "every POST /autotask is refused with 401"
            )
        log.info("webhook receiver listening on %s (/servicenow, /autotask)", url)
        return url

    def stop(self) -> None:
        self._server.stop()

    # ---- scheduling onto the engine loop -------------------------------------------------------

    def _schedule(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:  # the engine loop is closed: the next poll catches up
            coro.close()
            log.warning("webhook receiver: engine loop is gone; %s skipped", what)
            return

        def done(finished: Future[None]) -> None:
            if finished.cancelled():
                return
            error = finished.exception()
            if error is not None:
                # Not fatal: the regular poll still finds the change.
                log.warning("webhook receiver: %s failed (%s: %s)", what, type(error).__name__, error)

        future.add_done_callback(done)

    # ---- routes ----------------------------------------------------------------------------------

    async def _body(self, request: Request) -> bytes | None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        body = await request.body()
        return body if len(body) <= MAX_BODY_BYTES else None

    async def _servicenow(self, request: Request) -> Response:
        body = await self._body(request)
        if body is None:
            return _answer(413, "body too large")
        try:
            payload = json.loads(body)
        except ValueError:
            return _answer(400, "body must be a JSON object")
        if not isinstance(payload, dict):
            return _answer(400, "body must be a JSON object")
        table = payload.get("table", "incident")
        sys_id = payload.get("sys_id")
        if table != "incident":
            return _answer(400, "only incident notifications are accepted")
        if not isinstance(sys_id, str) or not _SYS_ID.fullmatch(sys_id.lower()):
            return _answer(400, "sys_id must be 32 hexadecimal characters")
        sys_id = sys_id.lower()
        log.debug("webhook: ServiceNow notification for incident %s", sys_id)
        self._schedule(self.engine.ingest_incident_ids([sys_id]), f"re-read of incident {sys_id}")
        return _answer(202, "accepted")

    async def _autotask(self, request: Request) -> Response:
        body = await self._body(request)
        if body is None:
            return _answer(413, "body too large")
        if not signature_ok(self._secret, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("webhook: Autotask delivery with a missing or wrong signature refused")
            return _answer(401, "missing or invalid X-Hook-Signature")
        try:
            payload = json.loads(body)
        except ValueError:
            return _answer(400, "body must be a JSON object")
        if not isinstance(payload, dict):
            return _answer(400, "body must be a JSON object")
        action = str(payload.get("Action", ""))
        entity = str(payload.get("EntityType", ""))
        if action == "Deactivated":
            guid = str(payload.get("Guid", ""))[:64]
            message = (
                f"Autotask deactivated the ticket webhook {guid or '(no guid)'}; "
                "changes now arrive by the regular poll only. Re-activate it in Autotask."
            )
            log.warning("%s", message)
            self._schedule(
                self.engine.ctx.audit_system(message, outcome=AuditOutcome.FAILED, kind="webhook"),
                "audit of the webhook deactivation",
            )
        elif action in ("Create", "Update") and entity == "Ticket":
            log.debug("webhook: Autotask ticket %s event; waking the return-trip poll", action)
            try:
                self.loop.call_soon_threadsafe(self.engine.request_return_poll)
            except RuntimeError:
                log.warning("webhook receiver: engine loop is gone; return-trip wake skipped")
        return _answer(202, "accepted")
