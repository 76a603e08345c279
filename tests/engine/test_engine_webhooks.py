"""The webhook fast path: id-only notifications reach the engine without waiting a poll interval.

Poll intervals are an hour, and every notification is sent only after the engine's first polls
have finished, so only the webhook can explain what happens next. No fixed sleeps: every wait is on
a condition with a bounded timeout.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from engine_harness import Harness
from webhook_helpers import HOUR, SECRET, SN_SECRET, WAIT, polls, started, until

from app.engine.engine import SyncEngine
from app.engine.events import EngineEvent
from app.engine.webhooks import hook_signature
from app.simulators.autotask import TICKET_WEBHOOK_FIELD_IDS

JSON = {"Content-Type": "application/json"}
AT_HEADERS = {"ApiIntegrationCode": "DEMO", "UserName": "demo@example.com", "Secret": "demo"}


async def test_servicenow_notification_queues_the_incident(harness: Harness, secret: str) -> None:
    events: list[EngineEvent] = []
    engine = await started(harness, events)
    assert engine.webhooks is not None
    harness.sn.settings.notify_url = f"{engine.webhooks.url}/servicenow"
    harness.sn.settings.notify_secret = SN_SECRET

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
    headers = {"X-Triage-Sync-Token": SN_SECRET, "Content-Type": "application/json"}
    async with httpx.AsyncClient(timeout=WAIT, headers=headers) as client:
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


async def register_ticket_webhook(
    harness: Harness, url: str, *, always: tuple[str, ...] = ("externalID",)
) -> None:
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
        for name, display in (("status", False), *((field, True) for field in always)):
            answer = await api.post(
                f"/v1.0/TicketWebhooks/{hook_id}/Fields",
                json={
                    "fieldID": TICKET_WEBHOOK_FIELD_IDS[name],
                    "isSubscribedField": not display,
                    "isDisplayAlwaysField": display,
                },
            )
            answer.raise_for_status()


async def linked_ticket_with_webhook(
    harness: Harness, incident: dict[str, str], *, always: tuple[str, ...] = ("externalID",)
) -> tuple[dict[str, Any], SyncEngine, list[EngineEvent]]:
    """Push ``incident`` (a first engine), then start a receiving engine with a ticket webhook."""
    pusher = harness.engine(harness.config(outbound={"auto_push": True}))
    report = await pusher.run_once()
    assert report.ok and report.pushed == 1, report.failures
    await pusher.close()
    [ticket] = harness.tickets_for(incident["sys_id"])
    events: list[EngineEvent] = []
    engine = await started(harness, events)
    assert engine.webhooks is not None
    await register_ticket_webhook(harness, f"{engine.webhooks.url}/autotask", always=always)
    return ticket, engine, events


async def test_signed_autotask_webhook_wakes_the_return_trip(harness: Harness, secret: str) -> None:
    incident = harness.incident()
    ticket, engine, events = await linked_ticket_with_webhook(harness, incident)

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


async def test_webhook_for_a_ticket_with_accents_and_ampersand_is_accepted(
    harness: Harness, secret: str
) -> None:
    """Autotask signs a .NET-escaped serialization: a raw-body check alone refuses these deliveries
    (401), which count towards the 25 failures after which Autotask deactivates the webhook."""
    incident = harness.incident(short_description="Café printer & scanner +2 jammed")
    ticket, engine, _events = await linked_ticket_with_webhook(
        harness, incident, always=("externalID", "title")
    )
    harness.at.technician_update(int(ticket["id"]), status="In Progress")

    async def answered() -> bool:
        return bool(harness.at.webhook_attempts())

    await until(answered, "the webhook attempt was not recorded")
    [attempt] = harness.at.webhook_attempts()
    assert "Café".encode() in attempt.body  # sent raw, signed escaped
    assert attempt.status == 202
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
                answer = await client.post(url, content=body, headers={**JSON, **headers})
                assert answer.status_code == 401, (body, headers)
        assert polls(events, "autotask") == 1
        audited = await engine.list_audit(direction="system")
        assert not any("deactivated" in row.summary for row in audited)

        answer = await client.post(
            url,
            content=deactivated,
            headers={**JSON, "X-Hook-Signature": hook_signature(secret, deactivated)},
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
            headers={**JSON, "X-Hook-Signature": hook_signature("", body)},
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
