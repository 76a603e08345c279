"""Settings, the store: the typed URL is checked as typed, and a server's password goes to the
keyring (``store_password`` for user@host), never to the file."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail
from sqlalchemy.engine import make_url
from ui_fakes import MemoryKeyring, fill_settings

from app import APP_NAME
from app.config import parse_config
from app.secrets import ENV_VARS, clear_session_secrets, get_secret
from app.store.connect import password_account
from app.ui.settings_dialog import STORED_PLACEHOLDER, SettingsDialog
from app.ui.store_url import store_password_account, store_url_problem

SERVER = "postgresql://triage@db.example/triage?sslmode=verify-full"


def _dialog(qtbot: Any, path: Path) -> SettingsDialog:
    dialog = SettingsDialog(parse_config({}, str(path)), path)
    qtbot.addWidget(dialog)
    return dialog


def test_a_password_in_the_typed_url_is_refused_beside_the_field(
    qtbot: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    path = tmp_path / "config.toml"
    dialog = _dialog(qtbot, path)
    fill_settings(dialog)
    dialog.store_url.setText("postgresql://triage:hunter2@db.example/triage")
    message = dialog.error_for("store.url")
    assert "Leave the password out of the URL" in message and "hunter2" not in message
    assert not dialog.rows["store.url"].error.isHidden()  # said at once, not only on Save
    assert not dialog.rows["store.password"].isHidden()  # the field the message points to
    assert "triage@db.example" in dialog.rows["store.password"].hint.text()
    dialog.tabs.setCurrentIndex(0)
    dialog.save()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert dialog.tabs.currentWidget() is dialog.sync_page  # taken to the field
    assert not path.exists() and memory_keyring.store == {}
    dialog.store_url.setText(SERVER)
    assert dialog.error_for("store.url") == ""


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("", None),
        ("sqlite:////var/lib/triage/triage.sqlite3", None),
        (SERVER, None),
        ("postgresql+psycopg://triage@db.example:5433/triage", None),
        ("db.example/triage", "not a database URL"),
        ("mysql://triage@db.example/triage", "“mysql” databases are not supported"),
        ("sqlite://triage.sqlite3", "three slashes"),
        ("postgresql://triage@db.example/triage?password=x", "Leave the password out"),
    ],
)
def test_store_url_problems_in_words(typed: str, expected: str | None) -> None:
    problem = store_url_problem(typed)
    assert (problem is None) if expected is None else (problem is not None and expected in problem)


@pytest.mark.parametrize(
    "url",
    [
        SERVER,
        "postgresql://tri%40ge@db.example:5433/t",
        "postgresql+psycopg://u@[::1]/t",
        "postgresql://u@/t",
        "postgresql://triage:typed-by-mistake@db.example/triage",
    ],
)
def test_the_account_is_the_one_the_store_looks_up(url: str) -> None:
    assert store_password_account(url) == password_account(make_url(url))


def test_a_server_url_offers_a_password_that_goes_to_the_keyring_only(
    qtbot: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    path = tmp_path / "config.toml"
    dialog = _dialog(qtbot, path)
    fill_settings(dialog)
    assert dialog.rows["store.password"].isHidden()  # the SQLite default has none
    dialog.store_url.setText(SERVER)
    assert not dialog.rows["store.password"].isHidden()
    assert dialog.store_password_label.buddy() is dialog.store_password
    assert "triage@db.example" in dialog.rows["store.password"].hint.text()
    assert ENV_VARS["store_password"] in dialog.rows["store.password"].hint.text()
    dialog.store_password.setText("db-pass-789")
    dialog.save()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    assert memory_keyring.store[(APP_NAME, "store_password:triage@db.example")] == "db-pass-789"
    text = path.read_text(encoding="utf-8")
    assert "db-pass-789" not in text
    assert tomllib.loads(text)["store"] == {"url": SERVER}
    again = SettingsDialog(parse_config(tomllib.loads(text), str(path)), path)
    qtbot.addWidget(again)
    assert again.store_password.text() == ""
    assert again.store_password.placeholderText() == STORED_PLACEHOLDER
    again.store_url.setText("sqlite:////tmp/x.sqlite3")
    assert again.rows["store.password"].isHidden()


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARS.values():
        monkeypatch.delenv(name, raising=False)
    previous = keyring.get_keyring()
    failing: Any = fail.Keyring  # untyped in the keyring package
    keyring.set_keyring(failing())
    yield
    keyring.set_keyring(previous)
    clear_session_secrets()


def test_without_a_keyring_the_database_password_is_kept_for_the_session(
    qtbot: Any, tmp_path: Path, no_keyring: None
) -> None:
    path = tmp_path / "config.toml"
    dialog = _dialog(qtbot, path)
    fill_settings(dialog)
    dialog.store_url.setText(SERVER)
    assert "for this session only" in dialog.rows["store.password"].hint.text()
    assert dialog.session_only.isChecked()
    dialog.store_password.setText("db-pass-789")
    dialog.save()
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    secret = get_secret("store_password", "triage@db.example")
    assert secret is not None and secret.reveal() == "db-pass-789"
    assert "db-pass-789" not in path.read_text(encoding="utf-8")


def test_the_demo_does_not_claim_its_password_is_missing(qtbot: Any, tmp_path: Path) -> None:
    """Demo Settings said "not stored yet" beside a password the demo was using."""
    path = tmp_path / "config.toml"
    dialog = SettingsDialog(parse_config({}, str(path)), path, demo=True)
    qtbot.addWidget(dialog)
    assert dialog.sn_password.placeholderText() == "•••• built into the demo"
    assert dialog.at_secret.placeholderText() == "•••• built into the demo"
