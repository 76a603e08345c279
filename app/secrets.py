"""Credentials: OS keyring first, environment variables for headless runs. Never files, never logs."""

from __future__ import annotations

import logging
import os
from typing import Literal

from app import APP_NAME

log = logging.getLogger(__name__)

SecretName = Literal[
    "servicenow_password",
    "servicenow_client_secret",
    "autotask_secret",
    "autotask_webhook_secret",
    "servicenow_webhook_secret",
    "store_password",
]

ENV_VARS: dict[SecretName, str] = {
    "servicenow_password": "SERVICENOW_PASSWORD",
    "servicenow_client_secret": "SERVICENOW_CLIENT_SECRET",
    "autotask_secret": "AUTOTASK_SECRET",
    "autotask_webhook_secret": "AUTOTASK_WEBHOOK_SECRET",
    "servicenow_webhook_secret": "SERVICENOW_WEBHOOK_SECRET",
    # The team store's database password (keyring user: "<db user>@<host>", see store_account).
    "store_password": "TRIAGE_SYNC_DB_PASSWORD",
}


# Every credential value read or saved in this process; the log scrubber masks each of them
# (app.logging_setup.scrub). Values shorter than MIN_SCRUB_LENGTH are not searched for: masking a
# short word everywhere (the demo's "demo") would garble ordinary text.
MIN_SCRUB_LENGTH = 8
_known_values: set[str] = set()


def remember(value: str | None) -> None:
    """Register a credential value so every log line and printed line masks it."""
    if value and len(value) >= MIN_SCRUB_LENGTH:
        _known_values.add(value)


def known_values() -> frozenset[str]:
    return frozenset(_known_values)


class Secret:
    """A credential whose repr never shows the value (safe in logs and tracebacks).

    Not a dataclass on purpose: ``dataclasses.asdict`` of a record holding one keeps the masked
    object instead of a ``{"value": ...}`` dict, and ``json.dumps`` refuses it (TypeError) rather
    than writing the value out.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def reveal(self) -> str:
        return self._value


def store_account(user: str, host: str) -> str:
    """The keyring account of a store password: the database user at its server."""
    return f"{user}@{host}"


def _keyring_user(name: SecretName, username: str) -> str:
    return f"{name}:{username}"


def _credential_file(name: SecretName) -> str | None:
    """A systemd credential (``LoadCredential=<ENV VAR NAME>:...``): $CREDENTIALS_DIRECTORY/<NAME>."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY", "").strip()
    if not directory:
        return None
    try:
        with open(os.path.join(directory, ENV_VARS[name]), encoding="utf-8") as handle:
            value = handle.read().rstrip("\r\n")
    except OSError:
        return None
    return value or None


# Secrets typed for this session only (no usable OS keyring): process memory, gone at exit.
_session: dict[tuple[SecretName, str], str] = {}


def set_session_secret(name: SecretName, username: str, value: str) -> None:
    """Keep a secret in memory for this process only (when the OS keyring is missing)."""
    _session[(name, username)] = value


def clear_session_secrets() -> None:
    _session.clear()


def keyring_problem() -> str | None:
    """None when an OS keyring can store secrets; else a plain sentence saying what is missing."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring installation is the same problem for the user
        return f"The keyring library could not start ({type(exc).__name__})."
    chained = getattr(backend, "backends", None)
    if isinstance(backend, fail.Keyring) or (chained is not None and not chained):
        return (
            "This computer has no password store (Secret Service keyring) that Triage Sync can use, "
            "so secrets cannot be saved."
        )
    return None


def get_secret(name: SecretName, username: str) -> Secret | None:
    """Environment wins (explicit for headless runs), then a systemd credential, then this
    session's secrets (no usable keyring), then the OS keyring; None when none has it. Whatever
    is found is registered with the log scrubber."""
    from_env = os.environ.get(ENV_VARS[name]) or _credential_file(name)
    if from_env:
        remember(from_env)
        return Secret(from_env)
    from_session = _session.get((name, username))
    if from_session:
        remember(from_session)
        return Secret(from_session)
    try:
        import keyring
        import keyring.errors

        stored = keyring.get_password(APP_NAME, _keyring_user(name, username))
    except Exception as exc:  # keyring backends raise many kinds; a missing keyring is not fatal
        # The store password is optional (libpq's ~/.pgpass, trust or certificate logins): no warning.
        level = logging.DEBUG if name == "store_password" else logging.WARNING
        log.log(level, "OS keyring unavailable (%s); set %s instead", type(exc).__name__, ENV_VARS[name])
        return None
    remember(stored)
    return Secret(stored) if stored else None


def set_secret(name: SecretName, username: str, value: str) -> None:
    import keyring

    remember(value)
    keyring.set_password(APP_NAME, _keyring_user(name, username), value)


def delete_secret(name: SecretName, username: str) -> None:
    import keyring
    import keyring.errors

    try:
        keyring.delete_password(APP_NAME, _keyring_user(name, username))
    except keyring.errors.PasswordDeleteError:
        pass
