from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from proof_harness import AT_CODE, AT_SECRET, AT_USER, SN_PASSWORD, SN_USER, Harness

from app.simulators.autotask import AutotaskSimSettings, AutotaskSimulator
from app.simulators.clock import SimClock
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator

SN_SETTINGS = ServiceNowSimSettings(username=SN_USER, password=SN_PASSWORD, acl_hidden_sys_ids=set())
AT_SETTINGS = AutotaskSimSettings(username=AT_USER, secret=AT_SECRET, integration_code=AT_CODE)


@pytest.fixture(scope="session")
def simulators() -> Iterator[tuple[ServiceNowSimulator, AutotaskSimulator]]:
    with (
        ServiceNowSimulator(seed=23, settings=replace(SN_SETTINGS, acl_hidden_sys_ids=set())) as sn,
        AutotaskSimulator(seed=23, settings=replace(AT_SETTINGS)) as at,
    ):
        yield sn, at


@pytest.fixture
async def harness(
    simulators: tuple[ServiceNowSimulator, AutotaskSimulator], tmp_path: Path
) -> AsyncIterator[Harness]:
    sn, at = simulators
    sn.reset()
    sn.settings = replace(SN_SETTINGS, acl_hidden_sys_ids=set())
    at.reset(replace(AT_SETTINGS))
    h = Harness(sn, at, tmp_path)
    yield h
    for engine in h.engines:
        await engine.close()


@pytest.fixture
def fresh_clocks(harness: Harness) -> Iterator[None]:
    """For tests that move the simulators' clocks: later tests get wall-clock ones back."""
    yield
    harness.sn.clock = SimClock()
    harness.at.clock = SimClock()
