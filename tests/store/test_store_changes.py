"""The change feed: a commit on one store connection wakes a feed on another (NOTIFY on
PostgreSQL, data_version + store_change on SQLite); a rollback wakes nobody; own writes are told
apart from other writers'; a feed reconnects after the server dropped its connection."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from store_helpers import T0, IncidentFactory

from app.store import Store
from app.store.changes import ALL_TOPICS, Change, ChangeFeed, parse_payload

WAIT = 10.0  # bound for one delivery; a delivery normally takes milliseconds


@pytest.fixture
def other(db_url: str) -> Iterator[Store]:
    """A second Store on the same database: another desk or the engine, with its own origin."""
    opened = Store.open(db_url)
    try:
        yield opened
    finally:
        opened.close()


async def test_a_decision_on_another_connection_wakes_the_feed(
    store: Store, other: Store, make_incident: IncidentFactory
) -> None:
    other.upsert_from_incident(make_incident(1), now=T0)
    feed = ChangeFeed(store.engine)
    await feed.start()
    try:
        assert feed.connected
        waiting = feed.wait({"queue"}, timeout=WAIT)
        other.approve(["INC0000001"], "anna", now=T0)
        change = await waiting
        assert change is not None and "queue" in change.topics and "audit" in change.topics
        assert change.foreign_to(feed.origin)
    finally:
        await feed.close()


async def test_own_writes_and_rollbacks_are_not_foreign_news(
    store: Store, other: Store, make_incident: IncidentFactory
) -> None:
    feed = ChangeFeed(store.engine)
    await feed.start()
    seen: list[Change] = []
    feed.subscribe(seen.append)
    try:
        with store.engine.begin() as conn:  # rolled back: never announced
            conn.execute(text("DELETE FROM engine_state"))
            conn.rollback()
        store.upsert_from_incident(make_incident(1), now=T0)  # ours: delivered, but not foreign
        own = await feed.wait({"queue"}, timeout=WAIT, foreign_only=False)
        assert own is not None and not own.foreign_to(feed.origin)
        other.put_state("x", {"a": 1}, now=T0)  # the first foreign news is this one
        change = await feed.wait(timeout=WAIT)
        assert change is not None and change.topics == {"state"}
        assert all("state" not in c.topics or c.foreign_to(feed.origin) for c in seen)
    finally:
        await feed.close()


async def test_postgres_feed_reconnects_and_resyncs(store: Store, other: Store, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("the LISTEN connection is PostgreSQL's")
    feed = ChangeFeed(store.engine)
    await feed.start()
    try:
        resync = feed.wait(timeout=WAIT * 2, foreign_only=False)
        with other.engine.connect() as conn:  # an administrator (or a failover) kills our session
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
                    " AND datname = current_database() AND application_name = ''"
                    " AND query LIKE :channel"
                ),
                {"channel": f"%{feed_channel(other)}%"},
            )
            conn.commit()
        change = await resync
        assert change is not None and change.resync and change.topics == ALL_TOPICS
        assert feed.connected
        after = feed.wait({"state"}, timeout=WAIT)
        other.put_state("y", {"b": 2}, now=T0)
        assert await after is not None
    finally:
        await feed.close()


def feed_channel(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(text("SELECT current_schema()")).scalar())


def test_payloads_parse_defensively() -> None:
    change = parse_payload("audit,queue|h:1:ab")
    assert change.topics == {"audit", "queue"} and change.origins == {"h:1:ab"} and not change.resync
    odd = parse_payload("nonsense")  # not ours, or a newer writer's format: refresh everything
    assert odd.resync and odd.topics == ALL_TOPICS


async def test_a_new_aggregate_table_announces_under_its_own_topic(store: Store, other: Store) -> None:
    from app.store import changes

    with other.engine.begin() as conn:
        conn.execute(text("CREATE TABLE team_note (id INTEGER PRIMARY KEY, body TEXT)"))
    changes.watch_table("team_note", "notes")
    feed = ChangeFeed(store.engine)
    await feed.start()
    try:
        waiting = feed.wait({"notes"}, timeout=WAIT)
        with other.engine.begin() as conn:
            conn.execute(text("INSERT INTO team_note (id, body) VALUES (1, 'claimed')"))
        change = await waiting
        assert change is not None and change.topics == {"notes"}
    finally:
        await feed.close()
        changes.TOPICS.pop("team_note", None)
        changes.ALL_TOPICS = frozenset(changes.TOPICS.values())
