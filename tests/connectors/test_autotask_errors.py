"""A 500 is not always a verdict: each class of Autotask error message, in one table and live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from live_autotask import CODE, SECRET, USER
from test_autotask_client import NEW_TICKET

from app.connectors.autotask import AutotaskClient
from app.connectors.autotask_errors import classify, refers_to_stale_value
from app.connectors.errors import AuthFailed, RateLimited, Rejected, Transient
from app.connectors.retry import RetryPolicy
from app.secrets import Secret
from app.simulators.autotask import SERVER_ERRORS, AutotaskSimulator

ONE_TRY = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.05)
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("IntegrationCode is invalid.", "credentials"),
        ("Zone information could not be determined for this user.", "credentials"),
        (SERVER_ERRORS["deadlock"], "transient"),
        (SERVER_ERRORS["sql_timeout"], "transient"),
        (SERVER_ERRORS["try_again"], "transient"),
        (SERVER_ERRORS["thread_threshold"], "transient"),
        (
            "The request threshold of 10000 requests per hour has been exceeded. Try again later.",
            "rate_limit",
        ),
        ("dueDateTime is required.; on record number [0].", "validation"),
        ("Value does not reference an existing entity for taskType . ", "validation"),
        ("The logged in Resource does not have the adequate permissions", "validation"),
    ],
)
def test_every_message_class(message: str, kind: str) -> None:
    assert classify([message]).kind == kind
    assert classify([message.upper()]).kind == kind  # case-blind


def test_only_a_timeout_may_have_landed() -> None:
    assert classify([SERVER_ERRORS["sql_timeout"]]).may_have_landed
    assert not classify([SERVER_ERRORS["deadlock"]]).may_have_landed


def test_stale_value_messages() -> None:
    assert refers_to_stale_value("Value does not reference an existing entity for queueID . ")
    assert refers_to_stale_value("Value 29683499 does not exist in the picklist for queueID.")
    assert not refers_to_stale_value("title is required.")


@pytest.fixture
async def client(sim: AutotaskSimulator) -> AsyncIterator[AutotaskClient]:
    async with AutotaskClient(
        username=USER, integration_code=CODE, secret=Secret(SECRET), base_url=sim.rest_base, retry=ONE_TRY
    ) as at:
        yield at


async def test_revoked_integration_code_is_a_credentials_failure(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    sim.settings.integration_code = "REVOKED"
    with pytest.raises(AuthFailed) as caught:
        await client.create_ticket(NEW_TICKET)
    assert caught.value.status == 500 and "IntegrationCode is invalid" in str(caught.value)
    assert CODE not in str(caught.value) and SECRET not in str(caught.value)
    assert sim.tickets() == []


async def test_unknown_user_is_a_credentials_failure(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    sim.settings.username = "renamed@example.com"
    with pytest.raises(AuthFailed, match="Zone information"):
        await client.get_ticket(1)


@pytest.mark.parametrize("kind", ["deadlock", "try_again", "thread_threshold"])
async def test_transient_500_on_create_is_retryable_and_not_landed(
    sim: AutotaskSimulator, client: AutotaskClient, kind: str
) -> None:
    sim.inject_server_error(kind, method="POST", path="/Tickets$")
    with pytest.raises(Transient) as caught:
        await client.create_ticket(NEW_TICKET)
    assert caught.value.retryable and not caught.value.outcome_unknown
    assert sim.tickets() == []


async def test_sql_timeout_on_create_may_have_landed(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    sim.inject_server_error("sql_timeout", method="POST", path="/Tickets$")
    with pytest.raises(Transient) as caught:
        await client.create_ticket(NEW_TICKET)
    assert caught.value.outcome_unknown  # the engine searches by externalID before creating again


async def test_transient_500_on_a_read_is_retried_inline(sim: AutotaskSimulator) -> None:
    sim.inject_server_error("deadlock", method="GET", path="/Tickets/")
    async with AutotaskClient(
        username=USER, integration_code=CODE, secret=Secret(SECRET), base_url=sim.rest_base, retry=FAST
    ) as at:
        assert await at.get_ticket(1) is None


async def test_thread_threshold_500_under_load_is_absorbed(sim: AutotaskSimulator) -> None:
    """Another integration's calls (or a second process of ours) fill the endpoint's threads."""
    sim.settings.thread_limit = 1
    sim.settings.latency = 0.02
    patient = RetryPolicy(attempts=12, base_delay=0.05, max_delay=0.2)
    async with AutotaskClient(
        username=USER, integration_code=CODE, secret=Secret(SECRET), base_url=sim.rest_base, retry=patient
    ) as at:
        results = await asyncio.gather(*(at.get_ticket(1) for _ in range(3)), return_exceptions=True)
    assert all(result is None for result in results), results


async def test_validation_500_stays_a_refusal(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    with pytest.raises(Rejected, match="dueDateTime is required"):
        await client.create_ticket({k: v for k, v in NEW_TICKET.items() if k != "dueDateTime"})


async def test_hourly_threshold_message_is_rate_limited(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    sim.settings.hourly_threshold = 1
    await client.get_ticket(1)
    with pytest.raises(RateLimited):
        await client.get_ticket(1)
