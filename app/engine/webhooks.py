"""The optional webhook fast path: a small HTTP receiver beside the pollers.

A notification only tells us *which* record changed (DESIGN.md principle 3). Nothing in a payload is
acted on except the id:

- ``POST /servicenow``: the id-only notification of our business rule (api-contracts.md 1.6),
  ``{"table":"incident","sys_id":...}``. The rule must send the shared secret, as
  ``X-Triage-Sync-Token: <secret>`` or ``X-Triage-Sync-Signature: sha256=<base64(HMAC-SHA256(secret,
  body))>``; without a configured secret every POST is refused. Only a 32-hex ``sys_id`` is trusted.
  The id joins a bounded, de-duplicated queue (:mod:`app.engine.webhook_queue`) that re-reads within
  the auth pause and a read budget; the answer (202) never waits for the re-read.
- ``POST /autotask``: an Autotask ticket webhook (api-contracts.md 2.5). ``X-Hook-Signature`` is
  checked against the raw body and its .NET-escaped form (:mod:`app.domain.hook_signature`) before
  the body is even parsed (also for ``Deactivated``). Create/Update of a Ticket wakes the
  return-trip poll, which re-reads the tickets through the API; ``Deactivated`` is logged and
  audited.

Before any of that, both routes refuse what a web page could send through a browser (an ``Origin``
or ``Sec-Fetch-*`` header: 403; a content type other than JSON: 415), a ``Host`` that is not ours
(421; DNS rebinding), bodies over :data:`MAX_BODY_BYTES` (413, counted while streaming) and bodies
slower than :data:`BODY_SECONDS` (408). The server (:class:`app.httpserver.ServerThread`) closes
connections beyond a limit and those that do not finish their headers in time. Refusals are logged
at most once a minute per kind. The secrets and the bodies are never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from concurrent.futures import Future
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.domain.hook_signature import hook_signature, sha256_signature, signature_ok
from app.domain.records import is_sys_id
from app.engine.webhook_queue import IncidentIdQueue, RateLimitedLog
from app.httpserver import ServerLimits, ServerThread
from app.secrets import Secret
from app.store.models import AuditOutcome

if TYPE_CHECKING:
    from app.engine.engine import SyncEngine

__all__ = ["SN_SIGNATURE_HEADER", "SN_TOKEN_HEADER", "WebhookReceiver", "hook_signature"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # an id-only notification is ~150 bytes; an Autotask webhook a few KiB
BODY_SECONDS = 10.0  # Autotask's own delivery timeout
SIGNATURE_HEADER = "X-Hook-Signature"
SN_TOKEN_HEADER = "X-Triage-Sync-Token"
SN_SIGNATURE_HEADER = "X-Triage-Sync-Signature"
_LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
_GUID = re.compile(r"[^0-9A-Za-z-]")  # a webhook GUID; anything else is dropped before logging


def _answer(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _reveal(secret: Secret | None) -> str | None:
    return secret.reveal() if secret is not None else None


def servicenow_auth_ok(secret: str | None, body: bytes, token: str | None, signature: str | None) -> bool:
    """The shared secret as a token, or an HMAC-SHA256 of the body with it; never an empty secret."""
    if not secret:
        return False
    if token is not None:
        return hmac.compare_digest(secret.encode("utf-8"), token.strip().encode("utf-8"))
    if signature is not None:
        expected = sha256_signature(secret, body)
        return hmac.compare_digest(expected.encode("utf-8"), signature.strip().encode("utf-8"))
    return False


class _Refused(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind


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
        servicenow_secret: Secret | None = None,
        allowed_hosts: tuple[str, ...] = (),
        max_pending_ids: int = 500,
        reads_per_minute: int = 120,
        limits: ServerLimits | None = None,
    ) -> None:
        self.engine = engine
        self.loop = loop
        self._secret = secret
        self._sn_secret = servicenow_secret
        self._host = host
        self._allowed_hosts = frozenset(name.strip().lower() for name in allowed_hosts if name.strip())
        self.warnings = RateLimitedLog(log)
        self.queue = IncidentIdQueue(
            engine,
            loop,
            max_pending=max_pending_ids,
            reads_per_minute=reads_per_minute,
            warnings=self.warnings,
        )
        app = Starlette(
            routes=[
                Route("/servicenow", self._servicenow, methods=["POST"]),
                Route("/autotask", self._autotask, methods=["POST"]),
            ]
        )
        self._server = ServerThread(
            app, host=host, port=port, name="webhook-receiver", limits=limits or ServerLimits()
        )

    @property
    def url(self) -> str:
        """The bound base URL, e.g. ``http://127.0.0.1:8765`` (known once :meth:`start` returned)."""
        return self._server.url

    def start(self) -> str:
        """Bind and serve; an ``OSError`` (e.g. the port is in use) leaves nothing open."""
        url = self._server.start()
        if not _reveal(self._secret):
            log.warning(
                "webhook receiver: no Autotask webhook secret (AUTOTASK_WEBHOOK_SECRET or the keyring); "
                "every POST /autotask is refused with 401"
            )
        if not _reveal(self._sn_secret):
            log.warning(
                "webhook receiver: no ServiceNow notification secret (SERVICENOW_WEBHOOK_SECRET or the "
                "keyring); every POST /servicenow is refused with 401"
            )
        log.info("webhook receiver listening on %s (/servicenow, /autotask)", url)
        return url

    def stop(self) -> None:
        self.queue.close()
        self._server.stop()

    # ---- checks every request passes --------------------------------------------------------------

    def _host_ok(self, header: str) -> bool:
        """Our own names with our port, or a name the user configured (a reverse proxy)."""
        value = header.strip().lower()
        if value.startswith("["):  # an IPv6 literal: [::1]:8765
            name, _, rest = value.partition("]")
            name, port = name + "]", rest.removeprefix(":")
        else:
            name, _, port = value.partition(":")
        if value in self._allowed_hosts or name in self._allowed_hosts:
            return True
        return name in {*_LOCAL_NAMES, self._host.lower()} and port == str(self._server.port)

    async def _checked_body(self, request: Request) -> bytes:
        """The request body after the checks every route shares, read with a byte and a time cap."""
        if not self._host_ok(request.headers.get("host", "")):
            raise _Refused(421, "unknown Host", "host")
        if "origin" in request.headers or any(name.startswith("sec-fetch-") for name in request.headers):
            raise _Refused(403, "browser requests are not accepted", "browser")
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise _Refused(415, "Content-Type must be application/json", "content-type")
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise _Refused(413, "body too large", "size")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(BODY_SECONDS):
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise _Refused(413, "body too large", "size")
                    chunks.append(chunk)
        except TimeoutError:
            raise _Refused(408, "body too slow", "slow") from None
        except ClientDisconnect:
            raise _Refused(400, "client went away", "disconnect") from None
        return b"".join(chunks)

    def _refused(self, route: str, refused: _Refused) -> Response:
        self.warnings.warning(
            f"{route}:{refused.kind}", "webhook: %s request refused (%s)", route, refused.message
        )
        headers = {"Connection": "close"} if refused.status in (408, 413) else None
        return _answer(refused.status, refused.message, headers)

    # ---- routes ----------------------------------------------------------------------------------

    async def _servicenow(self, request: Request) -> Response:
        try:
            body = await self._checked_body(request)
            if not servicenow_auth_ok(
                _reveal(self._sn_secret),
                body,
                request.headers.get(SN_TOKEN_HEADER),
                request.headers.get(SN_SIGNATURE_HEADER),
            ):
                raise _Refused(401, f"missing or invalid {SN_TOKEN_HEADER} / {SN_SIGNATURE_HEADER}", "auth")
        except _Refused as refused:
            return self._refused("ServiceNow", refused)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return _answer(400, "body must be a JSON object")
        if not isinstance(payload, dict):
            return _answer(400, "body must be a JSON object")
        table = payload.get("table", "incident")
        sys_id = payload.get("sys_id")
        if table != "incident":
            return _answer(400, "only incident notifications are accepted")
        if not isinstance(sys_id, str) or not is_sys_id(sys_id):
            return _answer(400, "sys_id must be 32 hexadecimal characters")
        sys_id = sys_id.lower()
        outcome = self.queue.offer(sys_id)
        if outcome == "full":
            self.warnings.warning(
                "ServiceNow:full",
                "webhook: %d notified incidents already wait for a re-read; further notifications are "
                "refused (503) until they are read, the poll catches up",
                self.queue.max_pending,
            )
            return _answer(503, "too many notifications waiting", {"Retry-After": "60"})
        if outcome == "closed":
            return _answer(503, "shutting down", {"Retry-After": "60"})
        log.debug("webhook: ServiceNow notification for incident %s (%s)", sys_id, outcome)
        return _answer(202, "accepted")

    async def _autotask(self, request: Request) -> Response:
        try:
            body = await self._checked_body(request)
            if not signature_ok(_reveal(self._secret), body, request.headers.get(SIGNATURE_HEADER)):
                raise _Refused(401, f"missing or invalid {SIGNATURE_HEADER}", "auth")
        except _Refused as refused:
            return self._refused("Autotask", refused)
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):
            return _answer(400, "body must be a JSON object")
        if not isinstance(payload, dict):
            return _answer(400, "body must be a JSON object")
        action = str(payload.get("Action", ""))
        entity = str(payload.get("EntityType", ""))
        if action == "Deactivated":
            guid = _GUID.sub("", str(payload.get("Guid", "")))[:64]
            message = (
                f"Autotask deactivated the ticket webhook {guid or '(no guid)'}; "
                "changes now arrive by the regular poll only. Re-activate it in Autotask."
            )
            log.warning("%s", message)
            self._schedule_audit(message)
        elif action in ("Create", "Update") and entity == "Ticket":
            log.debug("webhook: Autotask ticket %s event; waking the return-trip poll", action)
            try:
                self.loop.call_soon_threadsafe(self.engine.request_return_poll)
            except RuntimeError:
                log.warning("webhook receiver: engine loop is gone; return-trip wake skipped")
        return _answer(202, "accepted")

    def _schedule_audit(self, message: str) -> None:
        coro = self.engine.ctx.audit_system(message, outcome=AuditOutcome.FAILED, kind="webhook")
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        except RuntimeError:  # the engine loop is closed
            coro.close()
            return

        def done(finished: Future[None]) -> None:
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("webhook receiver: audit of the deactivation failed (%s)", finished.exception())

        future.add_done_callback(done)
