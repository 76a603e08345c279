"""Settings writes the configuration privately and keeps the owner's mode when it replaces it;
the store URL's password is masked in the dialog and kept when the field is left alone."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.config import parse_config
from app.ui.settings_dialog import SettingsDialog

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


def _dialog(qtbot: Any, path: Path, data: dict[str, Any] | None = None) -> SettingsDialog:
    dialog = SettingsDialog(parse_config(data or {}, str(path)), path)
    qtbot.addWidget(dialog)
    return dialog


def _save(dialog: SettingsDialog) -> None:
    sn, at = dialog.validate()
    assert sn is not None and at is not None
    dialog.write_config(sn, at, False, dialog.store_url_value())


def test_new_config_is_private_and_replacing_keeps_the_mode(qtbot: Any, tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        path = tmp_path / "new" / "config.toml"
        _save(_dialog(qtbot, path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        os.chmod(path, 0o640)  # the owner's choice (a group that runs the service)
        _save(_dialog(qtbot, path))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    finally:
        os.umask(previous)


def test_store_url_is_shown_and_kept(qtbot: Any, tmp_path: Path) -> None:
    """The file's store URL holds no password (app.config refuses one: it lives in the keyring or
    TRIAGE_SYNC_DB_PASSWORD), so the dialog shows it as written and saves it unchanged."""
    path = tmp_path / "config.toml"
    url = "postgresql://sync@db.example/sync?sslmode=verify-full"
    path.write_text(f'[store]\nurl = "{url}"\n', encoding="utf-8")
    dialog = _dialog(qtbot, path, {"store": {"url": url}})
    assert dialog.store_url.text() == url
    _save(dialog)
    with path.open("rb") as handle:
        assert tomllib.load(handle)["store"]["url"] == url


def test_typed_secret_is_masked_in_logs_before_it_is_saved(qtbot: Any, tmp_path: Path) -> None:
    from app.logging_setup import scrub

    dialog = _dialog(qtbot, tmp_path / "config.toml")
    dialog.sn_password.setText("typed-password-1234")
    secret = dialog._typed_secret(dialog.sn_password, "servicenow_password", "svc")
    assert secret is not None
    assert "typed-password-1234" not in scrub("Test connection failed for typed-password-1234")


def test_saving_settings_keeps_the_files_comments_and_rules(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = (
        "# Triage Sync for ACME — ask the service desk lead before changing the rules.\n"
        "[servicenow]\n"
        'url = "https://acme.service-now.com"   # production\n'
        'username = "svc.old"\n'
        "\n"
        "# Priorities agreed with the NOC:\n"
        "[outbound.fields.status]\n"
        'rule = "constant"\n'
        'value = "In Progress"\n'
    )
    path.write_text(text, encoding="utf-8")
    dialog = _dialog(qtbot, path, tomllib.loads(text))
    dialog.sn_user.setText("svc.triage")
    _save(dialog)
    assert path.read_text(encoding="utf-8") == text.replace('"svc.old"', '"svc.triage"')
