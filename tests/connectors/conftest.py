"""A plain simulated tenant, reset for each test (test modules may define their own ``sim``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from live_autotask import CODE, SECRET, USER

from app.simulators.autotask import AutotaskSimSettings, AutotaskSimulator
from app.simulators.clock import ManualClock


@pytest.fixture(scope="module")
def running() -> Iterator[AutotaskSimulator]:
    with AutotaskSimulator(clock=ManualClock(datetime(2026, 1, 5, 9, tzinfo=UTC))) as simulator:
        yield simulator


@pytest.fixture
def sim(running: AutotaskSimulator) -> AutotaskSimulator:
    running.reset(AutotaskSimSettings(username=USER, integration_code=CODE, secret=SECRET))
    return running
