"""A hostile answer in the middle of a push: the item must never stay stuck in ``pushing``.

Before the fix, deeply nested JSON made the parser raise ``RecursionError`` (not a connector error),
the push round died with it and the item stayed ``pushing`` until a restart. Now it is an unknown
outcome like a lost answer: the same run searches Autotask for it and links exactly one ticket.
"""

from __future__ import annotations

from engine_harness import Harness

from app.store import QueueState


async def test_deeply_nested_create_answer_is_an_unknown_outcome_not_a_stuck_item(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine(harness.config(outbound={"auto_push": True}))
    # The create is processed; the answer is JSON nested 100,000 levels deep.
    harness.at.faults.inject("deep_json", method="POST", path=r"/Tickets$", count=1)
    first = await engine.run_once()
    # run --once settles unknown outcomes in the same run: found by externalID, linked, not re-created
    assert first.ok and first.pushed == 1, (first.failures, first.undone)
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    searches = [e for e in harness.at.requests.entries() if e.method == "POST" and "query" in e.path]
    assert searches, "the ticket must have been found by a search, not assumed"
    second = await engine.run_once()
    assert second.ok, second.failures
    assert len(harness.tickets_for(incident["sys_id"])) == 1
    item = engine.store.get_item(incident["sys_id"])
    assert item is not None and item.state == QueueState.PUSHED


async def test_deeply_nested_poll_answer_fails_the_poll_cleanly(harness: Harness) -> None:
    harness.incident()
    engine = harness.engine()
    harness.sn.faults.inject("deep_json", method="GET", path="/table/incident", count=10)
    report = await engine.run_once()
    assert report.failures  # reported, not raised
    assert engine.health("servicenow").level in ("degraded", "offline")


async def test_record_urls_opened_in_the_browser_only_carry_real_ids(harness: Harness) -> None:
    engine = harness.engine(harness.config(autotask={"web_url": "https://ww5.autotask.net"}))
    good = engine.record_url("servicenow", "6816f79cc0a8016401c5a33be04be441")
    assert good is not None and good.endswith("sys_id%3D6816f79cc0a8016401c5a33be04be441")
    assert engine.record_url("autotask", "7001") is not None
    assert engine.record_url("servicenow", "x%26sysparm_view%3Devil") is None
    assert engine.record_url("autotask", "7001&x=javascript:alert(1)") is None
