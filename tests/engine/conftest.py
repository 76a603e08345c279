from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from engine_harness import Harness, Shift
from webhook_helpers import SECRET, SN_SECRET

from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator


@pytest.fixture(scope="session")
def simulators() -> Iterator[tuple[ServiceNowSimulator, AutotaskSimulator]]:
    with ServiceNowSimulator(seed=11) as sn, AutotaskSimulator(seed=11) as at:
        yield sn, at


@pytest.fixture
async def harness(
    simulators: tuple[ServiceNowSimulator, AutotaskSimulator], tmp_path: Path
) -> AsyncIterator[Harness]:
    sn, at = simulators
    sn.reset()
    sn.settings = ServiceNowSimSettings()
    at.reset()
    h = Harness(sn, at, tmp_path)
    yield h
    for engine in h.engines:
        await engine.close()


@pytest.fixture
def shift(harness: Harness) -> Iterator[Shift]:
    """Move the Autotask simulator's clock (which an engine built on it also reads) forward; put it
    back afterwards: the simulators are shared by the whole session."""
    moved: list[float] = []

    def forward(seconds: float) -> None:
        harness.at.clock.advance(seconds)
        moved.append(seconds)

    yield forward
    harness.at.clock.advance(-sum(moved))


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """Both webhook secrets in the environment (as a headless service gets them)."""
    monkeypatch.setenv("AUTOTASK_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SERVICENOW_WEBHOOK_SECRET", SN_SECRET)
    return SECRET
