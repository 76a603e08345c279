"""The webhook receiver under attack: who may post, how much, how fast, and what it costs the APIs.

Any local process (and any web page, through the browser and DNS rebinding) can reach the
receiver. It must require the shared secret, refuse browser-style requests and foreign Host
names, keep a bounded, de-duplicated queue of ids, never re-read while ServiceNow credentials are
known bad, stay within its read budget, keep its log quiet under a flood, and bound what one
connection may hold (bytes, time, count).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging

import httpx
import pytest
from engine_harness import Harness
from webhook_helpers import SECRET, SN_SECRET, WAIT, started, until

from app.engine.engine import SyncEngine
from app.engine.webhooks import SN_SIGNATURE_HEADER, SN_TOKEN_HEADER
from app.secrets import Secret

JSON = {"Content-Type": "application/json"}


def sys_id(n: int) -> str:
    return f"{n:032x}"


def body_for(n: int) -> bytes:
    return json.dumps({"table": "incident", "sys_id": sys_id(n)}).encode()


def sn_signature(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def receiver_url(engine: SyncEngine) -> str:
    assert engine.webhooks is not None
    return engine.webhooks.url


async def test_servicenow_route_requires_the_shared_secret(harness: Harness, secret: str) -> None:
    engine = await started(harness, [])
    url = f"{receiver_url(engine)}/servicenow"
    body = body_for(1)
    async with httpx.AsyncClient(timeout=WAIT, headers=JSON) as client:
        for headers in (
            {},
            {SN_TOKEN_HEADER: "wrong"},
            {SN_TOKEN_HEADER: ""},
            {SN_SIGNATURE_HEADER: sn_signature("wrong", body)},
            {SN_SIGNATURE_HEADER: sn_signature(SN_SECRET, body + b" ")},
        ):
            answer = await client.post(url, content=body, headers=headers)
            assert answer.status_code == 401, headers
        ok_token = await client.post(url, content=body, headers={SN_TOKEN_HEADER: SN_SECRET})
        ok_hmac = await client.post(
            url, content=body, headers={SN_SIGNATURE_HEADER: sn_signature(SN_SECRET, body)}
        )
    assert (ok_token.status_code, ok_hmac.status_code) == (202, 202)
    await engine.stop()


async def test_without_servicenow_secret_every_notification_is_refused(
    harness: Harness, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICENOW_WEBHOOK_SECRET", "")
    monkeypatch.setattr(
        "app.engine.engine.get_secret",
        lambda name, username: Secret(SECRET) if name == "autotask_webhook_secret" else None,
    )
    engine = await started(harness, [])
    async with httpx.AsyncClient(timeout=WAIT, headers=JSON) as client:
        answer = await client.post(
            f"{receiver_url(engine)}/servicenow", content=body_for(1), headers={SN_TOKEN_HEADER: ""}
        )
    assert answer.status_code == 401
    await engine.stop()


async def test_browser_style_and_foreign_host_requests_are_refused(harness: Harness, secret: str) -> None:
    engine = await started(harness, [])
    base = receiver_url(engine)
    port = base.rsplit(":", 1)[1]
    auth = {SN_TOKEN_HEADER: SN_SECRET}
    cases: list[tuple[dict[str, str], int]] = [
        ({**JSON, "Origin": "https://evil.example"}, 403),
        ({**JSON, "Origin": "null"}, 403),
        ({**JSON, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({}, 415),
        ({**JSON, "Host": f"evil.example:{port}"}, 421),  # DNS rebinding: the page's own name
        ({**JSON, "Host": "127.0.0.1:1"}, 421),
    ]
    async with httpx.AsyncClient(timeout=WAIT) as client:
        for route in ("/servicenow", "/autotask"):
            for headers, status in cases:
                answer = await client.post(base + route, content=body_for(1), headers={**auth, **headers})
                assert answer.status_code == status, (route, headers)
        fine = await client.post(
            base + "/servicenow",
            content=body_for(1),
            headers={**auth, "Content-Type": "application/json; charset=utf-8", "Host": f"localhost:{port}"},
        )
        assert fine.status_code == 202
    await engine.stop()


async def test_configured_proxy_host_is_accepted(harness: Harness, secret: str) -> None:
    engine = await started(harness, [], webhook={"allowed_hosts": ["hooks.example.com"]})
    async with httpx.AsyncClient(timeout=WAIT) as client:
        answer = await client.post(
            f"{receiver_url(engine)}/servicenow",
            content=body_for(1),
            headers={**JSON, SN_TOKEN_HEADER: SN_SECRET, "Host": "hooks.example.com"},
        )
    assert answer.status_code == 202
    await engine.stop()


def incident_reads(harness: Harness) -> int:
    return harness.sn.requests.count("GET", "/table/incident/")


async def test_flood_is_deduplicated_bounded_and_within_the_read_budget(
    harness: Harness, secret: str
) -> None:
    engine = await started(harness, [], webhook={"max_pending_ids": 5, "reads_per_minute": 1})
    assert engine.webhooks is not None
    queue = engine.webhooks.queue
    before = incident_reads(harness)
    url = f"{receiver_url(engine)}/servicenow"
    async with httpx.AsyncClient(timeout=WAIT, headers={**JSON, SN_TOKEN_HEADER: SN_SECRET}) as client:
        first = await client.post(url, content=body_for(1))
        assert first.status_code == 202

        async def budget_spent() -> bool:
            return incident_reads(harness) == before + 1 and queue.idle()

        await until(budget_spent, "the first id was not read")
        # The budget (1 read a minute) is spent: the same id 50 times is one pending entry.
        statuses = [(await client.post(url, content=body_for(2))).status_code for _ in range(50)]
        assert set(statuses) == {202}
        assert queue.pending() == 1
        statuses = [(await client.post(url, content=body_for(n))).status_code for n in range(3, 20)]
        assert statuses[:4] == [202] * 4
        assert set(statuses[4:]) == {503}  # the bound: 5 pending ids; the poll catches up on the rest
        assert queue.pending() == 5
    assert incident_reads(harness) == before + 1  # nothing read beyond the budget
    await engine.stop()


async def test_auth_pause_stops_webhook_re_reads(
    harness: Harness, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Known-bad credentials: a flood of notifications must not turn into Basic logins."""
    engine = await started(harness, [], password="wrong")
    assert engine.health("servicenow").level == "auth_failed"
    assert engine.webhooks is not None
    queue = engine.webhooks.queue
    before = harness.sn.requests.count()
    url = f"{receiver_url(engine)}/servicenow"
    caplog.set_level(logging.INFO, logger="app.engine")
    async with httpx.AsyncClient(timeout=WAIT, headers={**JSON, SN_TOKEN_HEADER: SN_SECRET}) as client:
        for n in range(1, 41):
            answer = await client.post(url, content=body_for(n))
            assert answer.status_code == 202

    async def drained() -> bool:
        return queue.pending() == 0 and queue.idle()

    await until(drained, "the queue did not drain")
    assert harness.sn.requests.count() == before  # not one login while paused
    paused = [r for r in caplog.records if "paused" in r.getMessage() and r.levelno >= logging.WARNING]
    assert 1 <= len(paused) <= 2
    await engine.stop()


async def test_refusal_warnings_are_rate_limited(
    harness: Harness, secret: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = await started(harness, [])
    caplog.set_level(logging.WARNING, logger="app.engine")
    async with httpx.AsyncClient(timeout=WAIT, headers=JSON) as client:
        for n in range(200):
            await client.post(f"{receiver_url(engine)}/servicenow", content=body_for(n))
            await client.post(
                f"{receiver_url(engine)}/autotask", content=b"{}", headers={"X-Hook-Signature": "x"}
            )
    refusals = [r for r in caplog.records if r.name.startswith("app.engine.webhook")]
    assert 1 <= len(refusals) <= 4  # one per kind of refusal, not one per request
    await engine.stop()


# ---- resource limits --------------------------------------------------------------------------------


async def _open(engine: SyncEngine) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert engine.webhooks is not None
    host, port = engine.webhooks.url.removeprefix("http://").rsplit(":", 1)
    return await asyncio.open_connection(host, int(port))


async def test_chunked_body_is_capped_while_streaming(harness: Harness, secret: str) -> None:
    """A chunked body with no end: the receiver answers 413 once the cap is passed, without
    waiting for (and buffering) the rest."""
    engine = await started(harness, [])
    reader, writer = await _open(engine)
    host = receiver_url(engine).removeprefix("http://")
    writer.write(
        (
            f"POST /servicenow HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{SN_TOKEN_HEADER}: {SN_SECRET}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
    )
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
    status_line = asyncio.ensure_future(reader.readline())
    sent = 0
    limit = 32 * 1024 * 1024
    try:
        while not status_line.done() and sent < limit:
            writer.write(chunk)
            await writer.drain()
            sent += 64 * 1024
    except (ConnectionError, OSError):
        pass  # the receiver closed the connection after answering
    try:
        async with asyncio.timeout(WAIT):
            line = await status_line
    except ConnectionError:
        # The 413 was sent, but the close with our unread chunks behind it made the kernel reset the
        # connection, which can discard the answer before we read it. Either way: refused early.
        line = b"reset"
    assert line.startswith(b"HTTP/1.1 413") or line == b"reset", line
    assert sent < limit  # the receiver stopped reading long before the body ended
    writer.close()
    await engine.stop()


async def test_silent_connection_is_closed_after_the_header_timeout(harness: Harness, secret: str) -> None:
    engine = await started(harness, [], webhook={"header_timeout_seconds": 0.3})
    reader, writer = await _open(engine)
    writer.write(b"POST /servicenow HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and then nothing
    await writer.drain()
    async with asyncio.timeout(WAIT):
        rest = await reader.read()
    assert rest == b""  # closed without an answer
    writer.close()
    await engine.stop()


async def test_connections_beyond_the_limit_are_closed(harness: Harness, secret: str) -> None:
    engine = await started(harness, [], webhook={"max_connections": 4, "header_timeout_seconds": 60})
    idle = [await _open(engine) for _ in range(4)]
    extra = [await _open(engine) for _ in range(6)]
    async with asyncio.timeout(WAIT):
        for reader, _writer in extra:
            assert await reader.read() == b""
    for _reader, writer in extra + idle:
        writer.close()

    async def accepts() -> bool:
        try:
            async with httpx.AsyncClient(timeout=WAIT) as client:
                answer = await client.post(
                    f"{receiver_url(engine)}/servicenow",
                    content=body_for(1),
                    headers={**JSON, SN_TOKEN_HEADER: SN_SECRET},
                )
        except httpx.HTTPError:
            return False
        return answer.status_code == 202

    await until(accepts, "the receiver did not accept again once the idle connections closed")
    await engine.stop()
