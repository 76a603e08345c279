"""A desk without API credentials asks the running engine for live reads through the store."""

from __future__ import annotations

import pytest
from engine_harness import Harness

from app.engine.desk_requests import (
    DeskRequestFailed,
    EngineDidNotAnswer,
    ask_engine,
    explanation_from_answer,
)
from app.store import Store


async def test_running_engine_answers_a_desks_explain_request(harness: Harness) -> None:
    other = harness.incident(category="inquiry")  # not queued: only ServiceNow knows it
    engine = harness.engine()
    await engine.start()
    assert engine.config.store.url
    desk = Store.open(engine.config.store.url)  # the desk: same database, no API clients at all
    try:
        answer = await ask_engine(desk, "explain", other["number"], timeout=30, asked_by="anna")
        explanation = explanation_from_answer(answer)
        assert explanation.found and not explanation.in_queue and explanation.can_push_anyway
        assert any("category" in reason for reason in explanation.reasons)
        with pytest.raises(DeskRequestFailed, match="ServiceNow has no incident INC9999999"):
            await ask_engine(desk, "reread", "INC9999999", timeout=30)
    finally:
        desk.close()
        await engine.stop()


async def test_reread_takes_the_incident_in_now(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine()
    await engine.run_once()
    harness.sn.update_incident(incident["sys_id"], short_description="Printer now smoking")
    await engine.start()
    try:
        answer = await ask_engine(engine.store, "reread", incident["number"], timeout=30)
        assert answer["state"] == "pending" and answer["number"] == incident["number"]
        item = engine.store.get_item(incident["number"])
        assert item is not None and item.short_description == "Printer now smoking"
    finally:
        await engine.stop()


async def test_no_engine_no_answer_in_time(harness: Harness) -> None:
    config = harness.config()
    assert config.store.url
    desk = Store.open(config.store.url)
    try:
        with pytest.raises(EngineDidNotAnswer, match=r"did not answer within 0.2 s \(is it running\?\)"):
            await ask_engine(desk, "explain", "INC0000001", timeout=0.2, poll_seconds=0.05)
        assert desk.pending_requests() == []  # closed: a late engine does not read for nobody
    finally:
        desk.close()


async def test_push_anyway_and_poll_now_through_the_engine(harness: Harness) -> None:
    other = harness.incident(category="inquiry")  # the trigger does not select it
    engine = harness.engine()
    await engine.start()
    assert engine.config.store.url
    desk = Store.open(engine.config.store.url)
    try:
        params = {"reason": "VIP caller, agreed with the lead"}
        answer = await ask_engine(desk, "push_anyway", other["number"], 30, asked_by="anna", params=params)
        assert answer["ok"] and answer["status"] == "changed", answer
        item = desk.get_item(other["number"])
        assert item is not None and (item.decided_by, item.forced_reason) == ("anna", params["reason"])
        assert (await ask_engine(desk, "poll_now", "", 30))["summary"] == "polled ServiceNow and Autotask"
    finally:
        desk.close()
        await engine.stop()


async def test_an_attached_desk_explains_through_the_engine(harness: Harness) -> None:
    """attach() wires the desk's live reads to desk requests: no credentials at the desk."""
    from app.engine.attach import attach

    other = harness.incident(category="inquiry")  # not in the store: only ServiceNow knows it
    engine = harness.engine()
    await engine.start()
    desk = await attach(engine.config, name="anna")
    try:
        explanation = await desk.explain(other["number"])
        assert explanation.found and not explanation.in_queue and explanation.can_push_anyway
    finally:
        await desk.close()
        await engine.stop()
