"""Gaps an audit of the suite found: the auth pause lifts by itself after a 401 once its time is
up (no "Poll now" needed), and credentials are scrubbed by the log formatter (messages and
tracebacks) and by the Autotask client (an error body that echoes them)."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest
from proof_harness import AT_CODE, AT_SECRET, AT_USER, SN_PASSWORD, Harness

from app.connectors.autotask import AutotaskClient
from app.connectors.errors import ConnectorError
from app.connectors.retry import RetryPolicy
from app.engine.context import AUTH_PAUSE_SECONDS
from app.logging_setup import LineFormatter, register_secret
from app.secrets import Secret


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_auth_pause_retries_by_itself_after_a_401(harness: Harness) -> None:
    h = harness
    incident = h.incident()
    engine = h.engine(password="an-old-password")
    clock = FakeMonotonic()
    engine.ctx.monotonic = clock
    first = await engine.run_once()
    assert not first.ok and engine.health("servicenow").level == "auth_failed"
    assert engine.ctx.is_paused("servicenow")

    h.sn.settings.password = "an-old-password"  # the administrator fixes the account meanwhile
    h.sn.requests.clear()
    await engine.run_once()  # still within the pause: ServiceNow is left alone
    assert h.sn.requests.count() == 0

    clock.now += AUTH_PAUSE_SECONDS + 1  # the pause is over: the next cycle tries again on its own
    report = await engine.run_once()
    assert report.ok, (report.failures, report.undone)
    assert h.sn.requests.count() > 0
    assert engine.health("servicenow").level == "ok"
    assert engine.store.get_item(incident["sys_id"]) is not None  # queued now


def _record(message: str, error: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    return logging.LogRecord("app.test", logging.ERROR, __file__, 1, message, None, exc_info)


@pytest.mark.parametrize("tracebacks", [True, False])
def test_log_formatter_scrubs_messages_and_tracebacks(tracebacks: bool) -> None:
    for secret in (SN_PASSWORD, AT_SECRET, AT_CODE):
        register_secret(secret)
    try:
        raise RuntimeError(f"login as x with {SN_PASSWORD} failed; header Secret={AT_SECRET}")
    except RuntimeError as error:
        record = _record(f"call with ApiIntegrationCode {AT_CODE} and https://u:{SN_PASSWORD}@h/x", error)
    line = LineFormatter(tracebacks=tracebacks).format(record)
    for secret in (SN_PASSWORD, AT_SECRET, AT_CODE):
        assert secret not in line
    assert "********" in line and "RuntimeError" in line
    assert sys.exc_info() == (None, None, None)


async def test_autotask_client_scrubs_credentials_echoed_in_an_error() -> None:
    """Remote text is hostile: a proxy or API error that echoes our headers never reaches a message."""

    def echo(request: httpx.Request) -> httpx.Response:
        echoed = f"bad Secret {request.headers['Secret']} for code {request.headers['ApiIntegrationCode']}"
        return httpx.Response(500, json={"errors": [echoed]})

    client = AutotaskClient(
        username=AT_USER,
        integration_code=AT_CODE,
        secret=Secret(AT_SECRET),
        base_url="https://webservices5.autotask.net/atservicesrest",
        retry=RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.01),
        transport=httpx.MockTransport(echo),
    )
    try:
        with pytest.raises(ConnectorError) as raised:
            await client.create_ticket({"title": "x"})
    finally:
        await client.aclose()
    text = f"{raised.value} {raised.value!r} {json.dumps(raised.value.args)}"
    assert AT_SECRET not in text and AT_CODE not in text
    assert "bad Secret ***" in str(raised.value)
