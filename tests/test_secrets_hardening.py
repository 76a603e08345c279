"""Credentials read from the keyring or the environment are masked in every log line, whoever
read them (desktop app, webhook receiver, headless run); a ``Secret`` stays masked inside
``dataclasses.asdict`` and cannot be serialised to JSON by accident."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
from memory_keyring import MemoryKeyring

from app.logging_setup import scrub
from app.secrets import Secret, get_secret, set_secret


def test_keyring_secret_is_scrubbed_once_read(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.set_password("triage-sync", "autotask_webhook_secret:api@x", "webhook-key-from-keyring")
    secret = get_secret("autotask_webhook_secret", "api@x")
    assert secret is not None
    assert (
        scrub("signature check with webhook-key-from-keyring failed")
        == "signature check with ******** failed"
    )


def test_environment_secret_is_scrubbed_once_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICENOW_WEBHOOK_SECRET", "notify-token-from-env")
    assert get_secret("servicenow_webhook_secret", "u") is not None
    assert "notify-token-from-env" not in scrub("token notify-token-from-env")


def test_secret_saved_from_settings_is_scrubbed(memory_keyring: MemoryKeyring) -> None:
    set_secret("autotask_secret", "api@x", "saved-in-settings-secret")
    assert "saved-in-settings-secret" not in scrub("sent saved-in-settings-secret")


@dataclasses.dataclass
class Holder:
    user: str
    secret: Secret


def test_secret_is_safe_in_asdict_and_json() -> None:
    holder = Holder("u", Secret("pw-value-never-shown"))
    as_dict = dataclasses.asdict(holder)
    assert "pw-value-never-shown" not in repr(as_dict) + str(as_dict)
    assert "pw-value-never-shown" not in json.dumps(as_dict, default=str)
    with pytest.raises(TypeError):
        json.dumps({"secret": Secret("pw-value-never-shown")})
    with pytest.raises(TypeError):
        dataclasses.asdict(Secret("pw-value-never-shown"))  # type: ignore[call-overload]
    assert copy.deepcopy(holder.secret).reveal() == "pw-value-never-shown"
    assert Secret("a") == Secret("a") and hash(Secret("a")) == hash(Secret("a"))
    assert f"{Secret('pw-value-never-shown')}" == "Secret('********')"


def test_systemd_credential_is_read_and_scrubbed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring
) -> None:
    """``LoadCredential=AUTOTASK_SECRET:...`` in the unit: systemd puts the file in
    $CREDENTIALS_DIRECTORY; the environment variable still wins when both are set."""
    (tmp_path / "AUTOTASK_SECRET").write_text("secret-from-credential-file\n", encoding="utf-8")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    monkeypatch.delenv("AUTOTASK_SECRET", raising=False)
    secret = get_secret("autotask_secret", "api@x")
    assert secret is not None and secret.reveal() == "secret-from-credential-file"
    assert "secret-from-credential-file" not in scrub("x secret-from-credential-file")
    monkeypatch.setenv("AUTOTASK_SECRET", "secret-from-environment")
    secret = get_secret("autotask_secret", "api@x")
    assert secret is not None and secret.reveal() == "secret-from-environment"
    assert get_secret("servicenow_password", "u") is None  # no file, no env, empty keyring
