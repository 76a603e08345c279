"""A hostile or broken server cannot exhaust memory, hang a call, crash the parser or park us for
years: response bodies are capped, every call has an overall deadline (not only a per-read
timeout), deeply nested JSON is a connector error, and Retry-After is clamped."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from app.connectors.autotask import AutotaskClient
from app.connectors.errors import ConnectorError, RateLimited, Transient, UnexpectedResponse
from app.connectors.retry import MAX_RETRY_AFTER, RetryPolicy, sane_retry_after
from app.connectors.servicenow import ServiceNowClient
from app.secrets import Secret
from app.simulators.autotask import AutotaskSimSettings, AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator

ONE_TRY = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.05)
AT = AutotaskSimSettings(username="api@example.com", integration_code="CODE-1", secret="at-secret-1")
SYS_ID = "0" * 32


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServiceNowSimulator, AutotaskSimulator]]:
    with ServiceNowSimulator(seed=5) as sn, AutotaskSimulator(seed=5, settings=AT) as at:
        yield sn, at


@pytest.fixture
def sn(servers: tuple[ServiceNowSimulator, AutotaskSimulator]) -> ServiceNowSimulator:
    servers[0].reset()
    servers[0].settings = ServiceNowSimSettings()
    return servers[0]


@pytest.fixture
def at(servers: tuple[ServiceNowSimulator, AutotaskSimulator]) -> AutotaskSimulator:
    servers[1].reset(replace(AT))
    return servers[1]


def sn_client(sim: ServiceNowSimulator, **options: Any) -> ServiceNowClient:
    return ServiceNowClient(
        base_url=sim.base_url, username="demo.integration", password=Secret("demo"), retry=ONE_TRY, **options
    )


def at_client(sim: AutotaskSimulator, **options: Any) -> AutotaskClient:
    return AutotaskClient(
        username=AT.username,
        integration_code=AT.integration_code,
        secret=Secret(AT.secret),
        base_url=sim.rest_base,
        retry=ONE_TRY,
        **options,
    )


async def test_servicenow_huge_body_is_cut_off(sn: ServiceNowSimulator) -> None:
    sn.faults.inject("huge_body", method="GET", path="/table/incident", size=8 * 1024 * 1024)
    async with sn_client(sn, max_response_bytes=1024 * 1024) as client:
        with pytest.raises(Transient) as exc:
            await client.get_incident(SYS_ID)
    assert "ResponseTooLarge" in str(exc.value)


async def test_autotask_huge_body_is_cut_off(at: AutotaskSimulator) -> None:
    at.faults.inject("huge_body", method="GET", path="/Tickets/", size=8 * 1024 * 1024)
    async with at_client(at, max_response_bytes=1024 * 1024) as client:
        with pytest.raises(Transient) as exc:
            await client.get_ticket(1)
    assert "ResponseTooLarge" in str(exc.value)


async def test_servicenow_drip_hits_the_overall_deadline(sn: ServiceNowSimulator) -> None:
    sn.faults.inject("drip", method="GET", path="/table/incident", size=100_000, seconds=0.02)
    async with sn_client(sn, timeout=5, deadline=0.5) as client:
        with pytest.raises(Transient) as exc:
            await client.get_incident(SYS_ID)
    assert "DeadlineExceeded" in str(exc.value)


async def test_autotask_drip_hits_the_overall_deadline(at: AutotaskSimulator) -> None:
    at.faults.inject("drip", method="GET", path="/Tickets/", size=100_000, seconds=0.02)
    async with at_client(at, timeout=5, deadline=0.5) as client:
        with pytest.raises(Transient) as exc:
            await client.get_ticket(1)
    assert "DeadlineExceeded" in str(exc.value)


async def test_servicenow_deep_json_is_a_connector_error(sn: ServiceNowSimulator) -> None:
    incident = sn.create_incident(short_description="x")
    sn.faults.inject("deep_json", method="GET", path="/table/incident")
    async with sn_client(sn) as client:
        with pytest.raises(UnexpectedResponse):
            await client.get_incident(incident["sys_id"])


async def test_autotask_deep_json_is_a_connector_error(at: AutotaskSimulator) -> None:
    ticket_id = at.add_ticket(title="x")
    at.faults.inject("deep_json", method="GET", path="/Tickets/")
    async with at_client(at) as client:
        with pytest.raises(ConnectorError) as exc:
            await client.get_ticket(ticket_id)
    assert isinstance(exc.value, UnexpectedResponse)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, None),
        (-5.0, 0.0),
        (30.0, 30.0),
        (10.0**9, MAX_RETRY_AFTER),
        (math.inf, MAX_RETRY_AFTER),
        (math.nan, None),
    ],
)
def test_retry_after_is_clamped(given: float | None, expected: float | None) -> None:
    assert sane_retry_after(given, "autotask", str(given)) == expected


async def test_absurd_retry_after_from_either_server_is_clamped(
    sn: ServiceNowSimulator, at: AutotaskSimulator
) -> None:
    sn.faults.inject("status", method="GET", path="/table/incident", status=429, retry_after=10**9)
    at.faults.inject("status", method="GET", path="/Tickets/", status=429, retry_after=10**9)
    async with sn_client(sn) as snc, at_client(at) as atc:
        with pytest.raises(RateLimited) as sn_exc:
            await snc.get_incident(SYS_ID)
        with pytest.raises(RateLimited) as at_exc:
            await atc.get_ticket(1)
    assert sn_exc.value.retry_after == MAX_RETRY_AFTER
    assert at_exc.value.retry_after == MAX_RETRY_AFTER
