"""Crash safety: a headless engine in a subprocess is SIGKILLed at random moments (seeded, bounded)
while it auto-pushes a few hundred incidents and applies Autotask changes; each time it is
restarted. At the end every incident has exactly one ticket, a stored link and its correlation
write-back; every Autotask change is on its incident; the audit log tells one consistent story."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

from proof_harness import AT_SECRET, SN_PASSWORD, Harness
from sqlmodel import select

from app.store import AuditOutcome, Link, QueueState, Store, WritebackState

INCIDENTS = 200
KILLS = 15
SEED = 6
WORKER = Path(__file__).with_name("crash_worker.py")
REPO = Path(__file__).resolve().parents[2]


def write_config(h: Harness, path: Path) -> None:
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
url = "sqlite:///{h.db_path}"

[outbound]
company_id = 174
default_queue = "Level I Support"
auto_push = true
""",
        encoding="utf-8",
    )


async def start_worker(config: Path, stop: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WORKER),
        str(config),
        str(stop),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        cwd=str(REPO),
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    assert line.strip() == b"ready", line
    return proc


async def test_sigkill_at_random_moments_loses_and_duplicates_nothing(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    rng = random.Random(SEED)
    # Slow both systems a little so kills land mid-create, mid-write-back and mid-return-update.
    h.at.settings.latency = 0.02
    h.sn.faults.inject("latency", method="*", path=r"/table/incident", count=None, seconds=0.01)
    incidents = [h.incident(short_description=f"Crash test {n}") for n in range(INCIDENTS)]
    by_sys_id = {i["sys_id"]: i for i in incidents}
    config, stop = tmp_path / "config.toml", tmp_path / "stop"
    write_config(h, config)
    env = {
        **os.environ,
        "SERVICENOW_PASSWORD": SN_PASSWORD,
        "AUTOTASK_SECRET": AT_SECRET,
        "TRIAGE_SYNC_LOG_DIR": str(tmp_path / "logs"),
        "PYTHONPATH": str(REPO),
    }
    changed: set[int] = set()  # tickets a technician moved to In Progress

    for _ in range(KILLS):
        proc = await start_worker(config, stop, env)
        await asyncio.sleep(rng.uniform(0.05, 0.8))
        proc.send_signal(signal.SIGKILL)
        await proc.wait()  # reaped: its pid is dead, so the next start takes the lease over at once
        ours = [t for t in h.at.tickets() if t["externalID"] in by_sys_id and t["id"] not in changed]
        for ticket in rng.sample(ours, min(len(ours), 8)):
            h.at.technician_update(ticket["id"], status="In Progress")
            changed.add(ticket["id"])

    stop.touch()
    proc = await start_worker(config, stop, env)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
    assert line.strip() == b"idle"
    assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    h.sn.faults.clear()

    store = Store.open(f"sqlite:///{h.db_path}")
    try:
        with store._read() as session:
            links = {link.sys_id: link for link in session.exec(select(Link)).all()}
        audit = store.list_audit(limit=100_000)
        assert store.lease_info() is None  # the last run released it
        items = {i.sys_id: i for i in store.list_items()}
    finally:
        store.close()

    duplicate_notes: list[str] = []
    for sys_id, incident in by_sys_id.items():
        tickets = h.tickets_for(sys_id)
        assert len(tickets) == 1, f"{incident['number']}: {len(tickets)} tickets"
        link = links.get(sys_id)
        assert link is not None and link.ticket_id == tickets[0]["id"], incident["number"]
        assert items[sys_id].state == QueueState.PUSHED
        assert link.writeback_state == WritebackState.DONE
        record = h.sn.get_record(sys_id)
        assert record["correlation_id"] == str(link.ticket_id)
        assert record["correlation_display"] == tickets[0]["ticketNumber"]
        notes = h.writeback_notes(sys_id)
        assert notes, f"{incident['number']}: no write-back note"
        if len(notes) > 1:
            duplicate_notes.append(f"{incident['number']} write-back x{len(notes)}")
        if tickets[0]["id"] in changed:
            assert record["state"] == "2", f"{incident['number']}: Autotask change lost"
            assert link.return_synced.get("status") == "In Progress"
            returns = h.return_notes(sys_id)
            assert returns, f"{incident['number']}: no return-trip note"
            if len(returns) > 1:
                duplicate_notes.append(f"{incident['number']} return x{len(returns)}")
        else:
            assert record["state"] == "1"

    # The audit log: one successful create-or-recover per incident, naming the linked ticket;
    # every ticket the audit names exists and carries that incident's sys_id.
    linking = [e for e in audit if e.kind in ("create", "recovered") and e.outcome == AuditOutcome.OK]
    assert sorted(e.sys_id or "" for e in linking) == sorted(by_sys_id)
    tickets_by_id = {t["id"]: t for t in h.at.tickets()}
    for event in linking:
        assert event.ticket_id == links[event.sys_id or ""].ticket_id
        assert tickets_by_id[event.ticket_id]["externalID"] == event.sys_id
    done = [e for e in audit if e.kind == "writeback" and e.outcome == AuditOutcome.OK]
    assert {e.sys_id for e in done} >= set(by_sys_id)
    resumed = [e for e in audit if e.kind == "system" and "resuming" in e.summary]
    assert len(resumed) <= KILLS + 1

    # A kill between an incident PATCH and storing its outcome must not re-send the work note.
    assert not duplicate_notes, f"work note written twice after a kill: {duplicate_notes}"
