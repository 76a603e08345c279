"""Team mode fixtures: both simulators, and a store URL per backend (a SQLite file, a throwaway
PostgreSQL schema). Engines, desks and CLI commands in these tests share that one store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pg_harness import backend_store_url
from sim_harness import SimHarness

from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator


@pytest.fixture(scope="session")
def simulators() -> Iterator[tuple[ServiceNowSimulator, AutotaskSimulator]]:
    with ServiceNowSimulator(seed=13) as sn, AutotaskSimulator(seed=13) as at:
        yield sn, at


@pytest.fixture(params=["sqlite", "postgresql"])
def team_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with backend_store_url(request.param, tmp_path / "team.sqlite3") as url:
        yield url


@pytest.fixture
async def harness(
    simulators: tuple[ServiceNowSimulator, AutotaskSimulator], tmp_path: Path
) -> AsyncIterator[SimHarness]:
    sn, at = simulators
    sn.reset()
    sn.settings = ServiceNowSimSettings()
    at.reset()
    h = SimHarness(sn, at, tmp_path)
    yield h
    for engine in h.engines:
        await engine.close()
