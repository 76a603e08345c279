"""ServiceNowClient against the ServiceNow simulator over real loopback sockets."""

from __future__ import annotations

import socket
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.connectors.errors import (
    AuthFailed,
    ConnectorError,
    NotFound,
    RateLimited,
    Rejected,
    Transient,
    UnexpectedResponse,
)
from app.connectors.limits import LARGE_BODY_BYTES
from app.connectors.retry import RetryPolicy
from app.connectors.server_time import ServerClock
from app.connectors.servicenow import ServiceNowClient, _retry_after
from app.connectors.sn_query import PageKey, build_incident_query
from app.domain.records import Incident
from app.secrets import Secret
from app.simulators.clock import ManualClock
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator

FAST = RetryPolicy(base_delay=0.01, max_delay=0.05)
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
PASSWORD = "demo"
CLIENT_SECRET = "demo-secret"


class FakeClock:
    """The client's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[ServiceNowSimulator]:
    with ServiceNowSimulator(seed=3) as simulator:
        yield simulator


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sim(server: ServiceNowSimulator, clock: ManualClock) -> ServiceNowSimulator:
    server.reset()
    server.clock = clock
    server.settings = ServiceNowSimSettings()
    return server


@pytest.fixture
def sent() -> list[tuple[str, str]]:
    return []


def make_client(sim: ServiceNowSimulator, sent: list[tuple[str, str]], **options: Any) -> ServiceNowClient:
    settings: dict[str, Any] = {
        "base_url": sim.base_url,
        "username": "demo.integration",
        "password": Secret(PASSWORD),
        "retry": FAST,
        "page_size": 10,
        "timeout": 5,
        "on_request": lambda method, path: sent.append((method, path)),
    }
    settings.update(options)
    return ServiceNowClient(**settings)


@pytest.fixture
async def client(sim: ServiceNowSimulator, sent: list[tuple[str, str]]) -> AsyncIterator[ServiceNowClient]:
    async with make_client(sim, sent) as connector:
        yield connector


async def collect(pages: AsyncIterator[list[Incident]]) -> list[list[Incident]]:
    return [page async for page in pages]


def gets(sent: list[tuple[str, str]]) -> int:
    return sum(1 for method, path in sent if method == "GET" and path.endswith("/incident"))


# --- reading -------------------------------------------------------------------------------------


async def test_pages_past_one_page(
    client: ServiceNowClient, sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    created = [sim.create_incident(short_description=f"n{i}") for i in range(25)]
    pages = await collect(client.query_incidents())
    assert [len(p) for p in pages] == [10, 10, 5]
    assert {i.sys_id for p in pages for i in p} == {r["sys_id"] for r in created}
    assert gets(sent) == 3
    [first, *_] = sim.requests.entries("GET", "/api/now/table/incident")
    assert "sysparm_exclude_reference_link=true" in first.query and "sysparm_limit=10" in first.query


async def test_acl_short_pages_do_not_end_paging(
    client: ServiceNowClient, sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    created = [sim.create_incident(short_description=f"n{i}") for i in range(25)]
    hidden = {created[i]["sys_id"] for i in (0, 3, 9, 10, 11, 24)}
    sim.settings.acl_hidden_sys_ids.update(hidden)
    pages = await collect(client.query_incidents())
    seen = [i.sys_id for p in pages for i in p]
    assert sorted(seen) == sorted(r["sys_id"] for r in created if r["sys_id"] not in hidden)
    assert len(pages) == 3 and sum(len(p) for p in pages) == 19  # short pages (same-second: sys_id order)
    assert gets(sent) == 3


async def test_page_hidden_entirely_is_skipped_not_the_end(
    client: ServiceNowClient, sim: ServiceNowSimulator, clock: ManualClock
) -> None:
    created = []
    for _ in range(15):
        created.append(sim.create_incident())
        clock.advance(1)
    sim.settings.acl_hidden_sys_ids.update(r["sys_id"] for r in created[:10])
    pages = await collect(client.query_incidents())
    assert [len(p) for p in pages] == [5]


async def test_updated_since_includes_same_second_records(
    client: ServiceNowClient, sim: ServiceNowSimulator, clock: ManualClock
) -> None:
    sim.create_incident(short_description="old")
    clock.advance(10)
    same_a = sim.create_incident(short_description="same second a")
    same_b = sim.create_incident(short_description="same second b")
    clock.advance(1)
    later = sim.create_incident(short_description="later")
    pages = await collect(client.query_incidents(updated_since=T0 + timedelta(seconds=10)))
    assert [i.sys_id for p in pages for i in p][-1] == later["sys_id"]
    assert {i.sys_id for p in pages for i in p} == {same_a["sys_id"], same_b["sys_id"], later["sys_id"]}
    [entry] = sim.requests.entries("GET", "/api/now/table/incident")
    assert "sys_updated_on%3E%3D2026-01-05+09%3A00%3A10" in entry.query


def test_query_builder_repeats_since_in_every_nq_branch() -> None:
    since = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert build_incident_query() == "ORDERBYsys_updated_on^ORDERBYsys_id"
    assert build_incident_query("active=true^ORDERBYnumber", since) == (
        "sys_updated_on>=2026-01-05 10:00:00^active=true^ORDERBYsys_updated_on^ORDERBYsys_id"
    )
    assert build_incident_query("category=network^NQcategory=hardware^ORcategory=software", since) == (
        "sys_updated_on>=2026-01-05 10:00:00^category=network"
        "^NQsys_updated_on>=2026-01-05 10:00:00^category=hardware^ORcategory=software"
        "^ORDERBYsys_updated_on^ORDERBYsys_id"
    )
    local = datetime(2026, 1, 5, 12, 0, tzinfo=UTC).astimezone()  # any zone: sent as UTC
    assert build_incident_query("", local).startswith("sys_updated_on>=2026-01-05 12:00:00^")


def test_next_page_key_is_repeated_in_every_nq_branch_and_keeps_or_groups() -> None:
    since = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    key = PageKey(datetime(2026, 1, 5, 10, 5, tzinfo=UTC), "a" * 32)
    terms = f"sys_updated_on>=2026-01-05 10:05:00^sys_updated_on>2026-01-05 10:05:00^ORsys_id>{'a' * 32}"
    assert build_incident_query("category=network^NQcategory=hardware^ORcategory=software", since, key) == (
        f"sys_updated_on>=2026-01-05 10:00:00^{terms}^category=network"
        f"^NQsys_updated_on>=2026-01-05 10:00:00^{terms}^category=hardware^ORcategory=software"
        "^ORDERBYsys_updated_on^ORDERBYsys_id"
    )
    # A branch that starts with an OR term must never OR itself onto our key terms.
    assert (
        build_incident_query("ORactive=false", None, key)
        == f"{terms}^active=false^ORDERBYsys_updated_on^ORDERBYsys_id"
    )


async def test_pages_by_key_so_a_record_edited_while_paging_is_returned(
    client: ServiceNowClient, sim: ServiceNowSimulator, clock: ManualClock
) -> None:
    created = [sim.create_incident(short_description=f"n{i}") for i in range(25)]

    def edit_page_one(params: Any) -> bool:
        clock.advance(60)
        first = min(sim.records(), key=lambda r: (r["sys_updated_on"], r["sys_id"]))
        sim.update_incident(first["sys_id"], work_notes="moved to the end")
        return True

    sim.page_hooks.add(edit_page_one)
    pages = await collect(client.query_incidents())
    seen = [i.sys_id for p in pages for i in p]
    assert set(seen) == {r["sys_id"] for r in created}  # nothing skipped
    assert len(seen) == 26  # the edited record once more, at the end, with its new stamp
    gets = sim.requests.entries("GET", "/api/now/table/incident")
    assert all("sysparm_offset=0" in e.query for e in gets)  # never an offset past rows that move


def test_server_clock_learns_the_offset_from_date_headers() -> None:
    local = datetime(2026, 1, 5, 9, 0, 0, 500000, tzinfo=UTC)
    clock = ServerClock(lambda: local)
    mark = clock.mark()
    assert clock.to_server(mark) == datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)  # no answer yet: ours

    def answer(date: str) -> httpx.Response:
        return httpx.Response(200, headers={"Date": date})

    clock.observe(answer("Mon, 05 Jan 2026 08:58:00 GMT"))  # the server is 2 min behind us
    assert clock.to_server(mark) == datetime(2026, 1, 5, 8, 58, 0, tzinfo=UTC)  # first poll: learnt now
    later = clock.mark()
    clock.observe(answer("Mon, 05 Jan 2026 12:00:00 GMT"))  # a jump mid-poll does not move its mark
    assert clock.to_server(later) == datetime(2026, 1, 5, 8, 58, 0, tzinfo=UTC)
    for hostile in ("not a date", "Mon, 05 Jan 1999 08:58:00 GMT", ""):
        before = clock.skew
        clock.observe(answer(hostile))  # unreadable or unbelievable: ignored
        assert clock.skew == before


async def test_nq_query_keeps_the_since_filter_in_each_branch(
    client: ServiceNowClient, sim: ServiceNowSimulator, clock: ManualClock
) -> None:
    sim.create_incident(category="network")
    sim.create_incident(category="hardware")
    clock.advance(60)
    net = sim.create_incident(category="network")
    hw = sim.create_incident(category="hardware")
    sim.create_incident(category="software")
    pages = await collect(
        client.query_incidents(
            "category=network^NQcategory=hardware", updated_since=T0 + timedelta(seconds=60)
        )
    )
    assert {i.sys_id for p in pages for i in p} == {net["sys_id"], hw["sys_id"]}


async def test_wire_strings_are_parsed(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    record = sim.create_incident(impact="1", urgency="2", state="2", correlation_id="T42")
    sim.update_incident(record["sys_id"], state="8")
    incident = await client.get_incident(record["sys_id"])
    assert incident.active is False and incident.state == 8
    assert (incident.impact, incident.urgency, incident.priority) == (1, 2, 2)
    assert incident.sys_mod_count == 1
    assert incident.caller_id == sim.users["abel.tuter"]  # bare sys_id, not the {link,value} object
    assert incident.assignment_group == sim.groups["Service Desk"]
    assert incident.sys_updated_on == T0 and incident.sys_updated_on.tzinfo is not None
    assert incident.correlation_id == "T42" and incident.number == "INC0010001"


async def test_get_incident_not_found_and_acl_hidden(
    client: ServiceNowClient, sim: ServiceNowSimulator
) -> None:
    with pytest.raises(NotFound) as missing:
        await client.get_incident("0" * 32)
    assert missing.value.status == 404 and "No Record found" in str(missing.value)
    record = sim.create_incident()
    sim.settings.acl_hidden_sys_ids.add(record["sys_id"])
    with pytest.raises(NotFound):
        await client.get_incident(record["sys_id"])


async def test_close_codes_and_test_connection(client: ServiceNowClient) -> None:
    codes = await client.close_codes()
    assert codes[0] == "Solution provided" and "User error" in codes and len(codes) == 10
    assert await client.test_connection() == "Connected to 127.0.0.1 as demo.integration"


# --- writing -------------------------------------------------------------------------------------


async def test_update_patches_only_the_given_fields(
    client: ServiceNowClient, sim: ServiceNowSimulator
) -> None:
    record = sim.create_incident()
    updated = await client.update_incident(record["sys_id"], {"correlation_id": "T1", "impact": "1"})
    assert updated.correlation_id == "T1" and updated.priority == 3 and updated.sys_mod_count == 1
    [patch] = sim.requests.entries("PATCH")
    assert patch.body == {"correlation_id": "T1", "impact": "1"}
    assert sim.get_record(record["sys_id"])["sys_updated_by"] == "demo.integration"


async def test_resolve_without_close_fields_is_rejected_with_the_api_message(
    client: ServiceNowClient, sim: ServiceNowSimulator
) -> None:
    record = sim.create_incident()
    with pytest.raises(Rejected) as refused:
        await client.update_incident(record["sys_id"], {"state": "6"})
    assert "Data Policy Exception" in str(refused.value) and refused.value.status == 403
    assert not refused.value.retryable
    resolved = await client.update_incident(
        record["sys_id"], {"state": "6", "close_code": "Solution provided", "close_notes": "Done"}
    )
    assert resolved.state == 6 and resolved.active is True  # Resolved stays active until Closed


async def test_add_work_note(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    record = sim.create_incident()
    await client.add_work_note(record["sys_id"], "Autotask ticket T20260105.0001 created")
    [note] = sim.journal(record["sys_id"])
    assert note["value"] == "Autotask ticket T20260105.0001 created"
    assert note["sys_created_by"] == "demo.integration"
    notes = await client.work_notes(record["sys_id"])
    assert [n["value"] for n in notes] == ["Autotask ticket T20260105.0001 created"]


# --- errors --------------------------------------------------------------------------------------


async def test_bad_password_is_auth_failed_without_secrets(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    async with make_client(sim, sent, password=Secret("hunter2-secret")) as connector:
        with pytest.raises(AuthFailed) as failed:
            await connector.get_incident("0" * 32)
        assert "hunter2-secret" not in repr(connector)
    assert failed.value.status == 401 and "User Not Authenticated" in str(failed.value)
    assert len(sent) == 1  # never retried
    for text in (str(failed.value), repr(failed.value), repr(failed.value.__cause__)):
        assert "hunter2-secret" not in text


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried_then_succeed(
    client: ServiceNowClient, sim: ServiceNowSimulator, sent: list[tuple[str, str]], status: int
) -> None:
    record = sim.create_incident()
    sim.faults.inject("status", status=status, path="/api/now/table/incident", count=2)
    assert (await client.get_incident(record["sys_id"])).sys_id == record["sys_id"]
    assert len(sent) == 3


async def test_server_errors_give_up_as_transient(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    sim.faults.inject("status", status=503, count=None)
    with pytest.raises(Transient) as failed:
        await collect(client.query_incidents())
    assert failed.value.retryable and failed.value.status == 503 and not failed.value.outcome_unknown


async def test_work_note_is_not_retried_after_an_unknown_outcome(
    client: ServiceNowClient, sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    record = sim.create_incident()
    sim.faults.inject("status", status=502, method="PATCH")
    with pytest.raises(Transient) as failed:
        await client.add_work_note(record["sys_id"], "note")
    assert failed.value.outcome_unknown
    assert sent == [("PATCH", f"/api/now/table/incident/{record['sys_id']}")]


async def test_reset_after_write_is_an_unknown_outcome(
    client: ServiceNowClient, sim: ServiceNowSimulator
) -> None:
    record = sim.create_incident()
    sim.faults.inject("reset_after", method="PATCH")
    with pytest.raises(Transient) as failed:
        await client.add_work_note(record["sys_id"], "note")
    assert failed.value.outcome_unknown
    assert len(sim.journal(record["sys_id"])) == 1  # the write did happen


async def test_idempotent_patch_is_retried_after_a_reset(
    client: ServiceNowClient, sim: ServiceNowSimulator
) -> None:
    record = sim.create_incident()
    sim.faults.inject("reset_after", method="PATCH")
    updated = await client.update_incident(record["sys_id"], {"correlation_id": "T1"})
    assert updated.correlation_id == "T1" and updated.sys_mod_count == 1  # second PATCH changed nothing


async def test_read_timeout_is_transient(sim: ServiceNowSimulator, sent: list[tuple[str, str]]) -> None:
    sim.faults.inject("hang", seconds=0.5, count=None)
    async with make_client(sim, sent, timeout=0.05, retry=RetryPolicy(attempts=1)) as connector:
        with pytest.raises(Transient) as failed:
            await connector.add_work_note("a" * 32, "note")
    assert failed.value.outcome_unknown and "did not answer in time" in str(failed.value)


async def test_connection_refused_is_transient_and_known_not_sent(sent: list[tuple[str, str]]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with ServiceNowClient(
        base_url=f"http://127.0.0.1:{port}", username="u", password=Secret("p"), retry=FAST
    ) as connector:
        with pytest.raises(Transient) as failed:
            await connector.add_work_note("a" * 32, "note")
    assert not failed.value.outcome_unknown and "cannot connect" in str(failed.value)


async def test_rate_limited_with_retry_after(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    sim.faults.inject("status", status=429, retry_after=120)
    with pytest.raises(RateLimited) as limited:
        await client.test_connection()  # 120 s is longer than max_inline_wait: handed to the engine
    assert limited.value.retry_after == 120 and "Rate limit exceeded" in str(limited.value)


async def test_rate_limited_short_wait_is_absorbed(
    client: ServiceNowClient, sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    sim.faults.inject("status", status=429, retry_after=0)
    assert await client.test_connection()
    assert len(sent) == 2


async def test_rate_limited_without_retry_after(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    sim.faults.inject("status", status=429)
    async with make_client(sim, sent, retry=RetryPolicy(attempts=1)) as connector:
        with pytest.raises(RateLimited) as limited:
            await connector.test_connection()
    assert limited.value.retry_after is None


async def test_rate_limit_rule_from_the_instance(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    sim.clock = ManualClock(datetime.now(UTC))
    sim.settings.rate_limit_per_hour = 1
    async with make_client(sim, sent, retry=RetryPolicy(attempts=1)) as connector:
        await connector.test_connection()
        with pytest.raises(RateLimited) as limited:
            await connector.test_connection()
    assert limited.value.retry_after is not None and 0 < limited.value.retry_after <= 3600
    assert "per hour" in str(limited.value)


def test_retry_after_falls_back_to_rate_limit_reset() -> None:
    reset = datetime.now(UTC).timestamp() + 300
    response = httpx.Response(429, headers={"X-RateLimit-Reset": str(int(reset))})
    wait = _retry_after(response)
    assert wait is not None and 290 < wait <= 300
    assert _retry_after(httpx.Response(429, headers={"Retry-After": "7"})) == 7
    assert _retry_after(httpx.Response(429)) is None


async def test_html_page_is_unexpected_not_empty(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    sim.create_incident()
    sim.faults.inject("html", count=None)
    with pytest.raises(UnexpectedResponse) as failed:
        await collect(client.query_incidents())
    assert "HTML page instead of JSON" in str(failed.value) and "hibernating" in str(failed.value)


async def test_html_page_once_is_retried(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    sim.create_incident()
    sim.faults.inject("html")
    assert [len(p) for p in await collect(client.query_incidents())] == [1]


async def test_truncated_json_is_unexpected(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    sim.create_incident()
    sim.faults.inject("truncated", count=None)
    with pytest.raises(UnexpectedResponse) as failed:
        await collect(client.query_incidents())
    assert "truncated or invalid JSON" in str(failed.value)


@pytest.mark.parametrize("field", ["sys_updated_on", "state", "sys_id"])
async def test_renamed_field_is_unexpected_and_named(
    client: ServiceNowClient, sim: ServiceNowSimulator, field: str
) -> None:
    sim.create_incident()
    sim.faults.inject("rename_fields", renames={field: f"u_{field}"}, count=None)
    with pytest.raises(UnexpectedResponse) as failed:
        await collect(client.query_incidents())
    assert field in str(failed.value)


async def test_bad_value_is_unexpected_and_named(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    record = sim.create_incident()
    sim.update_incident(record["sys_id"], impact="high")
    with pytest.raises(UnexpectedResponse) as failed:
        await client.get_incident(record["sys_id"])
    assert "impact" in str(failed.value) and "INC0010001" in str(failed.value)


async def test_extra_fields_are_ignored(client: ServiceNowClient, sim: ServiceNowSimulator) -> None:
    sim.create_incident()
    sim.faults.inject("extra_fields", fields=["u_new_thing"])
    assert [len(p) for p in await collect(client.query_incidents())] == [1]


async def test_missing_result_envelope_is_unexpected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"records": []})

    async with ServiceNowClient(
        base_url="https://example.service-now.com",
        username="u",
        password=Secret("p"),
        retry=RetryPolicy(attempts=1),
        transport=httpx.MockTransport(handler),
    ) as connector:
        with pytest.raises(UnexpectedResponse) as failed:
            await collect(connector.query_incidents())
    assert "'result' envelope" in str(failed.value)


async def test_redirect_to_sso_is_unexpected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://login.example.com/sso?x=1"})

    async with ServiceNowClient(
        base_url="https://example.service-now.com",
        username="u",
        password=Secret("p"),
        retry=RetryPolicy(attempts=1),
        transport=httpx.MockTransport(handler),
    ) as connector:
        with pytest.raises(UnexpectedResponse) as failed:
            await connector.test_connection()
    assert "login.example.com" in str(failed.value)


# --- OAuth ---------------------------------------------------------------------------------------


def oauth_client(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]], clock: FakeClock, **options: Any
) -> ServiceNowClient:
    settings: dict[str, Any] = {
        "auth": "oauth",
        "client_id": "demo-client",
        "client_secret": Secret(CLIENT_SECRET),
        "clock": clock,
    }
    return make_client(sim, sent, **{**settings, **options})


def token_grants(sim: ServiceNowSimulator) -> list[str]:
    return [
        str(e.body).split("grant_type=")[1].split("&")[0]
        for e in sim.requests.entries("POST", "/oauth_token")
    ]


async def test_oauth_refreshes_shortly_before_expiry(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    sim.settings.token_lifetime_seconds = 100
    fake = FakeClock()
    async with oauth_client(sim, sent, fake) as connector:
        await connector.test_connection()
        fake.now += 50
        await connector.test_connection()  # token still fresh: no token call
        assert token_grants(sim) == ["password"]
        fake.now += 45  # 5 s before expiry: inside the refresh margin (10% of the lifetime)
        await connector.test_connection()
    assert token_grants(sim) == ["password", "refresh_token"]
    assert [e.status for e in sim.requests.entries("GET")] == [200, 200, 200]  # never a 401


async def test_oauth_renews_once_after_a_401(sim: ServiceNowSimulator, sent: list[tuple[str, str]]) -> None:
    fake = FakeClock()
    async with oauth_client(sim, sent, fake) as connector:
        await connector.test_connection()
        sim.revoke_tokens()
        assert await connector.test_connection()
    assert [e.status for e in sim.requests.entries("GET")] == [200, 401, 200]
    assert token_grants(sim) == ["password", "refresh_token"]


async def test_oauth_falls_back_to_password_grant_when_refresh_fails(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    fake = FakeClock()
    async with oauth_client(sim, sent, fake) as connector:
        await connector.test_connection()
        sim.reset()  # forgets access and refresh tokens
        assert await connector.test_connection()
    assert token_grants(sim) == ["refresh_token", "password"]


async def test_oauth_expired_token_on_the_server_is_renewed(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]], clock: ManualClock
) -> None:
    fake = FakeClock()
    async with oauth_client(sim, sent, fake) as connector:
        await connector.test_connection()
        clock.advance(1800)  # the server thinks the token expired; the client's clock does not
        assert await connector.test_connection()
    assert [e.status for e in sim.requests.entries("GET")] == [200, 401, 200]


async def test_oauth_bad_client_secret_is_auth_failed_without_secrets(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    fake = FakeClock()
    async with oauth_client(
        sim, sent, fake, client_secret=Secret("s3cr3t-client"), password=Secret("p4ssw0rd-user")
    ) as connector:
        with pytest.raises(AuthFailed) as failed:
            await connector.test_connection()
        text = f"{failed.value} {failed.value!r} {connector!r}"
    assert "OAuth token request refused" in str(failed.value)
    for secret in ("s3cr3t-client", "p4ssw0rd-user"):
        assert secret not in text


async def test_tokens_never_appear_in_errors(sim: ServiceNowSimulator, sent: list[tuple[str, str]]) -> None:
    fake = FakeClock()
    async with oauth_client(sim, sent, fake) as connector:
        await connector.test_connection()
        token = connector._access_token
        assert token is not None and token.reveal() not in repr(token)
        sim.faults.inject("status", status=401, count=2, path="/api/now/")
        with pytest.raises(ConnectorError) as failed:
            await connector.test_connection()
        tokens = [token.reveal()] + [
            t.reveal() for t in (connector._access_token, connector._refresh_token) if t
        ]
    for value in tokens:
        assert value not in f"{failed.value} {failed.value!r}"
    for secret in (PASSWORD, CLIENT_SECRET):
        assert f"={secret}" not in str(failed.value)


async def test_a_large_page_is_decoded_once_and_off_the_event_loop(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the desktop app the event loop is the GUI thread: parsing a 500-record page there (the
    envelope check did, before the page was parsed again in a worker) stalled the window ~15 ms."""
    import threading

    decoded: list[tuple[int, int, bool]] = []
    original = httpx.Response.json

    def recording_json(response: httpx.Response, **kwargs: Any) -> Any:
        on_loop = threading.current_thread() is threading.main_thread()
        decoded.append((id(response), len(response.content), on_loop))
        return original(response, **kwargs)

    monkeypatch.setattr(httpx.Response, "json", recording_json)
    for n in range(120):
        sim.create_incident(short_description=f"large page {n} " + "x" * 200)
    async with make_client(sim, sent, page_size=100) as connector:
        pages = await collect(connector.query_incidents())
    assert [len(page) for page in pages] == [100, 20]
    responses = [response for response, _size, _on_loop in decoded]
    assert len(responses) == len(set(responses)) == 2, decoded  # each page parsed once, not per check
    large = [on_loop for _response, size, on_loop in decoded if size >= LARGE_BODY_BYTES]
    assert large and not any(large), decoded  # large pages parsed in a worker thread


async def test_a_page_being_stored_holds_no_raw_json(
    sim: ServiceNowSimulator, sent: list[tuple[str, str]]
) -> None:
    """While the engine stores a page (seconds for 500 incidents) its raw JSON, some 15,000 dicts,
    must already be let go: kept, each full garbage collection walked it, stalling every thread. A
    response outlives its use in a reference cycle (until a full collection: none runs here), so
    neither the generator nor the parsed-body memo may hold on to the body."""
    import gc

    from app.connectors import limits

    for n in range(30):
        sim.create_incident(short_description=f"page {n}")
    gc.collect()
    earlier = set(limits._DECODED)  # other tests' answers (kept alive by a frozen collector)
    gc.disable()
    try:
        async with make_client(sim, sent, page_size=20) as connector:
            pages = connector.query_incidents()
            assert isinstance(pages, AsyncGenerator)
            while True:
                try:
                    await anext(pages)
                except StopAsyncIteration:
                    break
                held = pages.ag_frame.f_locals if pages.ag_frame is not None else {}
                assert "response" not in held and "rows" not in held
                assert set(limits._DECODED) <= earlier  # the memo let the parsed body go
    finally:
        gc.enable()
