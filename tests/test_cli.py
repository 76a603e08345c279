"""The headless CLI end to end: ``main([...])`` in-process against both simulators on loopback.

Each test gets a fresh store and log folder in tmp_path, a config file pointing at the
simulators, and the demo credentials in the environment (as a headless server would).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator
from app.store import Store

REPO = Path(__file__).resolve().parent.parent
IT = {"category": "hardware", "active": "true"}


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[ServiceNowSimulator, AutotaskSimulator]]:
    with ServiceNowSimulator(seed=23) as sn, AutotaskSimulator(seed=23) as at:
        yield sn, at


@dataclass
class World:
    sn: ServiceNowSimulator
    at: AutotaskSimulator
    tmp: Path
    config: Path
    store_url: str
    log_dir: Path
    capsys: pytest.CaptureFixture[str]

    def write_config(self, text: str | None = None, **extra: str) -> Path:
        body = text if text is not None else config_text(self.sn, self.at, self.store_url)
        for section, lines in extra.items():
            body += f"\n[{section}]\n{lines}\n"
        self.config.write_text(body, encoding="utf-8")
        return self.config

    def cli(self, *args: str) -> tuple[int, str, str]:
        """``triage-sync --config <file> ARGS``: (exit code, stdout, stderr)."""
        self.capsys.readouterr()
        code = cli.main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def cli_json(self, *args: str) -> Any:
        code, out, err = self.cli(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    def incident(self, **fields: Any) -> dict[str, str]:
        return self.sn.create_incident(**{**IT, **fields})

    def log_text(self) -> str:
        path = self.log_dir / "triage-sync.log"
        return path.read_text(encoding="utf-8") if path.exists() else ""


def config_text(sn: ServiceNowSimulator, at: AutotaskSimulator, store_url: str) -> str:
    return f"""
[servicenow]
url = "{sn.base_url}"
username = "demo.integration"

[autotask]
url = "{at.rest_base}"
zone_lookup_url = "{at.rest_base}"
username = "demo@example.com"
integration_code = "DEMO"

[outbound]
company_id = 174
default_queue = "Level I Support"
push_concurrency = 1

[store]
url = "{store_url}"
"""


@pytest.fixture
def world(
    simulators: tuple[ServiceNowSimulator, AutotaskSimulator],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> World:
    sn, at = simulators
    sn.reset()
    sn.settings = ServiceNowSimSettings()
    at.reset()
    log_dir = tmp_path / "logs"
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(log_dir))
    monkeypatch.setenv("SERVICENOW_PASSWORD", "demo")
    monkeypatch.setenv("AUTOTASK_SECRET", "demo")
    monkeypatch.delenv("SERVICENOW_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("TRIAGE_SYNC_CONFIG", raising=False)
    # Never touch the real keyring or the user's folders.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "xdg" / name.lower()))
    store_url = f"sqlite:///{(tmp_path / 'sync.sqlite3').as_posix()}"
    w = World(sn, at, tmp_path, tmp_path / "config.toml", store_url, log_dir, capsys)
    w.write_config()
    return w


# ---- run --once ----------------------------------------------------------------------------------


def test_run_once_queues_and_exits_0(world: World) -> None:
    incident = world.incident(short_description="Laptop will not boot")
    code, out, err = world.cli("run", "--once")
    assert code == cli.EXIT_OK, err
    assert "1 queued" in out and "0 failed" in out
    assert f"queued {incident['number']}" in err  # one log line per engine event, on stderr
    assert f"queued {incident['number']}" in world.log_text()  # ... and in the log file
    assert world.at.tickets() == []  # nothing goes out without approval
    # The lease was released: the next run takes it again.
    assert world.cli("run", "--once")[0] == cli.EXIT_OK


def test_run_once_exits_1_with_one_line_per_failure(world: World) -> None:
    first = world.incident(short_description="First")
    world.incident(short_description="Second")
    # Autotask answers validation errors with HTTP 500: a refusal of that one item.
    world.at.faults.inject("status", method="POST", path=r"/Tickets$", status=500, count=1)
    code, out, err = world.cli("run", "--once", "--auto-push")
    assert code == cli.EXIT_FAILED
    assert "1 pushed" in out and "1 failed" in out
    failures = [line for line in err.splitlines() if line.startswith("FAILED: ")]
    assert len(failures) == 1
    assert "refused" in world.log_text()
    assert len(world.at.tickets()) == 1
    states = {row["number"]: row["state"] for row in world.cli_json("queue", "list")}
    assert "failed" in states.values() and "pushed" in states.values()
    assert first["number"] in states


def test_bad_config_exits_2(world: World) -> None:
    world.write_config(world.config.read_text() + "\n[no_such_section]\nenabled = true\n")
    code, _out, err = world.cli("run", "--once")
    assert code == cli.EXIT_CONFIG
    assert "no_such_section: unknown key" in err
    world.write_config(
        config_text(world.sn, world.at, world.store_url).replace("[autotask]", "[autotask]\npoll_seconds = 0")
    )
    code, _out, err = world.cli("status")
    assert code == cli.EXIT_CONFIG and "autotask.poll_seconds: must be >= 10" in err


def test_missing_live_settings_are_named_exit_2(world: World) -> None:
    world.write_config(f'[servicenow]\nurl = "{world.sn.base_url}"\n[store]\nurl = "{world.store_url}"\n')
    code, _out, err = world.cli("run", "--once")
    assert code == cli.EXIT_CONFIG
    for key in (
        "servicenow.username",
        "autotask.username",
        "autotask.integration_code",
        "outbound.company_id",
    ):
        assert key in err


def test_missing_password_names_env_var_exit_2(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERVICENOW_PASSWORD")
    code, _out, err = world.cli("run", "--once")
    assert code == cli.EXIT_CONFIG
    assert "SERVICENOW_PASSWORD" in err and "keyring" in err
    monkeypatch.setenv("SERVICENOW_PASSWORD", "demo")
    monkeypatch.delenv("AUTOTASK_SECRET")
    code, _out, err = world.cli("dry-run")
    assert code == cli.EXIT_CONFIG and "AUTOTASK_SECRET" in err


def test_second_engine_on_same_db_exits_1(world: World) -> None:
    with Store.open(world.store_url) as store:
        lease = store.acquire_engine_lease("the GUI")
        try:
            code, _out, err = world.cli("run", "--once")
        finally:
            lease.release()
    assert code == cli.EXIT_FAILED
    assert "already running" in err and "the GUI" in err


# ---- queue, links, status ------------------------------------------------------------------------


def test_queue_decisions_carry_the_desk_name(world: World) -> None:
    """Without --by, a command-line decision is recorded as this desk's ([desk] name), marked cli:."""
    world.write_config(desk='name = "anna"')
    incident = world.incident()
    assert world.cli("run", "--once")[0] == cli.EXIT_OK
    assert world.cli("queue", "reject", incident["number"])[0] == cli.EXIT_OK
    [rejected] = world.cli_json("queue", "list", "--state", "rejected")
    assert rejected["decided_by"] == "cli:anna"


def test_queue_list_json_approve_then_run_creates_ticket(world: World) -> None:
    incident = world.incident(short_description="Printer jams")
    assert world.cli("run", "--once")[0] == cli.EXIT_OK

    [row] = world.cli_json("queue", "list")
    assert row["number"] == incident["number"] and row["sys_id"] == incident["sys_id"]
    assert row["state"] == "pending" and row["short_description"] == "Printer jams"
    assert row["queued_at"].endswith("Z") and "T" in row["queued_at"]
    assert set(row) == {
        "id", "sys_id", "number", "short_description", "category", "priority", "caller", "state",
        "attempts", "last_error", "next_retry_at", "queued_at", "updated_at", "sn_updated_on",
        "decided_by", "drop_reason", "forced_reason", "duplicate_of", "duplicate_note", "overrides",
        "overridden_by", "reviewers",
    }  # fmt: skip
    assert world.cli_json("queue", "list", "--state", "approved") == []

    code, out, _err = world.cli("queue", "approve", incident["number"], "--by", "alice")
    assert code == cli.EXIT_OK and "approved" in out
    [approved] = world.cli_json("queue", "list", "--state", "approved")
    assert approved["decided_by"] == "alice"

    code, out, err = world.cli("run", "--once")
    assert code == cli.EXIT_OK, err
    [ticket] = world.at.tickets()
    assert ticket["externalID"] == incident["sys_id"]
    assert f"pushed {incident['number']} -> ticket" in err
    assert f"{incident['number']} now names ticket {ticket['ticketNumber']}" in err

    [link] = world.cli_json("links")
    assert link["incident_number"] == incident["number"]
    assert link["ticket_id"] == ticket["id"] and link["ticket_number"] == ticket["ticketNumber"]
    assert link["writeback_state"] == "done"
    assert world.cli_json("links", "--search", "no-such-thing") == []
    code, out, _err = world.cli("links")
    assert code == cli.EXIT_OK and ticket["ticketNumber"] in out


def test_queue_reject_and_unknown_ids_exit_1(world: World) -> None:
    incident = world.incident()
    world.cli("run", "--once")
    code, out, err = world.cli("queue", "reject", incident["number"], "INC9999999")
    assert code == cli.EXIT_FAILED
    assert f"{incident['number']}: rejected" in out
    assert "INC9999999: not in the queue" in err
    [row] = world.cli_json("queue", "list")
    assert row["state"] == "rejected"
    code, _out, err = world.cli("queue", "approve", incident["sys_id"])  # by sys_id; rejected: refused
    assert code == cli.EXIT_FAILED and "cannot be approved while rejected" in err
    assert world.cli("queue", "restore", incident["sys_id"])[0] == cli.EXIT_OK


def test_status_json(world: World) -> None:
    world.incident()
    world.cli("run", "--once")
    status = world.cli_json("status")
    assert status["store_url"] == world.store_url
    assert status["config_path"] == str(world.config)
    assert status["queue"]["pending"] == 1 and status["queue"]["pushed"] == 0
    assert set(status["queue"]) == {
        "pending",
        "approved",
        "pushing",
        "pushed",
        "rejected",
        "failed",
        "dropped",
    }
    assert status["links"] == 0
    servicenow = status["cursors"]["servicenow"]
    assert servicenow["last_success_at"].endswith("Z") and servicenow["last_error"] is None
    # The first poll's lookback read everything; the first reconciliation is scheduled, not run.
    assert servicenow["reconciled_at"] is None and servicenow["reconcile_due_at"].endswith("Z")
    assert set(status["cursors"]) == {"servicenow", "autotask"}
    assert status["engine"] is None  # run --once released the lease
    code, out, _err = world.cli("status")
    assert code == cli.EXIT_OK and "not running" in out and "pending 1" in out
    assert "reconciliation not run yet; next" in out
    # The tenant's last ThresholdInformation reading, kept in the store by run --once.
    assert status["pacing"]["tenant_limit"] == world.at.settings.hourly_threshold
    assert re.search(
        r"Pacing +Autotask is \d+ % busy this hour \(others [\d,]+, us \d+\)\n +tenant usage read ", out
    )


def test_status_shows_a_retry_after_hold(world: World) -> None:
    world.sn.faults.inject("status", method="GET", path=r"/table/incident$", status=429, retry_after=600)
    code, _out, _err = world.cli("run", "--once")
    assert code == cli.EXIT_FAILED
    code, out, _err = world.cli("status")
    assert "ServiceNow poll held until" in out and "(Retry-After 600 s)" in out
    [hold] = world.cli_json("status")["pacing"]["holds"]
    assert (hold["system"], hold["kind"]) == ("servicenow", "poll")
    world.cli("run", "--once")  # a cron run honours the hold: ServiceNow is not asked again
    assert world.sn.requests.count("GET", "/table/incident") == 1


def test_store_password_is_never_shown(world: World) -> None:
    secret_url = "postgresql://sync:hunter2hunter2@127.0.0.1:1/sync"
    world.write_config(config_text(world.sn, world.at, secret_url))
    for command in (["status"], ["queue", "list"], ["run", "--once"]):
        code, out, err = world.cli(*command)
        assert code in (cli.EXIT_FAILED, cli.EXIT_CONFIG), err  # no driver, or nothing listens there
        assert "hunter2hunter2" not in out + err + world.log_text()
        assert "postgresql://sync:***@127.0.0.1:1/sync" in err


def test_short_commands_work_while_another_engine_holds_the_lease(world: World) -> None:
    incident = world.incident()
    world.cli("run", "--once")
    with Store.open(world.store_url) as store:
        lease = store.acquire_engine_lease("the GUI")
        try:
            status = world.cli_json("status")
            assert status["engine"]["holder"] == "the GUI"
            assert status["engine"]["running"] is True and status["engine"]["stale_reason"] is None
            assert status["engine"]["pid"] == os.getpid()
            code, out, err = world.cli("queue", "approve", incident["number"])
            assert code == cli.EXIT_OK, err
            assert world.cli_json("queue", "list", "--state", "approved")[0]["number"] == incident["number"]
            assert world.cli("links")[0] == cli.EXIT_OK
            code, _out, err = world.cli("explain", incident["number"])  # builds, never starts, the engine
            assert code == cli.EXIT_OK, err
            # The lease is untouched: still the GUI's.
            current = store.lease_info()
            assert current is not None and current.token == lease.token
        finally:
            lease.release()


# ---- explain, dry-run ----------------------------------------------------------------------------


def test_explain(world: World) -> None:
    queued = world.incident(short_description="Queued one")
    world.cli("run", "--once")
    code, out, _err = world.cli("explain", queued["number"])
    assert code == cli.EXIT_OK
    assert f"{queued['number']} is in the queue, waiting for approval" in out
    data = world.cli_json("explain", queued["sys_id"])
    assert data["found"] is True and data["in_queue"] is True and data["state"] == "pending"
    assert list(data) == [
        "key", "found", "in_queue", "state", "summary", "reasons", "ticket_number", "can_push_anyway",
    ]  # fmt: skip

    other = world.incident(category="inquiry")  # never queued: ServiceNow is asked
    code, out, _err = world.cli("explain", other["number"])
    assert code == cli.EXIT_OK and "does not match the trigger" in out
    assert "category" in out

    code, out, _err = world.cli("explain", "INC0999999")
    assert code == cli.EXIT_FAILED and "no incident INC0999999" in out


def test_dry_run_json(world: World) -> None:
    good = world.incident(short_description="Goes through")
    world.cli("run", "--once")
    report = world.cli_json("dry-run")
    assert list(report) == ["would_create", "would_fail", "not_matching"]
    [entry] = report["would_create"]
    assert entry["number"] == good["number"] and entry["ok"] is True and entry["problems"] == []
    assert entry["payload"]["title"] == "Goes through"
    assert report["would_fail"] == [] and report["not_matching"] == []
    assert world.at.tickets() == []  # nothing sent
    code, out, _err = world.cli("dry-run")
    assert code == cli.EXIT_OK and "Would create: 1" in out and good["number"] in out


# ---- run until a signal ---------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal delivery to this process")
def test_run_stops_cleanly_on_sigint(world: World) -> None:
    incident = world.incident()
    world.write_config(
        config_text(world.sn, world.at, world.store_url).replace(
            "[servicenow]", "[servicenow]\npoll_seconds = 5"
        )
    )
    sent = threading.Event()

    def interrupt_once_running() -> None:
        deadline = time.monotonic() + 20
        with Store.open(world.store_url) as store:
            while time.monotonic() < deadline:
                item = store.get_item(incident["sys_id"])
                if store.lease_info() is not None and item is not None:
                    break
                time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
        sent.set()

    killer = threading.Thread(target=interrupt_once_running, daemon=True)
    killer.start()
    started = time.monotonic()
    code, _out, err = world.cli("run")
    killer.join(5)
    assert sent.is_set()
    assert code == cli.EXIT_OK, err
    assert "SIGINT received: stopping the engine" in err and "engine stopped cleanly" in err
    assert time.monotonic() - started < 20
    with Store.open(world.store_url) as store:
        assert store.lease_info() is None  # released on the way out


# ---- the rest of the surface ---------------------------------------------------------------------


def test_headless_run_never_imports_qt(world: World) -> None:
    """``python -m app run --once`` in a fresh interpreter: it works and PySide6 is never loaded."""
    world.incident()
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['triage-sync', '--config', {str(world.config)!r}, 'run', '--once']\n"
        "code = 0\n"
        "try:\n"
        "    runpy.run_module('app', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'qasync')"
        " or m.startswith('app.ui'))\n"
        "print('QT-MODULES', qt)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "QT-MODULES []" in done.stdout
    assert "1 queued" in done.stdout


def test_no_subcommand_starts_the_gui_lazily(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str | None, bool]] = []
    fake = types.ModuleType("app.ui.app")

    def run_gui(config_path: str | None, demo: bool) -> int:
        calls.append((config_path, demo))
        return 0

    fake.run_gui = run_gui  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "app.ui.app", fake)
    assert cli.main(["--demo"]) == 0
    assert cli.main(["--config", "x.toml"]) == 0
    assert calls == [(None, True), ("x.toml", False)]
    with pytest.raises(SystemExit) as exc:
        cli.main(["--demo", "status"])
    assert exc.value.code == 2


def test_simulate_passes_options(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import app.simulators.demo as demo

    seen: list[tuple[int, str, int, int, list[str]]] = []
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path))

    def fake_simulate(
        seed: int, scenario: str, servicenow_port: int, autotask_port: int, *, faults: list[str]
    ) -> int:
        seen.append((seed, scenario, servicenow_port, autotask_port, faults))
        return 0

    monkeypatch.setattr(demo, "run_simulate", fake_simulate)
    argv = [
        "simulate",
        "--seed",
        "7",
        "--scenario",
        "busy",
        "--servicenow-port",
        "8701",
        "--autotask-port",
        "8702",
    ]
    assert cli.main(argv) == 0
    assert seen == [(7, "busy", 8701, 8702, [])]
    assert cli.main(["simulate", "--fault", "servicenow=outage", "--fault", "autotask=storm"]) == 0
    assert seen[-1] == (0, "lively", 0, 0, ["servicenow=outage", "autotask=storm"])


def test_config_resolution_env_and_option_after_subcommand(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_SYNC_CONFIG", str(world.config))
    world.capsys.readouterr()
    assert cli.main(["config", "path"]) == 0
    assert world.capsys.readouterr().out.strip() == str(world.config)
    assert cli.main(["config", "path", "--config", "/elsewhere.toml"]) == 0
    assert world.capsys.readouterr().out.strip() == "/elsewhere.toml"
    assert cli.main(["status", "--json"]) == 0  # found through the environment
    assert json.loads(world.capsys.readouterr().out)["config_path"] == str(world.config)


def test_config_init_writes_default_and_refuses_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path / "logs"))
    target = tmp_path / "sub" / "config.toml"
    assert cli.main(["--config", str(target), "config", "init"]) == 0
    assert "[servicenow]" in target.read_text(encoding="utf-8")
    assert cli.main(["--config", str(target), "config", "check"]) == 0
    assert cli.main(["--config", str(target), "config", "init"]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        [], ["run"], ["queue"], ["queue", "list"], ["queue", "approve"], ["queue", "reject"], ["links"],
        ["status"], ["explain"], ["dry-run"], ["simulate"], ["config"], ["config", "init"],
    ],
)  # fmt: skip
def test_every_command_has_help_with_examples(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main([*argv, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "example" in text and "--config" in text
    if not argv:
        assert "exit codes:" in text


def test_log_level_option_and_quiet_http_loggers(world: World) -> None:
    import logging

    world.incident()
    code, _out, err = world.cli("--log-level", "warning", "run", "--once")
    assert code == cli.EXIT_OK and "queued" not in err
    code, _out, err = world.cli("--log-level", "debug", "run", "--once")
    assert code == cli.EXIT_OK and "DEBUG" in err
    assert "HTTP Request" not in err  # httpx never goes below WARNING
    from app.logging_setup import StderrHandler

    ours = [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, StderrHandler) or str(getattr(h, "baseFilename", "")).startswith(str(world.log_dir))
    ]
    assert ours == []  # every command removes (and closes) its handlers again


def test_config_check_online_validates_close_codes_against_the_instance(world: World) -> None:
    code, out, err = world.cli("config", "check", "--online")
    assert code == cli.EXIT_OK, err
    assert "OK: ServiceNow: Connected" in out and "OK: Autotask:" in out
    assert "close codes are offered" in out
    world.write_config(
        world.config.read_text(encoding="utf-8"), return_trip='default_close_code = "Fixed it"'
    )
    code, out, err = world.cli("config", "check", "--online")
    assert code == cli.EXIT_FAILED
    [line] = [line for line in err.splitlines() if "Fixed it" in line]
    assert line.startswith("FAILED: ServiceNow: return_trip.default_close_code")
    assert "Solution provided" in line


def test_run_once_says_what_is_left_undone_and_exits_1(world: World) -> None:
    """A later run with nothing due (the retry waits) still exits 1 and names the item."""
    incident = world.incident()
    world.at.faults.inject("status", method="POST", path=r"/Tickets$", status=429, count=20)
    first = world.cli("run", "--once", "--auto-push")
    assert first[0] == cli.EXIT_FAILED, first
    world.at.faults.clear()
    code, out, err = world.cli("run", "--once", "--auto-push")
    assert code == cli.EXIT_FAILED
    assert "0 failed, 1 left undone" in out
    [line] = [line for line in err.splitlines() if line.startswith("UNDONE:")]
    assert incident["number"] in line and "not pushed" in line


def test_links_say_which_tickets_were_adopted(world: World) -> None:
    ticket_id = world.at.add_ticket(title="Opened by phone")
    incident = world.incident(correlation_id=str(ticket_id))
    assert world.cli("run", "--once")[0] == cli.EXIT_OK  # linked at once, even without auto-push
    code, out, _err = world.cli("links")
    assert code == cli.EXIT_OK
    [row] = [line for line in out.splitlines() if incident["number"] in line]
    assert "adopted" in row and "HOW" in out
    [entry] = world.cli_json("links")
    assert entry["adopted"] is True and entry["ticket_id"] == ticket_id
    assert world.at.tickets() == [world.at.ticket(ticket_id)]


def test_reconciliation_lines_say_when_and_what_was_found() -> None:
    from datetime import UTC, datetime

    from app.engine.reconcile import ReconcileResult
    from app.headless import CursorStatus, reconcile_line, reconcile_report_lines

    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    cursor = CursorStatus("servicenow", at, at, None, None, at, 2, "INC0010001, INC0010002", at)
    assert reconcile_line(cursor) == (
        "reconciliation 2026-01-05 09:00:00 UTC found 2 missed by the incremental poll: "
        "INC0010001, INC0010002; next 2026-01-05 09:00:00 UTC"
    )
    quiet = CursorStatus("autotask", at, at, None, None, at, 0, None, None)
    assert reconcile_line(quiet) == "reconciliation 2026-01-05 09:00:00 UTC found nothing missed"
    lines = reconcile_report_lines(
        [ReconcileResult("servicenow", at, 40, ("INC0010001",)), ReconcileResult("autotask", at, 3, ())]
    )
    assert lines == [
        "reconciliation (ServiceNow): checked 40, found 1 missed: INC0010001",
        "reconciliation (Autotask): checked 3, found nothing",
    ]
