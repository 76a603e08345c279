"""Reaching a server store: the password from the keyring/environment, and plain words on failure.

The configuration file never holds the database password (app.config refuses one in store.url).
``postgresql://triage@db.example/triage`` gets its password here, from ``TRIAGE_SYNC_DB_PASSWORD``
(or the systemd credential of that name), else the OS keyring entry for ``triage@db.example``.
With neither, libpq's own sources still apply (``PGPASSWORD``, ``~/.pgpass``, trust or certificate
authentication). TLS options in the query (``sslmode``, ``sslrootcert``, ...) go to libpq as given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from app.secrets import ENV_VARS, get_secret, remember, store_account
from app.store.errors import StoreUnavailable

#: Seconds libpq waits for a server that does not answer (its own default is to wait for TCP).
DEFAULT_CONNECT_TIMEOUT = "10"
PASSWORD_VARIABLE = ENV_VARS["store_password"]


def password_account(url: URL) -> str | None:
    """The keyring account holding this URL's password (``user@host``), or None (no user named)."""
    if not url.username:
        return None
    return store_account(url.username, url.host or "localhost")


def resolve_server_url(url: str | URL) -> URL:
    """A PostgreSQL URL ready for psycopg 3: driver named, password looked up, a connect timeout.

    Other URLs come back unchanged. A password already in the URL (tests, Alembic's own env) wins.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return parsed
    if parsed.drivername == "postgresql":
        # "postgresql://..." means psycopg 3, the driver the app ships (SQLAlchemy would pick psycopg2).
        parsed = parsed.set(drivername="postgresql+psycopg")
    account = password_account(parsed)
    if parsed.password is None and account is not None:
        secret = get_secret("store_password", account)
        if secret is not None:
            parsed = parsed.set(password=secret.reveal())
    elif parsed.password is not None:
        remember(str(parsed.password))
    if "connect_timeout" not in parsed.query:
        parsed = parsed.update_query_dict({"connect_timeout": DEFAULT_CONNECT_TIMEOUT})
    return parsed


@contextmanager
def server_errors(url: URL) -> Iterator[None]:
    """A PostgreSQL server that cannot be reached or refuses the login: StoreUnavailable, in words."""
    try:
        yield
    except OperationalError as exc:
        if url.get_backend_name() != "postgresql":
            raise
        raise StoreUnavailable(describe_connect_error(exc, url)) from None


def describe_connect_error(exc: DBAPIError, url: URL) -> str:
    """One line for an administrator: which server, what went wrong, what to do. No password."""
    shown = url.render_as_string(hide_password=True)
    detail = " ".join(str(exc.orig).split()) if exc.orig is not None else type(exc).__name__
    lowered = detail.lower()
    account = password_account(url) or "the database user"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        supplied = url.password is not None
        return (
            f"the database server at {shown} "
            f"{'refused the password' if supplied else 'asks for a password and none was found'} "
            f"for {account}. Set {PASSWORD_VARIABLE}, or save it in the OS keyring: "
            "triage-sync store password"
        )
    if "ssl" in lowered or "certificate" in lowered:
        return f"the TLS connection to {shown} failed ({detail}); check sslmode/sslrootcert in store.url"
    if "does not exist" in lowered and "database" in lowered:
        return f"the database in {shown} does not exist on that server ({detail})"
    host = url.host or "the local socket"
    port = url.port or 5432
    return f"cannot reach the database server {host}:{port} for {shown} ({detail})"


__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "PASSWORD_VARIABLE",
    "describe_connect_error",
    "password_account",
    "resolve_server_url",
    "server_errors",
]
