"""AutotaskClient against the Autotask simulator over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.connectors.autotask import AutotaskClient, in_filter, normalise_rest_base, or_terms, strip_nulls
from app.connectors.budget import BudgetState, RequestBudget
from app.connectors.errors import AuthFailed, RateLimited, Rejected, Transient, UnexpectedResponse
from app.connectors.retry import RetryPolicy
from app.secrets import Secret
from app.simulators.autotask import AutotaskSimSettings, AutotaskSimulator
from app.simulators.clock import ManualClock

SECRET = "s3cr3t-VALUE-xyz"
CODE = "INTCODE-ABC123"
USER = "api@example.com"
FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)
ONE_TRY = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.05)
START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


def sim_settings() -> AutotaskSimSettings:
    return AutotaskSimSettings(username=USER, integration_code=CODE, secret=SECRET)


@pytest.fixture(scope="module")
def running() -> Iterator[AutotaskSimulator]:
    with AutotaskSimulator(clock=ManualClock(START), settings=sim_settings()) as simulator:
        yield simulator


@pytest.fixture
def sim(running: AutotaskSimulator) -> AutotaskSimulator:
    running.reset(sim_settings())
    assert isinstance(running.clock, ManualClock)
    running.clock.set(START)
    return running


def make_client(base_url: str, **options: Any) -> AutotaskClient:
    options.setdefault("retry", FAST)
    options.setdefault("timeout", 5)
    return AutotaskClient(
        username=USER, integration_code=CODE, secret=Secret(SECRET), base_url=base_url, **options
    )


@pytest.fixture
async def client(sim: AutotaskSimulator) -> AsyncIterator[AutotaskClient]:
    async with make_client(sim.rest_base) as at:
        yield at


def assert_no_credentials(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text and CODE not in text, text


EXTERNAL_ID = "a9e30c7dc61122760116894de7bcc7bd"
NEW_TICKET: dict[str, object] = {
    "title": "Mail server down",
    "companyID": 174,
    "status": 1,
    "priority": 4,
    "queueID": 29683483,
    "dueDateTime": "2026-01-06T09:00:00.000Z",
    "externalID": EXTERNAL_ID,
}


# ---- reads, paging, splitting --------------------------------------------------------------------


async def test_paging_follows_the_cursor_with_the_same_body(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    created = sim.seed_tickets(1200)
    pages = [page async for page in client.query_tickets([{"op": "exist", "field": "id"}])]
    assert [len(p) for p in pages] == [500, 500, 200]
    assert [t.id for p in pages for t in p] == created
    first, *follow_ups = sim.requests.entries("POST", "/Tickets/query")
    assert first.path.endswith("/Tickets/query") and len(follow_ups) == 2
    assert all(e.path.endswith("/query/next") and e.body == first.body for e in follow_ups)
    assert first.body["IncludeFields"][0] == "id"


async def test_small_pages(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    created = sim.seed_tickets(23)
    pages = [
        p async for p in client.query_tickets([{"op": "gte", "field": "id", "value": 0}], max_records=10)
    ]
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [t.id for p in pages for t in p] == created
    assert await client.count_tickets([{"op": "gte", "field": "id", "value": 0}]) == 23


async def test_in_lists_are_split_below_500_or_terms(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    created = sim.seed_tickets(1200)
    found = [t.id async for page in client.query_tickets_by_ids(created) for t in page]
    assert sorted(found) == created
    queries = sim.requests.entries("POST", "/Tickets/query")
    assert len(queries) == 3
    assert all(or_terms(e.body["filter"]) <= 500 for e in queries)
    with pytest.raises(ValueError, match="500"):
        async for _ in client.query_tickets([{"op": "in", "field": "id", "value": list(range(501))}]):
            pass


def test_filter_helpers() -> None:
    chunks = in_filter("id", [*range(1200), 5, 7])
    assert [len(c["value"]) for c in chunks] == [500, 500, 200]
    assert (
        or_terms([{"op": "or", "items": [{"op": "in", "field": "id", "value": [1, 2]}, {"op": "eq"}]}]) == 4
    )
    assert strip_nulls({"a": None, "b": [1, None], "c": {"d": None, "e": 0}}) == {"b": [1], "c": {"e": 0}}
    assert (
        normalise_rest_base("https://ws5.autotask.net/atservicesrest/v1.0/")
        == "https://ws5.autotask.net/atservicesrest"
    )


async def test_get_ticket_and_missing_ticket(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    ticket_id = sim.add_ticket(title="VPN down", priority="High")
    ticket = await client.get_ticket(ticket_id)
    assert ticket is not None and ticket.title == "VPN down" and ticket.priority == 1
    assert await client.get_ticket(999_999) is None  # 200 {"item": null}
    sim.settings.item_null_for_missing = False
    assert await client.get_ticket(999_999) is None  # 404


async def test_picklists_resolve_by_label_to_tenant_ids(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    meta = await client.metadata()
    assert meta.id_for_label("priority", "Critical") == 4
    assert meta.id_for_label("priority", "high") == 1
    assert meta.id_for_label("priority", "Planning (retired)") is None  # inactive
    assert meta.id_for_label("status", "In Progress") == 8
    assert meta.id_for_label("status", "Complete") == 5
    assert meta.id_for_label("queueID", "Level II Support") == 29683483
    assert meta.field("title") is not None and meta.field("title").length == 255  # type: ignore[union-attr]
    assert await client.metadata() is meta  # cached
    assert sim.requests.count("GET", "entityInformation/fields") == 1
    ticket_id = await client.create_ticket(
        {
            **NEW_TICKET,
            "priority": meta.id_for_label("priority", "Critical"),
            "status": meta.id_for_label("status", "New"),
        }
    )
    ticket = await client.get_ticket(ticket_id)
    assert ticket is not None and meta.label_for_id("priority", ticket.priority) == "Critical"


# ---- writes --------------------------------------------------------------------------------------


async def test_create_update_note_and_find_by_external_id(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    ticket_id = await client.create_ticket({**NEW_TICKET, "description": None, "contactID": None})
    sent = sim.requests.entries("POST", "/Tickets")[-1].body
    assert "description" not in sent and "contactID" not in sent  # nulls stripped
    assert sim.clock is not None
    sim.clock.advance(60)
    await client.update_ticket(ticket_id, {"status": 8, "resolution": None})
    patch = sim.requests.entries("PATCH")[-1].body
    assert patch == {"status": 8, "id": ticket_id}
    note_id = await client.add_note(ticket_id, title="Linked", description="From ServiceNow INC0000046")
    assert note_id > 0
    note = sim.notes(ticket_id)[0]
    assert note["noteType"] == 1 and note["publish"] == 1
    await client.add_note(
        ticket_id,
        title="x",
        description="y",
        note_type_label="Task Summary",
        publish_label="Internal Project Team",
    )
    assert sim.notes(ticket_id)[1]["noteType"] == 3 and sim.notes(ticket_id)[1]["publish"] == 2
    with pytest.raises(ValueError, match="Task Detail"):
        await client.add_note(ticket_id, title="x", description="y", note_type_label="Nope")
    found = await client.find_by_external_id(EXTERNAL_ID)
    assert [t.id for t in found] == [ticket_id]
    assert found[0].status == 8 and found[0].last_activity_date is not None


async def test_find_by_external_ids_batches_500_per_query(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    """A whole push round in one query: the lookup that keeps a lost database from creating every
    ticket again costs one request per 500 incidents, not one per incident."""
    ids = [f"{n:032x}" for n in range(1, 602)]
    sim.add_ticket(externalID=ids[0])
    sim.add_ticket(externalID=ids[0])  # two tickets for one incident: both are returned
    last = sim.add_ticket(externalID=ids[-1])
    sim.add_ticket(externalID="not-asked-for")
    sim.requests.clear()
    found = await client.find_by_external_ids([*ids, ids[0], ""])
    assert sorted(found) == [ids[0], ids[-1]]
    assert len(found[ids[0]]) == 2 and [t.id for t in found[ids[-1]]] == [last]
    queries = sim.requests.entries("POST", "/Tickets/query")
    assert [len(q.body["filter"][0]["value"]) for q in queries] == [500, 101]


async def test_validation_500_is_rejected_with_the_api_message(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    body = {k: v for k, v in NEW_TICKET.items() if k != "dueDateTime"}
    with pytest.raises(Rejected) as caught:
        await client.create_ticket(body)
    assert "dueDateTime is required" in str(caught.value)
    assert caught.value.status == 500 and not caught.value.retryable
    assert sim.requests.count("POST", "/Tickets") == 1  # not retried
    with pytest.raises(Rejected, match="assignedResourceRoleID"):
        await client.create_ticket({**body, "dueDateTime": "2026-01-06T00:00:00Z", "assignedResourceID": 5})


async def test_create_not_retried_when_the_outcome_is_unknown(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    sim.faults.inject("reset_after", method="POST", path=r"/Tickets$")
    with pytest.raises(Transient) as caught:
        await client.create_ticket(NEW_TICKET)
    assert caught.value.outcome_unknown
    assert "outcome unknown" in str(caught.value)
    assert len(sim.tickets()) == 1  # processed exactly once; the engine now searches by externalID
    assert len(await client.find_by_external_id(EXTERNAL_ID)) == 1


async def test_create_retried_when_definitely_not_processed(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    sim.faults.inject("status", status=429, method="POST", path=r"/Tickets$")
    sim.faults.inject("status", status=429, retry_after=0, method="POST", path=r"/Tickets$")
    ticket_id = await client.create_ticket(NEW_TICKET)
    assert [t["id"] for t in sim.tickets()] == [ticket_id]
    assert sim.requests.count("POST", "/Tickets") == 3


async def test_reset_before_an_answer_is_still_an_unknown_outcome(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    # From the client's side a dropped connection never proves the request was not processed.
    sim.faults.inject("reset_before", method="POST", path=r"/Tickets$")
    with pytest.raises(Transient) as caught:
        await client.create_ticket(NEW_TICKET)
    assert caught.value.outcome_unknown and sim.tickets() == []


async def test_create_503_is_transient_with_unknown_outcome(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    sim.faults.inject("status", status=503, method="POST", path=r"/Tickets$")
    with pytest.raises(Transient) as caught:
        await client.create_ticket(NEW_TICKET)
    assert caught.value.outcome_unknown and caught.value.status == 503


async def test_connect_error_is_transient_with_known_outcome() -> None:
    async with make_client("http://127.0.0.1:9/atservicesrest", retry=ONE_TRY) as at:
        with pytest.raises(Transient) as caught:
            await at.create_ticket(NEW_TICKET)
    assert caught.value.outcome_unknown is False


async def test_read_timeout_is_transient(sim: AutotaskSimulator) -> None:
    sim.faults.inject("hang", path="/Tickets/", seconds=0.5)
    async with make_client(sim.rest_base, retry=ONE_TRY, timeout=0.1) as at:
        with pytest.raises(Transient) as caught:
            await at.get_ticket(1)
    assert caught.value.outcome_unknown


# ---- error classes on reads ----------------------------------------------------------------------


async def test_503_then_success(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    ticket_id = sim.add_ticket()
    sim.faults.inject("status", status=503, path="/Tickets/", count=2)
    ticket = await client.get_ticket(ticket_id)
    assert ticket is not None and ticket.id == ticket_id
    assert sim.requests.count("GET", "/Tickets/") == 3


async def test_429_with_and_without_retry_after(sim: AutotaskSimulator) -> None:
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    policy = RetryPolicy(base_delay=0.01, max_delay=0.05, sleep=fake_sleep, max_inline_wait=5)
    async with make_client(sim.rest_base, retry=policy) as at:
        sim.faults.inject("status", status=429, retry_after=2, path="/Tickets/")
        sim.faults.inject("status", status=429, path="/Tickets/")
        assert await at.get_ticket(1) is None
        assert delays[0] == 2.0 and 0 < delays[1] <= 0.05
        sim.faults.inject("status", status=429, retry_after=30, path="/Tickets/")
        with pytest.raises(RateLimited) as caught:
            await at.get_ticket(1)  # longer than max_inline_wait: handed to the engine
        assert caught.value.retry_after == 30


async def test_over_limit_status_is_rate_limited_whatever_the_code(sim: AutotaskSimulator) -> None:
    async with make_client(sim.rest_base, retry=ONE_TRY) as at:
        for status, retry_after in ((429, None), (503, 60), (500, None)):
            sim.reset(sim_settings())
            sim.settings.hourly_threshold = 1
            sim.settings.over_limit_status = status
            sim.settings.over_limit_retry_after = retry_after
            await at.get_ticket(1)
            with pytest.raises(RateLimited) as caught:
                await at.get_ticket(1)
            assert caught.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("fault", "options", "expected"),
    [
        ("html", {}, "HTML page"),
        ("truncated", {}, "not valid JSON"),
        ("rename_fields", {"renames": {"status": "ticketStatus"}}, "status"),
        ("drop_fields", {"fields": ["id"]}, "id"),
    ],
)
async def test_bad_answers_are_unexpected_never_empty(
    sim: AutotaskSimulator, fault: str, options: dict[str, Any], expected: str
) -> None:
    ticket_id = sim.add_ticket(externalID="x")
    async with make_client(sim.rest_base, retry=ONE_TRY) as at:
        sim.faults.inject(fault, path="/Tickets/query", **options)  # type: ignore[arg-type]
        with pytest.raises(UnexpectedResponse) as caught:
            await at.find_by_external_id("x")  # would be [] if a bad answer passed as "no records"
        assert expected in str(caught.value)
        sim.faults.inject(fault, path=f"/Tickets/{ticket_id}", **options)  # type: ignore[arg-type]
        with pytest.raises(UnexpectedResponse):
            await at.get_ticket(ticket_id)
    if fault != "rename_fields":
        return
    assert "status" in str(caught.value)


async def test_html_page_on_read_is_retried_then_succeeds(
    sim: AutotaskSimulator, client: AutotaskClient
) -> None:
    sim.add_ticket(externalID="x")
    sim.faults.inject("html", path="/Tickets/query")
    assert len(await client.find_by_external_id("x")) == 1


# ---- zone discovery and auth ---------------------------------------------------------------------


class FlipZoneOn401(httpx.AsyncBaseTransport):
    """Like a tenant moved to another zone: after the first 401, the lookup answers the new zone."""

    def __init__(self, lookup: AutotaskSimulator) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.lookup = lookup

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if response.status_code == 401:
            self.lookup.settings.zone_url = None  # the lookup server is the right zone now
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_zone_discovery_and_rediscovery_on_401(sim: AutotaskSimulator) -> None:
    ticket_id = sim.add_ticket(title="Right zone")
    stale_settings = sim_settings()
    stale_settings.secret = "not-our-secret"
    with AutotaskSimulator(settings=stale_settings) as stale:
        sim.settings.zone_url = f"{stale.url}/atservicesrest/"
        async with make_client("", zone_lookup_url=sim.rest_base, transport=FlipZoneOn401(sim)) as at:
            ticket = await at.get_ticket(ticket_id)
            assert ticket is not None and ticket.title == "Right zone"
            assert at.zone is not None and at.zone.rest_base == sim.rest_base
            assert at.zone.name == "Simulator Zone"
            assert sim.requests.count("GET", "zoneInformation") == 2
            assert stale.requests.count("GET", "/Tickets/") == 1
            await at.get_ticket(ticket_id)  # cached: no further lookups
            assert sim.requests.count("GET", "zoneInformation") == 2


async def test_rediscovery_only_once_then_auth_failed(sim: AutotaskSimulator) -> None:
    sim.settings.secret = "rotated"
    async with make_client("", zone_lookup_url=sim.rest_base) as at:
        with pytest.raises(AuthFailed) as caught:
            await at.get_ticket(1)
    assert sim.requests.count("GET", "zoneInformation") == 2
    assert sim.requests.count("GET", "/Tickets/") == 1  # same zone after re-discovery: no pointless retry
    assert_no_credentials(str(caught.value), repr(caught.value))


async def test_explicit_base_url_401_is_auth_failed_without_lookup(sim: AutotaskSimulator) -> None:
    sim.settings.secret = "rotated"
    async with make_client(sim.rest_base, zone_lookup_url="http://127.0.0.1:9/atservicesrest") as at:
        with pytest.raises(AuthFailed):
            await at.count_tickets([{"op": "exist", "field": "id"}])


async def test_unknown_user_in_zone_lookup_is_auth_failed(sim: AutotaskSimulator) -> None:
    sim.settings.username = "someone-else@example.com"
    async with make_client("", zone_lookup_url=sim.rest_base) as at:
        with pytest.raises(AuthFailed, match="zone"):
            await at.get_ticket(1)


async def test_test_connection_and_threshold(sim: AutotaskSimulator) -> None:
    budget = RequestBudget(10000, 0.5)
    async with make_client("", zone_lookup_url=sim.rest_base, budget=budget) as at:
        message = await at.test_connection()
        assert "Simulator Zone" in message and USER in message and "1.0" in message
        info = await at.threshold()
        assert info["externalRequestThreshold"] == 10000
        assert info["currentTimeframeRequestCount"] >= 2
    assert budget.state().tenant_limit == 10000
    assert budget.used() == 4  # lookup, version, metadata, threshold: each request recorded once
    assert_no_credentials(message, repr(at))


# ---- concurrency and budget ----------------------------------------------------------------------


async def test_at_most_three_requests_in_flight(sim: AutotaskSimulator, client: AutotaskClient) -> None:
    ticket_id = sim.add_ticket()
    sim.settings.latency = 0.05
    results = await asyncio.gather(*(client.get_ticket(ticket_id) for _ in range(10)))
    assert all(t is not None and t.id == ticket_id for t in results)
    assert sim.max_concurrency_seen("Tickets/{id}") == 3
    assert sim.requests.count("GET", "/Tickets/") == 10  # no thread-limit refusals, no retries


def test_max_concurrency_above_three_is_refused() -> None:
    with pytest.raises(ValueError):
        AutotaskClient(username=USER, integration_code=CODE, secret=Secret(SECRET), max_concurrency=4)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_budget_delay_grows_and_waits_for_the_window() -> None:
    clock = FakeClock()
    budget = RequestBudget(hourly_limit=200, share=0.5, clock=clock)  # our allowance: 100 per hour
    states: list[BudgetState] = []
    unsubscribe = budget.subscribe(states.append)
    for _ in range(50):
        assert budget.delay() == 0.0
        budget.record()
        clock.now += 1
    assert budget.fraction_used() == 0.5 and budget.remaining() == 50
    delays = []
    for _ in range(49):
        budget.record()
        clock.now += 1
        delays.append(budget.delay())
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False))
    assert 0 < delays[0] < delays[-1] < 3600
    budget.record()
    assert budget.remaining() == 0
    assert budget.delay() == pytest.approx(1000 + 3600 - clock.now)  # until the oldest request leaves
    clock.now += budget.delay()
    assert budget.remaining() == 1
    assert len(states) == 100 and states[-1].remaining == 0
    unsubscribe()
    budget.record()
    assert len(states) == 100


def test_budget_merges_tenant_usage() -> None:
    clock = FakeClock()
    budget = RequestBudget(hourly_limit=10000, share=0.5, clock=clock)
    assert budget.delay() == 0.0
    budget.update_from_threshold({"externalRequestThreshold": 10000, "currentTimeframeRequestCount": 8000})
    budget.record()
    assert budget.delay() > 0  # other integrations used most of the tenant's hour
    budget.update_from_threshold({"externalRequestThreshold": 10000, "currentTimeframeRequestCount": 10000})
    assert budget.delay() == 60.0
    clock.now += 3601  # stale tenant information is ignored
    assert budget.delay() == 0.0


async def test_exhausted_budget_is_handed_to_the_engine(sim: AutotaskSimulator) -> None:
    clock = FakeClock()
    budget = RequestBudget(hourly_limit=2, share=1.0, clock=clock)
    async with make_client(sim.rest_base, budget=budget) as at:
        await at.get_ticket(1)
        await at.get_ticket(1)
        with pytest.raises(RateLimited) as caught:
            await at.get_ticket(1)
    assert caught.value.retry_after == pytest.approx(3600)
    assert sim.requests.count("GET", "/Tickets/") == 2


# ---- secrets -------------------------------------------------------------------------------------


async def test_credentials_never_in_errors_or_reprs(sim: AutotaskSimulator) -> None:
    failures: list[BaseException] = []
    async with make_client(sim.rest_base, retry=ONE_TRY) as at:
        assert_no_credentials(repr(at), str(at))
        for fault in ("html", "truncated", "reset_before", "reset_after"):
            sim.faults.inject(fault, path="/Tickets/")
            with pytest.raises(Exception) as caught:
                await at.get_ticket(1)
            failures.append(caught.value)
        with pytest.raises(Rejected) as rejected:
            await at.create_ticket({"title": f"{SECRET} {CODE}"})
        failures.append(rejected.value)
        sim.settings.secret = "rotated"
        with pytest.raises(AuthFailed) as auth:
            await at.get_ticket(1)
        failures.append(auth.value)
    for failure in failures:
        assert_no_credentials(str(failure), repr(failure), repr(failure.__cause__), repr(failure.__context__))


async def test_metadata_without_picklist_values_is_unexpected_and_not_cached(sim: AutotaskSimulator) -> None:
    async with make_client(sim.rest_base, retry=ONE_TRY) as at:
        sim.faults.inject("drop_fields", path="/Tickets/entityInformation/fields", fields=["picklistValues"])
        with pytest.raises(UnexpectedResponse) as caught:
            await at.metadata()
        assert "picklistValues" in str(caught.value)
        metadata = await at.metadata()  # read again, not served from a cache of the broken answer
        assert metadata.id_for_label("status", "New") is not None


async def test_create_answer_without_item_id_is_an_unknown_outcome(sim: AutotaskSimulator) -> None:
    async with make_client(sim.rest_base, retry=ONE_TRY) as at:
        sim.faults.inject("rename_fields", method="POST", path="/Tickets$", renames={"itemId": "itemID"})
        with pytest.raises(UnexpectedResponse) as caught:
            await at.create_ticket(NEW_TICKET)
        assert caught.value.outcome_unknown
        assert len(sim.tickets()) == 1  # it was created: the next try must search first
