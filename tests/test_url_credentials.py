"""Credentials inside URLs: refused in the API URLs and in the store URL (each error says where the
password goes instead), and never repeated by an error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import cli
from app.config import ConfigError, hide_password, parse_config


@pytest.mark.parametrize(
    ("section", "key", "hint"),
    [
        ("servicenow", "url", "SERVICENOW_PASSWORD"),
        ("autotask", "url", "AUTOTASK_SECRET"),
        ("autotask", "zone_lookup_url", "AUTOTASK_SECRET"),
        ("autotask", "web_url", "AUTOTASK_SECRET"),
    ],
)
def test_user_info_in_api_urls_is_refused(section: str, key: str, hint: str) -> None:
    for url in ("https://admin:pw-s3cret-value@example.com/x", "https://admin@example.com"):
        with pytest.raises(ConfigError) as exc:
            parse_config({section: {key: url}}, "config.toml")
        text = str(exc.value)
        assert f"{section}.{key}" in text
        assert "must not contain a user name or password" in text
        assert f"{section}.username" in text and hint in text
        assert "pw-s3cret-value" not in text


def test_other_url_errors_never_echo_a_password() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config({"servicenow": {"url": "ftp://u:pw-s3cret-value@example.com"}}, "config.toml")
    assert "pw-s3cret-value" not in str(exc.value)


def test_hide_password() -> None:
    assert hide_password("postgresql://sync:hunter2@db.example:5432/sync") == (
        "postgresql://sync:***@db.example:5432/sync"
    )
    assert (
        hide_password("postgresql+psycopg://sync:p%40ss@db/sync") == "postgresql+psycopg://sync:***@db/sync"
    )
    assert hide_password("sqlite:////tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"
    assert hide_password("https://example.com/a@b") == "https://example.com/a@b"


def test_config_check_refuses_a_store_password_without_showing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path / "logs"))
    path = tmp_path / "config.toml"
    path.write_text('[store]\nurl = "postgresql://sync:hunter2hunter2@db.example/sync"\n', encoding="utf-8")
    assert cli.main(["--config", str(path), "config", "check"]) == cli.EXIT_CONFIG
    captured = capsys.readouterr()
    assert "hunter2hunter2" not in captured.out + captured.err
    assert "store.url: must not contain a password" in captured.err
    assert "TRIAGE_SYNC_DB_PASSWORD" in captured.err
    assert "postgresql://sync:***@db.example/sync" in captured.err
