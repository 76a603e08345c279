"""Settings dialog: validation beside the field, secrets to the keyring, TOML written carefully."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import qasync
from ui_fakes import MemoryKeyring, fill_settings, wait_until

from app import APP_NAME
from app.config import AppConfig, AutotaskConfig, ServiceNowConfig, load_config, parse_config
from app.secrets import Secret
from app.ui.settings_dialog import STORED_PLACEHOLDER, SettingsDialog


def _dialog(qtbot: Any, path: Path, config: AppConfig | None = None, **kwargs: Any) -> SettingsDialog:
    dialog = SettingsDialog(config or parse_config({}, str(path)), path, **kwargs)
    qtbot.addWidget(dialog)
    return dialog


def test_http_non_loopback_url_refused_beside_the_field(
    qtbot: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    dialog = _dialog(qtbot, tmp_path / "config.toml")
    fill_settings(dialog)
    dialog.sn_url.setText("http://acme.service-now.com")
    dialog.save()
    assert dialog.result() != SettingsDialog.DialogCode.Accepted
    assert "plain http:// is refused for acme.service-now.com" in dialog.error_for("servicenow.url")
    assert dialog.rows["servicenow.url"].error.isVisibleTo(dialog)
    assert not (tmp_path / "config.toml").exists()
    assert memory_keyring.store == {}  # nothing stored when the input is refused
    # loopback http (the simulators) is fine, and editing clears the message
    dialog.sn_url.setText("http://127.0.0.1:8080")
    assert dialog.error_for("servicenow.url") == ""
    sn, at = dialog.validate()
    assert sn is not None and at is not None


def test_oauth_without_client_id_names_the_field(qtbot: Any, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path / "config.toml")
    fill_settings(dialog)
    dialog.sn_auth.setCurrentIndex(1)
    sn, _at = dialog.validate()
    assert sn is None
    assert "must be set when auth = 'oauth'" in dialog.error_for("servicenow.client_id")


def test_save_stores_secrets_in_keyring_and_keeps_other_sections(
    qtbot: Any, tmp_path: Path, memory_keyring: MemoryKeyring
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[trigger]\ndescription = "Only ours"\n\n[[trigger.conditions]]\nfield = "active"\nop = "equals"\n'
        'value = "true"\n\n[outbound]\ncompany_id = 42\n',
        encoding="utf-8",
    )
    dialog = _dialog(qtbot, path)
    fill_settings(dialog)
    dialog.sn_poll.setValue(120)
    saved: list[Path] = []
    dialog.saved.connect(saved.append)
    dialog.save()
    assert saved == [path]
    assert memory_keyring.store == {
        (APP_NAME, "servicenow_password:svc.triage"): "sn-pass-123",
        (APP_NAME, "autotask_secret:api@acme.example"): "at-secret-456",
    }
    text = path.read_text(encoding="utf-8")
    assert "sn-pass-123" not in text and "at-secret-456" not in text
    data = tomllib.loads(text)
    assert data["servicenow"] == {
        "url": "https://acme.service-now.com",
        "username": "svc.triage",
        "poll_seconds": 120,
    }
    assert data["autotask"] == {"username": "api@acme.example", "integration_code": "TRACK-ID-1"}
    assert data["trigger"]["description"] == "Only ours"
    assert data["outbound"] == {"company_id": 42}
    config = load_config(path)
    assert config.outbound.company_id == 42 and config.servicenow.poll_seconds == 120
    # secrets are never shown again in clear
    again = _dialog(qtbot, path, config)
    assert again.sn_password.text() == ""
    assert again.sn_password.placeholderText() == STORED_PLACEHOLDER
    assert again.at_secret.placeholderText() == STORED_PLACEHOLDER


def test_test_connection_uses_unsaved_values(
    qtbot: Any, tmp_path: Path, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.connectors.errors import AuthFailed
    from app.engine import connections

    seen: list[tuple[Any, ...]] = []

    async def fake_sn(
        cfg: ServiceNowConfig,
        password: Secret | None,
        client_secret: Secret | None = None,
        return_trip: Any = None,
    ) -> str:
        seen.append((cfg.url, cfg.username, password.reveal() if password else None))
        return "Connected to acme as svc.triage"

    async def fake_at(cfg: AutotaskConfig, secret: Secret | None) -> str:
        raise AuthFailed("autotask", "the API user or secret was refused", status=401)

    monkeypatch.setattr(connections, "test_servicenow", fake_sn)
    monkeypatch.setattr(connections, "test_autotask", fake_at)
    path = tmp_path / "config.toml"
    dialog = _dialog(qtbot, path, first_run=True)
    fill_settings(dialog)

    async def scenario() -> None:
        dialog.test_buttons["servicenow"].click()
        await wait_until(lambda: "Connected" in dialog.test_results["servicenow"].text())
        assert seen == [("https://acme.service-now.com", "svc.triage", "sn-pass-123")]
        assert dialog.tested_ok("servicenow")
        dialog.test_buttons["autotask"].click()
        await wait_until(lambda: "refused" in dialog.test_results["autotask"].text())
        assert dialog.test_results["autotask"].text() == (
            "✖ Autotask: the API user or secret was refused (HTTP 401)"
        )
        assert not dialog.tested_ok("autotask")
        # editing after a successful test invalidates it
        dialog.sn_user.setText("someone.else")
        assert not dialog.tested_ok("servicenow")
        assert not path.exists()

    loop.run_until_complete(scenario())


def test_demo_mode_does_not_save(qtbot: Any, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path / "config.toml", demo=True)
    assert not dialog.save_button.isEnabled()
    assert "Demo mode" in dialog.notice.text()


def test_rules_tab_is_read_only_with_trigger_lines(qtbot: Any, tmp_path: Path) -> None:
    dialog = _dialog(qtbot, tmp_path / "config.toml")
    targets = [dialog.rules_table.item(r, 0).text() for r in range(dialog.rules_table.rowCount())]
    assert {"title", "priority", "queueID", "companyID", "externalID"} <= set(targets)
    assert dialog.rules_table.editTriggers() == dialog.rules_table.EditTrigger.NoEditTriggers
