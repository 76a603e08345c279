"""The team store on a PostgreSQL server: the password from the environment or the keyring (never
the file) reaches the driver, TLS options pass through, failures are one clear line without it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from memory_keyring import MemoryKeyring
from pg_harness import pg_schema_url, server_url
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.config import ConfigError, parse_config
from app.logging_setup import scrub
from app.store import SchemaBehind, Store, StoreUnavailable, resolve_server_url
from app.store.connect import describe_connect_error

PASSWORD = "db-pass-Z7q!x@y/%"  # characters a URL must escape: the driver must get them as they are


@pytest.fixture
def pg_role() -> Iterator[tuple[str, str]]:
    """A login role with a password, owning a fresh schema; (role, store URL without password)."""
    role = f"ts_team_{uuid.uuid4().hex[:10]}"
    with pg_schema_url() as admin_url:
        schema = make_url(admin_url).query["options"].removeprefix("-csearch_path=")
        admin = create_engine(server_url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                escaped = PASSWORD.replace("%", "%%")  # DDL takes no bound parameters
                conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN PASSWORD '{escaped}'")
                conn.execute(text(f'GRANT ALL ON SCHEMA "{schema}" TO {role}'))
            url = make_url(admin_url).set(username=role, password=None, drivername="postgresql")
            yield role, url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f"DROP OWNED BY {role}"))
                conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
            admin.dispose()


def _connect_params(store: Store) -> dict[str, Any]:
    """What the driver is handed on a new connection (the pool is emptied first)."""
    seen: dict[str, Any] = {}

    @event.listens_for(store.engine, "do_connect")
    def _capture(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        seen.update(cparams)

    store.engine.dispose()
    with store.engine.connect() as conn:
        seen["current_user"] = conn.execute(text("SELECT current_user")).scalar_one()
    return seen


def test_password_from_the_environment_reaches_the_driver_and_is_never_shown(
    pg_role: tuple[str, str], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    role, url = pg_role
    monkeypatch.setenv("TRIAGE_SYNC_DB_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    with Store.open(url) as store:
        params = _connect_params(store)
        assert params["password"] == PASSWORD
        assert params["user"] == role and params["current_user"] == role
        assert PASSWORD not in store.url and "***" in store.url
        assert PASSWORD not in repr(store.engine.url)
    assert PASSWORD not in caplog.text
    assert scrub(f"connect failed with {PASSWORD}") == "connect failed with ********"


def test_password_from_the_keyring_reaches_the_driver(
    pg_role: tuple[str, str], memory_keyring: MemoryKeyring
) -> None:
    role, url = pg_role
    memory_keyring.set_password("triage-sync", f"store_password:{role}@127.0.0.1", PASSWORD)
    with Store.open(url) as store:
        assert _connect_params(store)["password"] == PASSWORD


def test_no_password_anywhere_leaves_the_login_to_libpq(
    pg_role: tuple[str, str], memory_keyring: MemoryKeyring
) -> None:
    role, url = pg_role
    with Store.open(url) as store:  # this server trusts loopback; .pgpass or PGPASSWORD would apply
        params = _connect_params(store)
    assert "password" not in params and params["current_user"] == role


def test_tls_options_pass_through_and_a_connect_timeout_is_added(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("triage-sync", "store_password:triage@db.example", PASSWORD)
    url = resolve_server_url(
        "postgresql://triage@db.example/triage?sslmode=verify-full&sslrootcert=/etc/triage/ca.pem"
        "&sslcert=/etc/triage/c.pem&sslkey=/etc/triage/c.key"
    )
    assert url.drivername == "postgresql+psycopg" and url.password == PASSWORD
    assert dict(url.query) == {
        "sslmode": "verify-full",
        "sslrootcert": "/etc/triage/ca.pem",
        "sslcert": "/etc/triage/c.pem",
        "sslkey": "/etc/triage/c.key",
        "connect_timeout": "10",
    }
    assert resolve_server_url("postgresql://t@h/d?connect_timeout=3").query["connect_timeout"] == "3"
    assert resolve_server_url("sqlite:////tmp/x.sqlite3").query == {}


def test_tls_required_by_the_url_is_enforced_by_the_driver(pg_role: tuple[str, str]) -> None:
    """sslmode really reaches libpq: this test server has no TLS, so 'require' cannot connect."""
    _role, url = pg_role
    with pytest.raises(StoreUnavailable) as exc:
        Store.open(make_url(url).update_query_dict({"sslmode": "require"}))
    assert "TLS" in str(exc.value) and "sslmode" in str(exc.value)


def test_an_unreachable_server_is_one_line_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_SYNC_DB_PASSWORD", PASSWORD)
    with pytest.raises(StoreUnavailable) as exc:
        Store.open("postgresql://triage@127.0.0.1:1/triage")
    message = str(exc.value)
    assert message.startswith("cannot reach the database server 127.0.0.1:1 for ")
    assert "postgresql+psycopg://triage:***@127.0.0.1:1/triage" in message
    assert PASSWORD not in message and "\n" not in message


@pytest.mark.parametrize(
    ("server_says", "supplied", "expected"),
    [
        ('FATAL:  password authentication failed for user "triage"', True, "refused the password"),
        ("fe_sendauth: no password supplied", False, "asks for a password and none was found"),
    ],
)
def test_a_refused_login_says_where_the_password_goes(
    server_says: str, supplied: bool, expected: str
) -> None:
    url = make_url("postgresql+psycopg://triage@db.example/triage")
    if supplied:
        url = url.set(password=PASSWORD)
    error = OperationalError("connect", {}, psycopg.OperationalError(server_says))
    message = describe_connect_error(error, url)
    assert expected in message and "triage@db.example" in message
    assert "TRIAGE_SYNC_DB_PASSWORD" in message and "triage-sync store password" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://triage:hunter2hunter2@db.example/triage",
        "postgresql://triage@db.example/triage?password=hunter2hunter2&sslmode=require",
    ],
)
def test_a_password_in_the_file_is_refused_with_where_it_goes(url: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"store": {"url": url}}, "config.toml")
    text_ = str(exc.value)
    assert "store.url: must not contain a password" in text_
    assert "TRIAGE_SYNC_DB_PASSWORD" in text_ and "triage-sync store password" in text_
    assert "hunter2hunter2" not in text_


def test_tls_options_in_the_file_are_accepted() -> None:
    url = "postgresql://triage@db.example/triage?sslmode=verify-full&sslrootcert=/etc/triage/ca.pem"
    assert parse_config({"store": {"url": url}}, "config.toml").store.url == url


def test_manual_migration_mode_never_changes_the_schema(db_url: str) -> None:
    with pytest.raises(SchemaBehind) as exc:
        Store.open(db_url, migrate_schema=False)
    assert "triage-sync store migrate" in str(exc.value)
    Store.open(db_url).close()  # an administrator migrates
    with Store.open(db_url, migrate_schema=False) as store:
        assert store.backup_path is None


def test_a_systemd_credential_supplies_the_password(
    memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "TRIAGE_SYNC_DB_PASSWORD").write_text(PASSWORD + "\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert resolve_server_url("postgresql://triage@db.example/triage").password == PASSWORD
