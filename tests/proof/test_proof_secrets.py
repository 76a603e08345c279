"""Credentials never appear in logs, the database (every table, and the raw file with its WAL), the
audit table, exception messages, events, or ``config check`` output, after runs that exercise
auth failures and error paths with known, distinctive secrets."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from proof_harness import AT_CODE, AT_SECRET, SECRETS, SN_PASSWORD, Harness, Sleeps

from app.engine.events import EngineEvent

REPO = Path(__file__).resolve().parents[2]


def forbidden(username: str) -> list[str]:
    basic = base64.b64encode(f"{username}:{SN_PASSWORD}".encode()).decode()
    return [*SECRETS, basic]


def sqlite_text(path: Path) -> str:
    """Every row of every table as text, plus the raw bytes of the file, its WAL and shm."""
    parts: list[str] = []
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert {"queue_item", "link", "audit_event", "sync_cursor"} <= set(tables), tables
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite_master
                parts.append(repr(row))
    for suffix in ("", "-wal", "-shm"):
        raw = Path(f"{path}{suffix}")
        if raw.exists():
            parts.append(raw.read_bytes().decode("latin-1"))
    return "\n".join(parts)


def assert_clean(where: str, text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"a credential appears in {where}"


async def test_engine_run_with_failures_leaks_no_credential(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h = harness
    caplog.set_level(logging.DEBUG)
    events: list[EngineEvent] = []
    engine = h.engine(h.config(outbound={"auto_push": True}), sleeps=Sleeps(), events=events)
    incidents = [h.incident(short_description=f"Secret test {n}") for n in range(3)]
    messages: list[str] = []

    # Error paths first: refused credentials on both sides, refusals, garbage answers.
    h.sn.faults.inject("status", method="GET", path=r"/table/incident$", status=401, count=1)
    h.at.faults.inject("status", method="GET", path=r"/entityInformation/fields$", status=401, count=1)
    messages += (await engine.run_once()).failures
    messages += [engine.health("servicenow").message, engine.health("autotask").message]
    # The user fixes the credentials and polls: ServiceNow answers, then Autotask's armed 401 fires
    # (the return trip waits while ServiceNow is paused, so it had not reached Autotask before).
    await engine.poll_now()
    await engine.poll_now()
    h.at.faults.inject("html", method="POST", path=r"/Tickets$", count=1)
    h.at.faults.inject("status", method="POST", path=r"/Tickets$", status=500, count=1)
    h.sn.faults.inject("truncated", method="PATCH", path=r"/table/incident/", count=1)
    for _ in range(4):
        messages += (await engine.run_once()).failures
        await asyncio.sleep(0.06)
    failed = [i.number for i in engine.store.list_items() if str(i.state) == "failed"]
    await engine.retry(failed)
    for incident in incidents:
        for ticket in h.tickets_for(incident["sys_id"]):
            h.at.technician_update(ticket["id"], status="Complete", resolution="Fixed")
    h.sn.faults.inject("status", method="PATCH", path=r"/table/incident/", status=403, count=1)
    for _ in range(3):
        messages += (await engine.run_once()).failures
        await asyncio.sleep(0.06)
    messages += [repr(engine.servicenow), repr(engine.autotask)]
    config_repr = repr(engine.config)
    await engine.close()

    secrets = forbidden(h.sn.settings.username)
    assert_clean("the log (DEBUG, every logger)", caplog.text, secrets)
    assert_clean("exception and failure messages", "\n".join(messages), secrets)
    assert_clean("engine events", "\n".join(repr(e) for e in events), secrets)
    assert_clean("the SQLite database", sqlite_text(h.db_path), secrets)
    # The integration code lives in the config file by design; the secret and password never do.
    assert_clean("the configuration's repr", config_repr, [SN_PASSWORD, AT_SECRET])
    assert any("credentials" in m for m in messages)  # the auth paths really ran
    assert len(h.at.tickets()) == 3, messages


def test_cli_config_check_and_headless_run_leak_no_credential(harness: Harness, tmp_path: Path) -> None:
    h = harness
    for n in range(2):
        h.incident(short_description=f"CLI secret test {n}")
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[servicenow]
url = "{h.sn.base_url}"
username = "{h.sn.settings.username}"

[autotask]
url = "{h.at.rest_base}"
username = "{h.at.settings.username}"
integration_code = "{AT_CODE}"

[store]
url = "sqlite:///{h.db_path}"

[outbound]
company_id = 174
default_queue = "Level I Support"
auto_push = true
""",
        encoding="utf-8",
    )
    logs = tmp_path / "logs"
    env = {
        **os.environ,
        "SERVICENOW_PASSWORD": SN_PASSWORD,
        "AUTOTASK_SECRET": AT_SECRET,
        "TRIAGE_SYNC_LOG_DIR": str(logs),
        "PYTHONPATH": str(REPO),
    }
    base = [sys.executable, "-m", "app", "--config", str(config), "--log-level", "debug"]
    outputs: list[str] = []
    check = subprocess.run([*base, "config", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    # config check shows the file's values; the integration code is one of them (masked: see the test below).
    assert_clean("config check output", check.stdout + check.stderr, [SN_PASSWORD, AT_SECRET])
    h.sn.faults.inject("status", method="PATCH", path=r"/table/incident/", status=401, count=1)
    run = subprocess.run([*base, "run", "--once"], env=env, capture_output=True, text=True, timeout=60)
    outputs += [run.stdout, run.stderr]
    assert len(h.at.tickets()) == 2, run.stderr
    wrong = subprocess.run(
        [*base, "run", "--once"],
        env={**env, "AUTOTASK_SECRET": AT_SECRET + "-expired"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    outputs += [wrong.stdout, wrong.stderr]
    for path in logs.rglob("*"):
        if path.is_file():
            outputs.append(path.read_text(encoding="utf-8", errors="replace"))
    secrets = forbidden(h.sn.settings.username)
    assert_clean("config check / run output and the log files", "\n".join(outputs), secrets)
    assert_clean("the SQLite database", sqlite_text(h.db_path), secrets)
    assert logs.exists() and any(logs.rglob("*.log"))


def test_config_check_masks_the_integration_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import main

    config = tmp_path / "config.toml"
    config.write_text(f'[autotask]\nintegration_code = "{AT_CODE}"\n', encoding="utf-8")
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path / "logs"))
    assert main(["--config", str(config), "config", "check"]) == 0
    assert AT_CODE not in capsys.readouterr().out
