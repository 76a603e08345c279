"""Credentials: OS keyring first, environment variables for headless runs. Never files, never logs."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

from app import APP_NAME

log = logging.getLogger(__name__)

SecretName = Literal[
    "servicenow_password",
    "servicenow_client_secret",
    "autotask_secret",
    "autotask_webhook_secret",
    "servicenow_webhook_secret",
]

ENV_VARS: dict[SecretName, str] = {
    "servicenow_password": "SERVICENOW_PASSWORD",
    "servicenow_client_secret": "SERVICENOW_CLIENT_SECRET",
    "autotask_secret": "AUTOTASK_SECRET",
    "autotask_webhook_secret": "AUTOTASK_WEBHOOK_SECRET",
    "servicenow_webhook_secret": "SERVICENOW_WEBHOOK_SECRET",
}


@dataclass(frozen=True)
class Secret:
    """A credential whose repr never shows the value (safe in logs and tracebacks)."""

    value: str

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def reveal(self) -> str:
        return self.value


def _keyring_user(name: SecretName, username: str) -> str:
    return f"{name}:{username}"


def get_secret(name: SecretName, username: str) -> Secret | None:
    """Environment wins (explicit for headless runs), then the OS keyring; None when neither has it."""
    from_env = os.environ.get(ENV_VARS[name])
    if from_env:
        return Secret(from_env)
    try:
        import keyring
        import keyring.errors

        stored = keyring.get_password(APP_NAME, _keyring_user(name, username))
    except Exception as exc:  # keyring backends raise many kinds; a missing keyring is not fatal
        log.warning("OS keyring unavailable (%s); set %s instead", type(exc).__name__, ENV_VARS[name])
        return None
    return Secret(stored) if stored else None


def set_secret(name: SecretName, username: str, value: str) -> None:
    import keyring

    keyring.set_password(APP_NAME, _keyring_user(name, username), value)


def delete_secret(name: SecretName, username: str) -> None:
    import keyring
    import keyring.errors

    try:
        keyring.delete_password(APP_NAME, _keyring_user(name, username))
    except keyring.errors.PasswordDeleteError:
        pass
