"""A throwaway PostgreSQL schema per test, on the server named by TRIAGE_SYNC_TEST_DATABASE_URL.

Default: ``postgresql://postgres@127.0.0.1:5432/postgres`` (trust auth, as `.ci/run` and the README
set up). Each test gets its own schema (cheaper than a database) through the connection's
``search_path``; it is dropped afterwards. Without a reachable server the PostgreSQL variants are
skipped locally with the reason, and fail under CI (CI=true), where `.ci/run` starts the server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    url = make_url(os.environ.get("TRIAGE_SYNC_TEST_DATABASE_URL", DEFAULT_URL))
    return url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def _unreachable(reason: str) -> None:
    message = (
        f"PostgreSQL is not reachable at {make_url(server_url()).render_as_string(hide_password=True)} "
        f"({reason}). Start it (README: 'Run the tests') or set TRIAGE_SYNC_TEST_DATABASE_URL."
    )
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def pg_schema_url() -> Iterator[str]:
    """A store URL whose default schema is a fresh, empty schema; dropped on exit."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # any connection failure means "no server here"
        admin.dispose()
        _unreachable(type(exc).__name__)
    base = make_url(server_url())
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def backend_store_url(backend: str, sqlite_file: Path) -> Iterator[str]:
    """A store URL on ``backend`` ("sqlite": a file at ``sqlite_file``; "postgresql": a fresh
    schema, dropped on exit), for fixtures parametrised over both."""
    if backend == "sqlite":
        yield f"sqlite:///{sqlite_file}"
        return
    with pg_schema_url() as url:
        yield url


__all__ = ["DEFAULT_URL", "backend_store_url", "pg_schema_url", "server_url"]
