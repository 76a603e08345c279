from __future__ import annotations

from pathlib import Path

import pytest

from app.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_keys_take_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[autotask]\npoll_seconds = 120\n"))
    assert config.autotask.poll_seconds == 120
    assert config.servicenow.poll_seconds == 60
    assert "title" in config.outbound.fields


def test_bound_error_names_file_key_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "[autotask]\npoll_seconds = 0\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: autotask.poll_seconds: must be >= 10, got 0"
