"""The webhook fast path: id-only notifications reach the engine without waiting a poll interval.

Poll intervals are an hour, and every notification is sent only after the engine's first polls
have finished, so only the webhook can explain what happens next. No fixed sleeps: every wait is on
a condition with a bounded timeout.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from engine_harness import Harness

from app.engine.engine import SyncEngine
from app.engine.events import EngineEvent, PollFinished
from app.engine.webhooks import hook_signature
from app.simulators.autotask import TICKET_WEBHOOK_FIELD_IDS

WAIT = 10.0
SECRET = "hook-secret-for-tests"
AT_HEADERS = {"ApiIntegrationCode": "DEMO", "UserName": "demo@example.com", "Secret": "demo"}
HOUR = {"servicenow": {"poll_seconds": 3600}, "autotask": {"poll_seconds": 3600}}


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)
    assert await check(), what


def polls(events: list[EngineEvent], system: str) -> int:
    return sum(1 for e in events if isinstance(e, PollFinished) and e.system == system)


async def started(
    harness: Harness, events: list[EngineEvent], *, check: bool = True, **config: Any
) -> SyncEngine:
    """An engine with the receiver on a free port, after both first polls have finished."""
    overrides: dict[str, Any] = {**HOUR, "webhook": {"enabled": True, "port": 0}, **config}
    engine = harness.engine(harness.config(**overrides), events=events)
    await engine.start()
    if check:
        assert engine.webhooks is not None

    async def first_polls_done() -> bool:
        return polls(events, "servicenow") >= 1 and polls(events, "autotask") >= 1

    await until(first_polls_done, "the first polls did not finish")
    return engine


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AUTOTASK_WEBHOOK_SECRET", SECRET)
    return SECRET


async def test_servicenow_notification_queues_the_incident(harness: Harness, secret: str) -> None:
    events: list[EngineEvent] = []
    engine = await started(harness, events)
    assert engine.webhooks is not None
    harness.sn.settings.notify_url = f"{engine.webhooks.url}/servicenow"

    incident = harness.incident(short_description="Laptop will not boot")

    async def queued() -> bool:
        return await engine.ctx.db(engine.store.get_item, incident["sys_id"]) is not None

    await until(queued, "the notified incident was not queued")
    assert polls(events, "servicenow") == 1  # the webhook, not a poll, queued it

    async def answered() -> bool:  # the simulator records the attempt once our answer arrived
        return bool(harness.sn.notification_attempts())

    await until(answered, "the notification attempt was not recorded")
    assert [a.status for a in harness.sn.notification_attempts()] == [202]
    await engine.stop()
    assert engine.webhooks is None


async def test_servicenow_route_trusts_only_the_sys_id(harness: Harness, secret: str) -> None:
    engine = await started(harness, [])
    assert engine.webhooks is not None
    url = f"{engine.webhooks.url}/servicenow"
    async with httpx.AsyncClient(timeout=WAIT) as client:
        bad = [
            b"not json",
            b'["a"]',
            json.dumps({"table": "incident"}).encode(),
            json.dumps({"table": "incident", "sys_id": "1 OR 1=1"}).encode(),
            json.dumps({"table": "incident", "sys_id": "g" * 32}).encode(),
            json.dumps({"table": "sys_user", "sys_id": "a" * 32}).encode(),
        ]
        for body in bad:
            answer = await client.post(url, content=body)
            assert answer.status_code == 400, body
        # Missing table, extra fields: tolerated. An unknown id is re-read, found absent, ignored.
        answer = await client.post(url, json={"sys_id": "a" * 32, "number": 7, "extra": {"x": 1}})
        assert answer.status_code == 202
    await engine.stop()


async def register_ticket_webhook(harness: Harness, url: str) -> None:
    """A real TicketWebhooks record on the simulator, subscribed to status changes."""
    async with httpx.AsyncClient(base_url=harness.at.rest_base, headers=AT_HEADERS, timeout=WAIT) as api:
        created = await api.post(
            "/v1.0/TicketWebhooks",
            json={
                "isActive": True,
                "name": "Triage Sync",
                "webhookUrl": url,
                "deactivationUrl": url,
                "secretKey": SECRET,
                "isSubscribedToCreateEvents": False,
                "isSubscribedToUpdateEvents": True,
                "isSubscribedToDeleteEvents": False,
            },
        )
        created.raise_for_status()
        hook_id = created.json()["itemId"]
        for name, always in (("status", False), ("externalID", True)):
            answer = await api.post(
                f"/v1.0/TicketWebhooks/{hook_id}/Fields",
                json={
                    "fieldID": TICKET_WEBHOOK_FIELD_IDS[name],
                    "isSubscribedField": not always,
                    "isDisplayAlwaysField": always,
                },
            )
            answer.raise_for_status()


async def test_signed_autotask_webhook_wakes_the_return_trip(harness: Harness, secret: str) -> None:
    incident = harness.incident()
    pusher = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await pusher.run_once()
    assert report.ok and report.pushed == 1, report.failures
    await pusher.close()
    [ticket] = harness.tickets_for(incident["sys_id"])

    events: list[EngineEvent] = []
    engine = await started(harness, events)
    assert engine.webhooks is not None
    await register_ticket_webhook(harness, f"{engine.webhooks.url}/autotask")

    harness.at.technician_update(int(ticket["id"]), status="In Progress")

    async def applied() -> bool:
        # The wake ran a second return-trip poll (its event comes after the incident write).
        return harness.sn.get_record(incident["sys_id"])["state"] == "2" and polls(events, "autotask") >= 2

    await until(applied, "the technician's change did not reach the incident")

    async def answered() -> bool:
        return bool(harness.at.webhook_attempts())

    await until(answered, "the webhook attempt was not recorded")
    assert [a.status for a in harness.at.webhook_attempts()] == [202]
    await engine.stop()


async def test_autotask_signature_is_required(harness: Harness, secret: str) -> None:
    events: list[EngineEvent] = []
    engine = await started(harness, events)
    assert engine.webhooks is not None
    url = f"{engine.webhooks.url}/autotask"
    update = json.dumps({"Action": "Update", "EntityType": "Ticket", "Id": 1}).encode()
    deactivated = json.dumps({"Action": "Deactivated", "Guid": "guid-1", "EntityType": "Ticket"}).encode()
    async with httpx.AsyncClient(timeout=WAIT) as client:
        for body in (update, deactivated):
            for headers in (
                {},
                {"X-Hook-Signature": hook_signature("wrong-secret", body)},
                {"X-Hook-Signature": "sha1=" + "A" * 28},
                {"X-Hook-Signature": hook_signature(secret, body + b" ")},
            ):
                answer = await client.post(url, content=body, headers=headers)
                assert answer.status_code == 401, (body, headers)
        assert polls(events, "autotask") == 1
        audited = await engine.list_audit(direction="system")
        assert not any("deactivated" in row.summary for row in audited)

        answer = await client.post(
            url, content=deactivated, headers={"X-Hook-Signature": hook_signature(secret, deactivated)}
        )
        assert answer.status_code == 202

    async def audited_deactivation() -> bool:
        rows = await engine.list_audit(direction="system")
        return any("deactivated the ticket webhook guid-1" in row.summary for row in rows)

    await until(audited_deactivation, "the deactivation was not audited")
    assert polls(events, "autotask") == 1  # a deactivation is not a ticket change
    await engine.stop()


async def test_without_secret_every_autotask_delivery_is_refused(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOTASK_WEBHOOK_SECRET", "")
    monkeypatch.setattr("app.engine.engine.get_secret", lambda name, username: None)
    engine = await started(harness, [])
    assert engine.webhooks is not None
    body = b'{"Action":"Update","EntityType":"Ticket","Id":1}'
    async with httpx.AsyncClient(timeout=WAIT) as client:
        answer = await client.post(
            f"{engine.webhooks.url}/autotask",
            content=body,
            headers={"X-Hook-Signature": hook_signature("", body)},
        )
    assert answer.status_code == 401
    await engine.stop()


async def test_receiver_is_off_by_default(harness: Harness) -> None:
    engine = harness.engine(harness.config(**HOUR))
    await engine.start()
    assert engine.webhooks is None
    await engine.stop()


async def test_port_in_use_leaves_polling_running(harness: Harness, secret: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        events: list[EngineEvent] = []
        engine = await started(harness, events, webhook={"enabled": True, "port": port}, check=False)
        assert engine.webhooks is None
        rows = await engine.list_audit(direction="system")
        assert any("webhook receiver not started" in row.summary for row in rows)
        await engine.stop()
