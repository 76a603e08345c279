"""The store URL as typed in Settings: what is wrong with it, in words, and whose password it needs.

Pure string work (no database driver, no connection): the UI never talks SQL. The keyring account
must be the one ``app.store.connect.password_account`` looks up (``user@host``), so a password
saved here is the one the store finds (tests/ui/test_settings_store.py checks both agree).
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from app.config import check_store_url
from app.secrets import store_account

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
EXAMPLES = "sqlite:///path/to/file.sqlite3 or postgresql://user@host/database"


def _backend(url: str) -> str:
    return url.partition("://")[0].split("+", 1)[0].strip().lower()


def store_url_problem(text: str) -> str | None:
    """None when ``text`` can be saved as ``store.url`` (empty: the default SQLite file)."""
    text = text.strip()
    if not text:
        return None
    try:
        check_store_url(text)
    except ValueError:
        return (
            "Leave the password out of the URL (the file is no place for it): type it in "
            "“Database password” below, which keeps it in the OS keyring."
        )
    if "://" not in text:
        return f"This is not a database URL. Use {EXAMPLES}."
    backend = _backend(text)
    if backend not in SUPPORTED_BACKENDS:
        return f"“{backend}” databases are not supported. Use {EXAMPLES}."
    if backend == "sqlite" and not text.partition("://")[2].startswith("/"):
        return "A SQLite URL has three slashes before the file: sqlite:///path/to/file.sqlite3"
    return None


def store_password_account(text: str) -> str | None:
    """The keyring account (``user@host``) of a PostgreSQL URL that names a user, else None."""
    text = text.strip()
    if _backend(text) != "postgresql":
        return None
    netloc = urlsplit(text).netloc
    userinfo, at, host_port = netloc.rpartition("@")
    user = userinfo.partition(":")[0]  # a password typed into the URL is not part of the account
    if not at or not user:
        return None
    if host_port.startswith("["):  # an IPv6 literal
        host = host_port[1 : host_port.find("]")]
    else:
        host = host_port.partition(":")[0]
    return store_account(unquote(user), unquote(host) or "localhost")
