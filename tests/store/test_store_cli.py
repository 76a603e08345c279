"""``triage-sync store check|migrate|password`` on SQLite and PostgreSQL, and ``store.auto_migrate``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from memory_keyring import MemoryKeyring
from sqlalchemy.engine import make_url

from app import cli
from app.store import Store, head_revision
from app.store.db import alembic_config, create_store_engine
from app.store_cli import EXIT_BEHIND, EXIT_NEWER

SECRET = "db-secret-never-printed"


class Admin:
    def __init__(self, tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str) -> None:
        self.capsys = capsys
        self.log_dir = tmp_path / "logs"
        self.config = tmp_path / "config.toml"
        self.write(url)

    def write(self, url: str, extra: str = "") -> None:
        self.config.write_text(f'[store]\nurl = "{url}"\n{extra}', encoding="utf-8")

    def run(self, *argv: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(self.config), *argv])
        captured = self.capsys.readouterr()
        logs = "".join(p.read_text(encoding="utf-8") for p in self.log_dir.glob("*.log*"))
        assert SECRET not in captured.out + captured.err + logs
        assert "Traceback" not in captured.err
        return code, captured.out, captured.err


@pytest.fixture
def admin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> Admin:
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setenv("TRIAGE_SYNC_DB_PASSWORD", SECRET)  # trust auth ignores it; output must not show it
    return Admin(tmp_path, capsys, db_url)


def _stamp(url: str, revision: str) -> None:
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config(conn), revision)
    finally:
        engine.dispose()


def test_check_and_migrate_an_empty_database(admin: Admin, db_url: str) -> None:
    if db_url.startswith("sqlite"):
        code, _out, err = admin.run("store", "check")
        assert code == cli.EXIT_FAILED and "no database file at" in err
        Path(make_url(db_url).database or "").parent.mkdir(parents=True)
        create_store_engine(db_url).dispose()  # an empty file
    code, out, _err = admin.run("store", "check")
    assert code == EXIT_BEHIND and "no schema yet" in out
    code, out, err = admin.run("store", "migrate")
    assert code == cli.EXIT_OK, err
    assert f"schema migrated from revision (none) to {head_revision()}" in out
    code, out, _err = admin.run("store", "check", "--json")
    assert code == cli.EXIT_OK
    report = json.loads(out)
    assert report["state"] == "current" and report["revision"] == report["head"] == head_revision()
    assert SECRET not in report["url"]
    code, out, _err = admin.run("store", "migrate")
    assert code == cli.EXIT_OK and "nothing to do" in out


def test_migrate_from_an_old_revision_reports_the_backup(admin: Admin, db_url: str) -> None:
    _stamp(db_url, "0001")
    code, out, _err = admin.run("store", "check")
    assert code == EXIT_BEHIND and f"schema at revision 0001, this app needs {head_revision()}" in out
    code, out, err = admin.run("store", "migrate")
    assert code == cli.EXIT_OK, err
    assert f"from revision 0001 to {head_revision()}" in out
    assert ("the previous file is kept at" in out) == db_url.startswith("sqlite")


def test_check_says_when_a_newer_app_wrote_the_database(admin: Admin, db_url: str) -> None:
    _stamp(db_url, "head")
    engine = create_store_engine(db_url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    finally:
        engine.dispose()
    code, out, _err = admin.run("store", "check")
    assert code == EXIT_NEWER and "upgrade the app" in out
    code, _out, err = admin.run("store", "migrate")
    assert code == cli.EXIT_FAILED and "newer Triage Sync" in err


def test_auto_migrate_off_leaves_the_schema_to_the_administrator(admin: Admin, db_url: str) -> None:
    _stamp(db_url, "0001")
    admin.write(db_url, "auto_migrate = false\n")
    code, _out, err = admin.run("status")
    assert code == cli.EXIT_FAILED
    assert "this app needs" in err and "triage-sync store migrate" in err and "auto_migrate is off" in err
    code, _out, _err = admin.run("store", "check")
    assert code == EXIT_BEHIND  # untouched by the refused start
    assert admin.run("store", "migrate")[0] == cli.EXIT_OK
    code, out, err = admin.run("status", "--json")
    assert code == cli.EXIT_OK, err
    with Store.open(db_url, migrate_schema=False) as store:
        assert store.backup_path is None


def test_an_unreachable_server_is_one_line(admin: Admin) -> None:
    admin.write("postgresql://triage@127.0.0.1:1/triage?sslmode=prefer")
    for command_ in (("store", "check"), ("store", "migrate"), ("status",)):
        code, _out, err = admin.run(*command_)
        assert code == cli.EXIT_FAILED
        assert "cannot reach the database server 127.0.0.1:1" in err, err
        assert len(err.strip().splitlines()) <= 2, err  # the message, maybe one log line


def test_store_password_saves_to_the_keyring(
    admin: Admin, memory_keyring: MemoryKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin.write("postgresql://triage@db.example/triage")
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(SECRET + "\n"))
    code, out, err = admin.run("store", "password", "--stdin")
    assert code == cli.EXIT_OK, err
    assert "triage@db.example" in out
    assert memory_keyring.get_password("triage-sync", "store_password:triage@db.example") == SECRET
    code, _out, _err = admin.run("store", "password", "--delete")
    assert code == cli.EXIT_OK
    assert memory_keyring.get_password("triage-sync", "store_password:triage@db.example") is None
    admin.write("sqlite:////tmp/never-created.sqlite3")
    code, _out, err = admin.run("store", "password", "--stdin")
    assert code == cli.EXIT_CONFIG and "no password to save" in err
