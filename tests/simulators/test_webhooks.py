"""Outbound deliveries of the simulators: ServiceNow id-only notifications (SN-8) and Autotask
TicketWebhooks (Autotask-9), received by a tiny loopback HTTP server. No fixed sleeps: every wait
is on a condition with a bounded timeout."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from app.domain.hook_signature import dotnet_escaped, hook_signature
from app.simulators.autotask import (
    API_RESOURCE_ID,
    TECHNICIAN_RESOURCE_ID,
    AutotaskSimSettings,
    AutotaskSimulator,
)
from app.simulators.clock import ManualClock
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator

WAIT = 5.0
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
AT_HEADERS = {"ApiIntegrationCode": "DEMO", "UserName": "demo@example.com", "Secret": "demo"}
SECRET = "s3cr3t-key-for-hmac"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Loopback HTTP server that records every POST; ``status_for(path, n)`` picks the answer."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.received: list[Received] = []
        self.status_for: Callable[[str, int], int] = lambda path, n: 200
        self.gate: threading.Event | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.cond:
                    item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    receiver.received.append(item)
                    count = sum(1 for r in receiver.received if r.path == self.path)
                    receiver.cond.notify_all()
                if receiver.gate is not None:
                    receiver.gate.wait(WAIT)
                status = receiver.status_for(self.path, count)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def on(self, path: str) -> list[Received]:
        with self.cond:
            return [r for r in self.received if r.path == path]

    def wait_count(self, path: str, count: int, timeout: float = WAIT) -> list[Received]:
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.on(path)) >= count, timeout)
        got = self.on(path)
        assert ok, f"expected {count} deliveries on {path}, got {len(got)}"
        return got

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.close()


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/gone"


# --- ServiceNow ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sn_server() -> Iterator[ServiceNowSimulator]:
    with ServiceNowSimulator(seed=3) as simulator:
        yield simulator


@pytest.fixture
def sn(sn_server: ServiceNowSimulator, receiver: Receiver) -> Iterator[ServiceNowSimulator]:
    sn_server.reset()
    sn_server.clock = ManualClock(T0)
    sn_server.settings = ServiceNowSimSettings(
        notify_url=f"{receiver.url}/sn", notify_retry_delay_seconds=0.01, notify_timeout_seconds=2
    )
    yield sn_server
    sn_server.notifications.clear()


def test_sn_notifications_are_off_by_default(sn: ServiceNowSimulator) -> None:
    sn.settings = ServiceNowSimSettings()
    sn.create_incident()
    assert sn.notifications.wait_idle(WAIT)
    assert sn.notification_attempts() == []


def test_sn_human_insert_and_update_send_id_only_notifications(
    sn: ServiceNowSimulator, receiver: Receiver
) -> None:
    record = sn.create_incident(short_description="Mail is down")
    sn.clock.advance(60)
    sn.update_incident(record["sys_id"], state="2")
    first, second = receiver.wait_count("/sn", 2)
    assert first.json() == {
        "table": "incident",
        "sys_id": record["sys_id"],
        "number": record["number"],
        "sys_updated_on": "2026-01-05 09:00:00",
        "sys_mod_count": "0",
    }
    assert second.json()["sys_mod_count"] == "1"
    assert second.json()["sys_updated_on"] == "2026-01-05 09:01:00"
    assert first.headers["user-agent"] == "ServiceNow/1.0"
    assert first.headers["content-type"] == "application/json"
    assert sn.notifications.wait_idle(WAIT)
    attempts = sn.notification_attempts()
    assert [(a.url, a.status, a.error) for a in attempts] == [(f"{receiver.url}/sn", 200, None)] * 2
    assert json.loads(attempts[0].body) == first.json()


def test_sn_integration_user_writes_do_not_notify(sn: ServiceNowSimulator, receiver: Receiver) -> None:
    auth = (sn.settings.username, sn.settings.password)
    with httpx.Client(base_url=sn.base_url, auth=auth, timeout=5) as client:
        created = client.post("/api/now/table/incident", json={"short_description": "from the app"})
        assert created.status_code == 201
        sys_id = created.json()["result"]["sys_id"]
        assert client.patch(f"/api/now/table/incident/{sys_id}", json={"urgency": "1"}).status_code == 200
    sn.update_incident(sys_id, state="2")  # a human edit: the only one that notifies
    # Deliveries are in order, so an echo of the API writes would have arrived first.
    (only,) = receiver.wait_count("/sn", 1)
    assert only.json()["sys_mod_count"] == "2"
    assert sn.notifications.wait_idle(WAIT)
    assert len(receiver.on("/sn")) == 1


def test_sn_notification_never_blocks_the_write(sn: ServiceNowSimulator, receiver: Receiver) -> None:
    receiver.gate = threading.Event()
    started = time.monotonic()
    sn.create_incident()
    sn.create_incident()
    assert time.monotonic() - started < 1.0
    receiver.wait_count("/sn", 1)
    receiver.gate.set()
    receiver.wait_count("/sn", 2)


def test_sn_failed_notification_is_retried_then_succeeds(sn: ServiceNowSimulator, receiver: Receiver) -> None:
    receiver.status_for = lambda path, n: 503 if n < 3 else 200
    sn.create_incident()
    receiver.wait_count("/sn", 3)
    assert sn.notifications.wait_idle(WAIT)
    assert [a.status for a in sn.notification_attempts()] == [503, 503, 200]
    assert sn.notifications.dropped() == []


def test_sn_notification_is_dropped_after_bounded_retries(
    sn: ServiceNowSimulator, receiver: Receiver
) -> None:
    receiver.status_for = lambda path, n: 500
    sn.create_incident()
    assert sn.notifications.wait_for(lambda: len(sn.notifications.dropped()) == 1, WAIT)
    attempts = sn.notification_attempts()
    assert [(a.attempt, a.status) for a in attempts] == [(1, 500), (2, 500), (3, 500)]
    assert len(receiver.on("/sn")) == 3


def test_sn_unreachable_receiver_records_errors(sn: ServiceNowSimulator) -> None:
    sn.settings.notify_url = closed_port_url()
    sn.settings.notify_max_attempts = 2
    sn.create_incident()
    assert sn.notifications.wait_for(lambda: len(sn.notifications.dropped()) == 1, WAIT)
    attempts = sn.notification_attempts()
    assert len(attempts) == 2
    assert all(a.status is None and a.error for a in attempts)


# --- Autotask --------------------------------------------------------------------------------------


def fast_settings(**extra: Any) -> AutotaskSimSettings:
    defaults: dict[str, Any] = {
        "webhook_timeout_seconds": 2.0,
        "webhook_retry_delay_seconds": 0.01,
        "webhook_max_attempts": 2,
    }
    defaults.update(extra)
    return AutotaskSimSettings(**defaults)


@pytest.fixture(scope="module")
def at_server() -> Iterator[AutotaskSimulator]:
    with AutotaskSimulator(clock=ManualClock(T0)) as simulator:
        yield simulator


@pytest.fixture
def at(at_server: AutotaskSimulator) -> Iterator[AutotaskSimulator]:
    at_server.reset(fast_settings())
    yield at_server
    at_server.webhook_deliveries.clear()


@pytest.fixture
def api(at: AutotaskSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{at.rest_base}/v1.0", headers=AT_HEADERS, timeout=10) as client:
        yield client


def webhook_body(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "IsActive": True,
        "Name": "Triage Sync",
        "WebhookUrl": f"{receiver.url}/hook",
        "DeactivationUrl": f"{receiver.url}/deactivated",
        "SecretKey": SECRET,
        "IsSubscribedToCreateEvents": True,
        "IsSubscribedToUpdateEvents": True,
        "IsSubscribedToDeleteEvents": False,
        "SendThresholdExceededNotification": False,
    }
    body.update(extra)
    return body


def make_webhook(
    api: httpx.Client,
    receiver: Receiver,
    subscribed: tuple[str, ...] = ("status",),
    always: tuple[str, ...] = ("externalID",),
    **extra: Any,
) -> int:
    response = api.post("/TicketWebhooks", json=webhook_body(receiver, **extra))
    assert response.status_code == 200, response.text
    webhook_id = int(response.json()["itemId"])
    for name in subscribed:
        added = api.post(
            f"/TicketWebhooks/{webhook_id}/Fields",
            json={"FieldID": name, "IsSubscribedField": True, "IsDisplayAlwaysField": False},
        )
        assert added.status_code == 200, added.text
    for name in always:
        added = api.post(
            f"/TicketWebhooks/{webhook_id}/Fields",
            json={"FieldID": name, "IsSubscribedField": False, "IsDisplayAlwaysField": True},
        )
        assert added.status_code == 200, added.text
    return webhook_id


def verify(received: Received, secret: str = SECRET) -> None:
    digest = hmac.new(secret.encode(), received.body, hashlib.sha1).digest()
    assert received.headers["x-hook-signature"] == "sha1=" + base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Name": None}, "Null values"),
        ({"SecretKey": "k" * 65}, "secretKey exceeds the maximum length of 64"),
        ({"IsActive": "yes"}, "System.Boolean"),
        ({"WebhookUrl": "ftp://example"}, "webhookUrl must be an absolute http"),
    ],
)
def test_at_webhook_creation_validation_is_http_500(
    api: httpx.Client, receiver: Receiver, change: dict[str, Any], message: str
) -> None:
    body = webhook_body(receiver, **change)
    response = api.post("/TicketWebhooks", json=body)
    assert response.status_code == 500
    assert set(response.json()) == {"errors"}
    assert message in response.json()["errors"][0]


def test_at_webhook_creation_requires_fields(api: httpx.Client, receiver: Receiver) -> None:
    body = webhook_body(receiver)
    del body["DeactivationUrl"]
    response = api.post("/TicketWebhooks", json=body)
    assert response.status_code == 500
    assert response.json() == {"errors": ["deactivationUrl is required.; on record number [0]."]}


def test_at_webhook_children_and_readiness(api: httpx.Client, receiver: Receiver) -> None:
    webhook_id = make_webhook(api, receiver, subscribed=(), always=())
    item = api.get(f"/TicketWebhooks/{webhook_id}").json()["item"]
    assert item["isReady"] is False and item["isActive"] is True
    assert "secretKey" not in item and item["webhookGUID"]
    bad = api.post(f"/TicketWebhooks/{webhook_id}/Fields", json={"FieldID": "noSuchField"})
    assert bad.status_code == 500 and "errors" in bad.json()
    missing = api.post(f"/TicketWebhooks/{webhook_id}/ExcludedResources", json={})
    assert missing.status_code == 500 and "ResourceID is required" in missing.json()["errors"][0]
    unknown = api.post("/TicketWebhooks/999/Fields", json={"FieldID": "status"})
    assert unknown.status_code == 500
    ok = api.post(
        f"/TicketWebhooks/{webhook_id}/Fields", json={"FieldID": "status", "IsSubscribedField": True}
    )
    assert ok.status_code == 200 and "itemId" in ok.json()
    assert api.get(f"/TicketWebhooks/{webhook_id}").json()["item"]["isReady"] is True
    listed = api.post("/TicketWebhooks/query", json={"filter": [{"op": "exist", "field": "id"}]}).json()
    assert [w["id"] for w in listed["items"]] == [webhook_id]


def test_at_update_delivery_is_signed_and_carries_subscribed_fields(
    at: AutotaskSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    ticket_id = at.add_ticket(externalID="INC0010001")
    webhook_id = make_webhook(api, receiver)
    guid = api.get(f"/TicketWebhooks/{webhook_id}").json()["item"]["webhookGUID"]
    at.technician_update(ticket_id, title="Renamed")  # title is not subscribed: no event
    at.technician_update(ticket_id, status="In Progress")
    (delivery,) = receiver.wait_count("/hook", 1)
    verify(delivery)
    # Autotask signs the .NET-escaped serialization (api-contracts.md 2.5); plain ASCII is unchanged.
    assert delivery.headers["x-hook-signature"] == hook_signature(
        SECRET, dotnet_escaped(delivery.body) or b""
    )
    payload = delivery.json()
    assert payload == {
        "Action": "Update",
        "Guid": guid,
        "EntityType": "Ticket",
        "Id": ticket_id,
        "Fields": {"status": 8, "externalID": "INC0010001"},
        "EventTime": "2026-01-05T09:00:00.000Z",
        "SequenceNumber": 1,
        "PersonID": TECHNICIAN_RESOURCE_ID,
    }
    assert at.webhook_deliveries.wait_idle(WAIT)
    assert len(receiver.on("/hook")) == 1


def test_at_api_create_fires_with_the_api_resource(
    at: AutotaskSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    make_webhook(api, receiver, subscribed=("status", "title"), always=())
    body = {
        "title": "Printer on fire",
        "companyID": 174,
        "status": 1,
        "priority": 2,
        "queueID": 29683482,
        "dueDateTime": "2026-01-06T09:00:00.000Z",
    }
    ticket_id = api.post("/Tickets", json=body).json()["itemId"]
    (delivery,) = receiver.wait_count("/hook", 1)
    verify(delivery)
    payload = delivery.json()
    assert payload["Action"] == "Create" and payload["Id"] == ticket_id
    assert payload["PersonID"] == API_RESOURCE_ID
    assert payload["Fields"] == {"status": 1, "title": "Printer on fire"}


def test_at_excluded_resource_does_not_fire(
    at: AutotaskSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    ticket_id = at.add_ticket()
    webhook_id = make_webhook(api, receiver)
    excluded = api.post(
        f"/TicketWebhooks/{webhook_id}/ExcludedResources", json={"ResourceID": API_RESOURCE_ID}
    )
    assert excluded.status_code == 200
    assert api.patch("/Tickets", json={"id": ticket_id, "status": 8}).status_code == 200  # our own echo
    at.technician_update(ticket_id, status="Complete")
    (delivery,) = receiver.wait_count("/hook", 1)
    assert delivery.json()["PersonID"] == TECHNICIAN_RESOURCE_ID
    assert delivery.json()["Fields"]["status"] == 5
    assert at.webhook_deliveries.wait_idle(WAIT)
    assert len(receiver.on("/hook")) == 1


def test_at_webhook_deactivates_after_consecutive_failures(
    at: AutotaskSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    at.settings.webhook_deactivate_after_failures = 3
    receiver.status_for = lambda path, n: 500 if path == "/hook" else 200
    ticket_id = at.add_ticket()
    webhook_id = make_webhook(api, receiver)
    for status in ("In Progress", "Escalate", "Scheduled"):
        at.technician_update(ticket_id, status=status)
    (deactivated,) = receiver.wait_count("/deactivated", 1)
    verify(deactivated)
    payload = deactivated.json()
    assert payload["Action"] == "Deactivated" and payload["Id"] == webhook_id
    assert len(receiver.on("/hook")) == 6  # 3 deliveries x 2 attempts, then dropped
    assert len(at.webhook_deliveries.dropped()) == 3
    assert api.get(f"/TicketWebhooks/{webhook_id}").json()["item"]["isActive"] is False
    at.technician_update(ticket_id, status="New")  # inactive: nothing more is sent
    assert at.webhook_deliveries.wait_idle(WAIT)
    assert len(receiver.on("/hook")) == 6


def test_at_success_resets_the_failure_count(
    at: AutotaskSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    at.settings.webhook_deactivate_after_failures = 2
    at.settings.webhook_max_attempts = 1
    outcomes = iter([500, 200, 500, 200])
    receiver.status_for = lambda path, n: next(outcomes)
    ticket_id = at.add_ticket()
    webhook_id = make_webhook(api, receiver)
    for status in ("In Progress", "Escalate", "Scheduled", "New"):
        at.technician_update(ticket_id, status=status)
    receiver.wait_count("/hook", 4)
    assert at.webhook_deliveries.wait_idle(WAIT)
    hook = at.webhook(webhook_id)
    assert hook is not None and hook.is_active and hook.consecutive_failures == 0
    assert [json.loads(r.body)["SequenceNumber"] for r in receiver.on("/hook")] == [1, 2, 3, 4]


def test_at_stop_does_not_wait_for_a_pending_retry(receiver: Receiver) -> None:
    receiver.status_for = lambda path, n: 500
    simulator = AutotaskSimulator(settings=AutotaskSimSettings(webhook_retry_delay_seconds=30))
    simulator.start()
    try:
        with httpx.Client(base_url=f"{simulator.rest_base}/v1.0", headers=AT_HEADERS, timeout=10) as client:
            make_webhook(client, receiver)
        simulator.technician_update(simulator.add_ticket(), status="In Progress")
        receiver.wait_count("/hook", 1)
        assert simulator.webhook_deliveries.wait_for(lambda: len(simulator.webhook_attempts()) == 1, WAIT)
    finally:
        started = time.monotonic()
        simulator.stop()
        assert time.monotonic() - started < 3
    assert len(receiver.on("/hook")) == 1


def test_at_delivery_goes_out_raw_and_is_signed_escaped(
    at: AutotaskSimulator, api: httpx.Client, receiver: Receiver
) -> None:
    ticket_id = at.add_ticket(externalID="INC0010002", title="Café & +1")
    make_webhook(api, receiver)
    hook_id = api.post("/TicketWebhooks/query", json={"filter": [{"op": "exist", "field": "id"}]}).json()
    webhook_id = hook_id["items"][0]["id"]
    api.post(
        f"/TicketWebhooks/{webhook_id}/Fields",
        json={"FieldID": "title", "IsSubscribedField": False, "IsDisplayAlwaysField": True},
    )
    at.technician_update(ticket_id, status="In Progress")
    (delivery,) = receiver.wait_count("/hook", 1)
    assert "Café & +1".encode() in delivery.body
    escaped = dotnet_escaped(delivery.body)
    assert escaped is not None and b"Caf\\u00E9 \\u0026 \\u002B1" in escaped
    assert delivery.headers["x-hook-signature"] == hook_signature(SECRET, escaped)
    assert delivery.headers["x-hook-signature"] != hook_signature(SECRET, delivery.body)
