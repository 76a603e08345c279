"""Files that hold incident text, caller names or settings are the user's alone: folders 0700,
files 0600 (also after a log rotation), and a replaced file keeps the mode its owner gave it."""

from __future__ import annotations

import logging
import logging.handlers
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app import cli
from app.logging_setup import logging_session

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual desktop umask: without care every file would be world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_log_folder_and_files_are_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "state" / "logs"
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(logs))
    with logging_session("info", file_name="t.log", rotate=True) as path:
        assert path is not None
        logging.getLogger("app.test").warning("incident text and a caller name")
        [handler] = [
            h for h in logging.getLogger().handlers if isinstance(h, logging.handlers.RotatingFileHandler)
        ]
        handler.doRollover()
        logging.getLogger("app.test").warning("after the rotation")
    assert mode(logs) == 0o700
    assert mode(logs.parent) == 0o700  # created for us, too
    files = sorted(logs.iterdir())
    assert len(files) == 2
    assert all(mode(file) == 0o600 for file in files), [oct(mode(f)) for f in files]


def test_existing_world_readable_log_is_tightened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "t.log").write_text("old line\n", encoding="utf-8")
    os.chmod(logs / "t.log", 0o644)
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(logs))
    with logging_session("info", file_name="t.log", rotate=False):
        logging.getLogger("app.test").warning("new line")
    assert mode(logs / "t.log") == 0o600


def test_config_init_writes_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path / "logs"))
    target = tmp_path / "conf" / "triage-sync" / "config.toml"
    assert cli.main(["--config", str(target), "config", "init"]) == 0
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700
    assert mode(target.parent.parent) == 0o700
    assert cli.main(["--config", str(target), "config", "init", "--force"]) == 0
    assert mode(target) == 0o600


def test_existing_default_log_folder_is_tightened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An older version left the app's own log folder 0755: it is made private (a folder chosen
    with TRIAGE_SYNC_LOG_DIR is the user's business and left as it is)."""
    monkeypatch.delenv("TRIAGE_SYNC_LOG_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    from app.config import default_log_dir

    folder = default_log_dir()
    folder.mkdir(parents=True)
    os.chmod(folder, 0o755)
    with logging_session("info", file_name="t.log", rotate=False):
        logging.getLogger("app.test").warning("x")
    assert mode(folder) == 0o700
