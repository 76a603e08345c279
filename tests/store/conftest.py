"""Store fixtures: a real SQLite file per test, a fixed clock, an incident factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from store_helpers import IncidentFactory
from store_helpers import make_incident as _make_incident

from app.store import Store


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'triage-sync.sqlite3'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store.open(db_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def make_incident() -> IncidentFactory:
    return _make_incident
