"""The request budget on a busy tenant: the reading decays as the hour rolls on, pacing is smooth
and bounded, the threshold read is never blocked, and a reading can start from the store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from live_autotask import CODE, SECRET, USER

from app.connectors.autotask import AutotaskClient
from app.connectors.budget import (
    HIGH_USAGE,
    RECHECK_HIGH_SECONDS,
    TENANT_RECHECK_SECONDS,
    RequestBudget,
)
from app.connectors.errors import RateLimited
from app.connectors.retry import RetryPolicy
from app.secrets import Secret
from app.simulators.autotask import AutotaskSimulator

LIMIT = 10000


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reading(count: int) -> dict[str, int]:
    return {"externalRequestThreshold": LIMIT, "currentTimeframeRequestCount": count}


def test_the_tenant_reading_falls_as_the_hour_rolls_on() -> None:
    clock = FakeClock()
    budget = RequestBudget(LIMIT, 0.5, clock=clock)
    budget.update_from_threshold(reading(9600))
    assert budget.state().tenant_count == 9600
    clock.now += 1800
    state = budget.state()
    assert state.tenant_count is not None and 4790 <= state.tenant_count <= 4810
    clock.now += 1800
    assert budget.state().tenant_count == 0
    assert budget.delay() == 0.0


def test_a_high_reading_does_not_lock_out_for_the_hour() -> None:
    """Above ~98 % the old budget refused every call until its stale reading expired."""
    clock = FakeClock()
    budget = RequestBudget(LIMIT, 1.0, clock=clock)
    budget.update_from_threshold(reading(9950))
    assert budget.delay() == 0.0  # nothing sent yet: the first request may go
    budget.record()
    assert budget.delay() > 15  # paced hard: too long to wait inside one call
    clock.now += 15 * 60
    assert budget.delay() == 0.0  # a quarter of the hour later, a quarter of the reading has left
    budget.record()
    assert 0 < budget.delay() < 1.0  # still paced, gently


def test_pacing_is_smooth_and_never_slower_than_the_rest_of_the_hour_allows() -> None:
    clock = FakeClock()
    delays = []
    for count in range(4000, 9990, 250):
        budget = RequestBudget(LIMIT, 1.0, clock=clock)
        budget.update_from_threshold(reading(count))
        budget.record()  # the spacing counts from our last request
        delay = budget.delay()
        remaining = LIMIT - count - 1
        assert delay <= 3600 / remaining + 1e-9  # the remaining requests fit in the rest of the hour
        delays.append(delay)
    assert delays[0] == 0.0  # below half the threshold: no delay at all
    assert all(later >= earlier for earlier, later in zip(delays, delays[1:], strict=False))


def test_at_the_threshold_wait_then_look_again() -> None:
    clock = FakeClock()
    budget = RequestBudget(LIMIT, 1.0, clock=clock)
    budget.update_from_threshold(reading(LIMIT))
    assert budget.delay() == pytest.approx(TENANT_RECHECK_SECONDS)
    clock.now += 600
    assert budget.delay() < TENANT_RECHECK_SECONDS


def test_recheck_interval_follows_the_reading() -> None:
    clock = FakeClock()
    budget = RequestBudget(LIMIT, 0.5, clock=clock)
    assert budget.threshold_due()  # never read
    budget.update_from_threshold(reading(int(LIMIT * HIGH_USAGE) + 100))
    assert not budget.threshold_due()
    clock.now += RECHECK_HIGH_SECONDS + 1
    assert budget.threshold_due()  # high: about every minute
    budget.update_from_threshold(reading(100))
    clock.now += RECHECK_HIGH_SECONDS + 1
    assert not budget.threshold_due()  # low: much less often


def test_a_stored_reading_keeps_its_age() -> None:
    clock = FakeClock()
    budget = RequestBudget(LIMIT, 0.5, clock=clock)
    budget.update_from_threshold(reading(9600), age=1800)
    state = budget.state()
    assert state.tenant_count is not None and 4790 <= state.tenant_count <= 4810
    assert state.reading_age == pytest.approx(1800)


@pytest.fixture
async def paced(sim: AutotaskSimulator) -> AsyncIterator[AutotaskClient]:
    budget = RequestBudget(LIMIT, 1.0, clock=FakeClock())
    budget.update_from_threshold(reading(LIMIT))  # our last reading: the tenant is full
    retry = RetryPolicy(attempts=1, max_inline_wait=5)
    async with AutotaskClient(
        username=USER,
        integration_code=CODE,
        secret=Secret(SECRET),
        base_url=sim.rest_base,
        retry=retry,
        budget=budget,
    ) as at:
        yield at


async def test_the_threshold_read_is_never_blocked_by_the_budget(
    sim: AutotaskSimulator, paced: AutotaskClient
) -> None:
    with pytest.raises(RateLimited):
        await paced.get_ticket(1)  # paced locally: nothing sent
    assert sim.requests.count("GET", "/Tickets/1") == 0
    info = await paced.threshold()  # the one call that tells us the tenant has room again
    assert info["currentTimeframeRequestCount"] == 1
    assert paced.budget is not None and paced.budget.delay() == 0.0
    assert await paced.get_ticket(1) is None
