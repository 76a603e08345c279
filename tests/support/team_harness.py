"""Team mode across processes: a config file for the simulators and a shared store, the engine as
a real ``triage-sync run`` subprocess, CLI desks, and bounded waits on conditions."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from sim_harness import SimHarness

from app.store import Store

REPO = Path(__file__).resolve().parents[2]
WAIT = 60.0  # a generous bound: two cores shared by many test runs


def write_config(h: SimHarness, path: Path, store_url: str, *, auto_push: bool = False) -> Path:
    path.write_text(
        f"""
[servicenow]
url = "{h.sn.base_url}"
username = "{h.sn.settings.username}"
poll_seconds = 5
timeout_seconds = 10

[autotask]
url = "{h.at.rest_base}"
username = "{h.at.settings.username}"
integration_code = "{h.at.settings.integration_code}"
poll_seconds = 10
timeout_seconds = 10
budget_share = 1.0

[store]
url = "{store_url}"

[outbound]
company_id = 174
default_queue = "Level I Support"
auto_push = {"true" if auto_push else "false"}
""",
        encoding="utf-8",
    )
    return path


def process_env(h: SimHarness, tmp: Path, *, credentials: bool = True) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SERVICENOW_PASSWORD", "AUTOTASK_SECRET", "TRIAGE_SYNC_DB_PASSWORD")
    }
    env.update(
        {
            "TRIAGE_SYNC_LOG_DIR": str(tmp / "logs"),
            "TRIAGE_SYNC_HOME": str(tmp / "home"),
            "PYTHONPATH": str(REPO),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
        }
    )
    if credentials:
        env["SERVICENOW_PASSWORD"] = h.sn.settings.password
        env["AUTOTASK_SECRET"] = h.at.settings.secret
    return env


async def start_cli(
    config: Path, args: Sequence[str], env: dict[str, str], *, stderr_pipe: bool = True
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "--config",
        str(config),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE if stderr_pipe else asyncio.subprocess.DEVNULL,
        env=env,
        cwd=str(REPO),
    )


async def run_cli(config: Path, args: Sequence[str], env: dict[str, str]) -> tuple[int, str]:
    """A short command (a desk's approve/reject): its exit code and its output (both streams)."""
    proc = await start_cli(config, args, env)
    out, err = await asyncio.wait_for(proc.communicate(), WAIT)
    assert proc.returncode is not None
    return proc.returncode, (out + err).decode(errors="replace")


async def until(
    condition: Callable[[], bool],
    what: str,
    timeout: float = WAIT,
    *,
    step: float = 0.05,
    watch: Sequence[StderrLines] = (),
) -> None:
    """Wait for ``condition`` (checked every ``step``), failing with ``what`` after ``timeout``, or
    at once when a watched process ended meanwhile (with the end of its stderr)."""
    deadline = time.monotonic() + timeout
    while not condition():
        for lines in watch:
            if lines.proc.returncode is not None:
                await lines.task
                tail = "".join(lines.lines[-30:])
                raise AssertionError(f"process exited ({lines.proc.returncode}) before {what}:\n{tail}")
        if time.monotonic() > deadline:
            tails = "".join("".join(lines.lines[-30:]) for lines in watch)
            raise AssertionError(f"timed out waiting for {what}\n{tails}")
        await asyncio.sleep(step)


class StderrLines:
    """Drains a long-running process's stderr (a full pipe would block its logging) and lets a
    test wait for a line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        self.proc = proc
        self.stream = proc.stderr
        self.lines: list[str] = []
        self._new = asyncio.Event()
        self.task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        while line := await self.stream.readline():
            self.lines.append(line.decode(errors="replace"))
            self._new.set()
        self._new.set()

    async def wait_for(self, needle: str, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if needle in line:
                    return line
            seen = len(self.lines)
            if self.task.done():
                raise AssertionError(f"stderr ended before {needle!r}:\n{''.join(self.lines[-20:])}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}:\n{''.join(self.lines[-20:])}")
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except TimeoutError:
                continue


def lease_pid(store: Store) -> int | None:
    lease = store.lease_info()
    return lease.pid if lease is not None else None


async def stop_process(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.terminate()
    return await asyncio.wait_for(proc.wait(), WAIT)
