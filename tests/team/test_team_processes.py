"""Team mode across real processes: ``triage-sync run`` as the engine, CLI desks deciding at the
same time, and a ``run --standby`` taking over from an engine killed (SIGKILL) mid-push. Every
approved item ends with exactly one ticket and one work note; every rejected one with none."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sim_harness import SimHarness
from team_harness import (
    StderrLines,
    lease_pid,
    process_env,
    run_cli,
    start_cli,
    stop_process,
    until,
    write_config,
)

from app.store import QueueState, Store, WritebackState


def _states(store: Store, numbers: list[str]) -> dict[str, QueueState]:
    items = {item.number: item for item in store.list_items()}
    return {number: items[number].state for number in numbers if number in items}


def _written_back(store: Store, sys_ids: list[str]) -> bool:
    links = [store.get_link(sys_id=sys_id) for sys_id in sys_ids]
    return all(link is not None and link.writeback_state == WritebackState.DONE for link in links)


async def test_two_desks_decide_concurrently_beside_a_running_engine(
    harness: SimHarness, team_url: str, tmp_path: Path
) -> None:
    h = harness
    incidents = [h.incident(short_description=f"Team item {n}") for n in range(6)]
    numbers = [i["number"] for i in incidents]
    config = write_config(h, tmp_path / "engine.toml", team_url)
    desk_config = write_config(h, tmp_path / "desk.toml", team_url)
    store = Store.open(team_url)
    engine = await start_cli(config, ["run"], process_env(h, tmp_path))
    engine_log = StderrLines(engine)
    try:
        await until(
            lambda: lease_pid(store) == engine.pid, "the engine to take the lease", watch=[engine_log]
        )
        await until(lambda: len(_states(store, numbers)) == 6, "all six incidents queued", watch=[engine_log])
        desk_env = process_env(h, tmp_path, credentials=False)  # desks hold no API credentials
        a, b, c, d, e, f = numbers
        results = await asyncio.gather(
            run_cli(desk_config, ["queue", "approve", a, b, e, "--by", "anna"], desk_env),
            run_cli(desk_config, ["queue", "approve", b, f, "--by", "ben"], desk_env),
            run_cli(desk_config, ["queue", "reject", a, c, "--by", "ben"], desk_env),
            run_cli(desk_config, ["queue", "reject", c, d, "--by", "anna"], desk_env),
        )
        outputs = "\n".join(out for _, out in results)
        assert "Traceback" not in outputs, outputs

        def settled() -> bool:
            states = _states(store, numbers)
            return all(state in (QueueState.PUSHED, QueueState.REJECTED) for state in states.values())

        await until(settled, "every decision carried out by the engine")
        sys_ids = {i["number"]: i["sys_id"] for i in incidents}
        pushed = [n for n, state in _states(store, numbers).items() if state == QueueState.PUSHED]
        await until(lambda: _written_back(store, [sys_ids[n] for n in pushed]), "the write-backs")
    finally:
        code = await stop_process(engine)
        await engine_log.task
        store_states = _states(store, numbers)
        audit = store.list_audit(limit=1000)
        store.close()
    assert code == 0, "".join(engine_log.lines[-20:])

    # b, e, f were only ever approved; c, d only rejected; a was approved and rejected at once:
    # one decision won, the other desk was told (exit 1), and the outcome matches the winner.
    assert {store_states[n] for n in (b, e, f)} == {QueueState.PUSHED}
    assert {store_states[n] for n in (c, d)} == {QueueState.REJECTED}
    assert store_states[a] in (QueueState.PUSHED, QueueState.REJECTED)
    for incident in incidents:
        tickets = h.tickets_for(incident["sys_id"])
        expected = 1 if store_states[incident["number"]] == QueueState.PUSHED else 0
        assert len(tickets) == expected, f"{incident['number']}: {len(tickets)} tickets"
        assert len(h.writeback_notes(incident["sys_id"])) == expected
    # b was approved by both desks at once: one decision recorded, the other found it done already.
    assert len([e for e in audit if e.summary.startswith(f"{b} approved by")]) == 1
    assert f"{b}: already approved" in outputs or f"{b}: cannot be approved" in outputs
    # a: whichever desk came second was told what happened (refused, or it overrode an approval
    # the engine had not started yet); never a ticket for a rejected item (checked above).
    decisions = [e.summary for e in audit if e.summary.startswith((f"{a} approved by", f"{a} rejected by"))]
    assert 1 <= len(decisions) <= 2, decisions


async def test_standby_takes_over_from_an_engine_killed_mid_push(
    harness: SimHarness, team_url: str, tmp_path: Path
) -> None:
    h = harness
    incidents = [h.incident(short_description=f"Failover item {n}") for n in range(3)]
    numbers = [i["number"] for i in incidents]
    sys_ids = [i["sys_id"] for i in incidents]
    config = write_config(h, tmp_path / "engine.toml", team_url)
    env = process_env(h, tmp_path)
    store = Store.open(team_url)
    first = await start_cli(config, ["run"], env)
    first_log = StderrLines(first)
    standby = None
    try:
        await until(
            lambda: lease_pid(store) == first.pid, "the first engine to take the lease", watch=[first_log]
        )
        standby = await start_cli(config, ["run", "--standby"], env)
        standby_log = StderrLines(standby)
        await standby_log.wait_for("standby:")
        await until(lambda: len(_states(store, numbers)) == 3, "the incidents queued")

        # Autotask creates the first ticket but holds its answer: the engine is mid-push.
        fault = h.at.faults.inject("hang_after", method="POST", path=r"/Tickets$", count=1, seconds=60)
        [result] = store.approve([numbers[0]], "anna")
        assert result.ok
        await until(lambda: fault.fired == 1 and bool(h.tickets_for(sys_ids[0])), "the held create")
        store.approve(numbers[1:], "anna")  # approvals written while the engine is dying
        first.send_signal(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL  # reaped: its pid is gone on this host

        await standby_log.wait_for("this process runs the engine now")
        await until(lambda: lease_pid(store) == standby.pid, "the standby to hold the lease")
        await until(
            lambda: (
                set(_states(store, numbers).values()) == {QueueState.PUSHED} and _written_back(store, sys_ids)
            ),
            "every approved item pushed and written back by the standby",
        )
    finally:
        h.at.faults.clear()
        if first.returncode is None:
            first.kill()
            await first.wait()
        await first_log.task
        if standby is not None:
            assert await stop_process(standby) == 0
        audit = store.list_audit(limit=1000)
        store.close()

    for sys_id in sys_ids:
        assert len(h.tickets_for(sys_id)) == 1, f"{sys_id}: duplicate or missing ticket"
        assert len(h.writeback_notes(sys_id)) == 1, f"{sys_id}: work note count"
    assert any("Took over the engine lease" in event.summary for event in audit)
    # The ticket created before the kill was found and linked, not created a second time.
    assert any(event.kind == "recovered" and event.sys_id == sys_ids[0] for event in audit)


async def test_a_waiting_standby_stops_cleanly_and_leaves_the_engine_alone(
    harness: SimHarness, team_url: str, tmp_path: Path
) -> None:
    config = write_config(harness, tmp_path / "engine.toml", team_url)
    env = process_env(harness, tmp_path)
    store = Store.open(team_url)
    engine = await start_cli(config, ["run"], env)
    engine_log = StderrLines(engine)
    try:
        await until(lambda: lease_pid(store) == engine.pid, "the engine's lease", watch=[engine_log])
        standby = await start_cli(config, ["run", "--standby"], env)
        standby_log = StderrLines(standby)
        line = await standby_log.wait_for("standby:")
        assert f"pid {engine.pid}" in line and "runs the engine" in line
        assert await stop_process(standby) == 0  # SIGTERM while waiting: a clean exit
        await standby_log.task
        assert lease_pid(store) == engine.pid
    finally:
        assert await stop_process(engine) == 0
        await engine_log.task
        store.close()
