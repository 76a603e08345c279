"""The engine API's people side over a real store: claims, who is reviewing, decisions with what
the desk saw."""

from __future__ import annotations

from engine_harness import Harness


async def test_claims_and_reviewers_through_the_engine(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine()
    await engine.run_once()
    number = incident["number"]
    assert await engine.claim(number, "anna") == []
    assert await engine.claim(number, "bob") == ["anna"]  # Bob opens it: Anna is reviewing
    [row] = await engine.list_queue()
    assert row.reviewers == ("anna", "bob")
    assert await engine.reviewing() == {incident["sys_id"]: ("anna", "bob")}
    await engine.release_claim("anna")
    assert await engine.reviewers(number, "bob") == []
    assert await engine.claim("INC9999999", "bob") == []  # not in the queue: nothing to claim


async def test_a_desk_that_looked_before_another_decided_is_told_who(harness: Harness) -> None:
    incident = harness.incident()
    engine = harness.engine()
    await engine.run_once()
    number = incident["number"]
    [approved] = await engine.approve([number], "anna", seen={number: "pending"})
    assert approved.ok and approved.status == "changed"
    [rejected] = await engine.reject([number], "bob", "duplicate", seen={number: "pending"})
    assert not rejected.ok and rejected.status == "conflict"
    assert f"{number}: already approved by anna at " in rejected.message


async def test_claims_after_the_store_closed_do_nothing(harness: Harness) -> None:
    """A window releasing its claim while the app shuts down must not reopen the database."""
    engine = harness.engine()
    engine.store.close()
    await engine.release_claim("anna")
    assert await engine.claim("INC0000001", "anna") == []
    assert await engine.reviewing() == {}
    assert engine.store.engine.pool.checkedin() == 0  # no connection was opened again
