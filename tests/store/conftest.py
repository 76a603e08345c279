"""Store fixtures: a real database per test (SQLite file, and a PostgreSQL schema), a fixed clock,
an incident factory.

``db_url`` runs a test on both backends: the team store is PostgreSQL, the personal one SQLite, and
they share the migrations. ``sqlite_url`` is for what only SQLite has (files, pragmas, backups).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pg_harness import pg_schema_url
from store_helpers import IncidentFactory
from store_helpers import make_incident as _make_incident

from app.store import Store


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'triage-sync.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url
        return
    with pg_schema_url() as url:
        yield url


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
