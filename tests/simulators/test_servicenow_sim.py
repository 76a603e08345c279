"""Contract tests for the ServiceNow simulator over real loopback HTTP (api-contracts.md section 1)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.simulators.clock import ManualClock
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator, parse_query

AUTH = ("demo.integration", "demo")
T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def settings() -> ServiceNowSimSettings:
    return ServiceNowSimSettings()


@pytest.fixture(scope="module")
def server() -> Iterator[ServiceNowSimulator]:
    """One server per module (start/stop costs ~0.2 s); each test gets it reset."""
    with ServiceNowSimulator(seed=1) as simulator:
        yield simulator


@pytest.fixture
def sim(
    server: ServiceNowSimulator, clock: ManualClock, settings: ServiceNowSimSettings
) -> ServiceNowSimulator:
    server.reset()
    server.clock = clock
    server.settings = settings
    return server


@pytest.fixture
def http(sim: ServiceNowSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, auth=AUTH, timeout=5) as client:
        yield client


def result(response: httpx.Response) -> Any:
    return response.json()["result"]


def make(sim: ServiceNowSimulator, count: int, **fields: Any) -> list[dict[str, str]]:
    return [sim.create_incident(short_description=f"incident {i}", **fields) for i in range(count)]


# --- records -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("impact", "urgency", "priority"),
    [
        ("1", "1", "1"),
        ("1", "2", "2"),
        ("1", "3", "3"),
        ("2", "1", "2"),
        ("2", "2", "3"),
        ("2", "3", "4"),
        ("3", "1", "3"),
        ("3", "2", "4"),
        ("3", "3", "5"),
    ],
)
def test_priority_is_derived_from_impact_and_urgency(
    http: httpx.Client, impact: str, urgency: str, priority: str
) -> None:
    created = http.post(
        "/api/now/table/incident",
        json={"short_description": "x", "impact": impact, "urgency": urgency, "priority": "1"},
    )
    assert created.status_code == 201
    assert result(created)["priority"] == priority  # priority is never writable directly
    sys_id = result(created)["sys_id"]
    patched = http.patch(f"/api/now/table/incident/{sys_id}", json={"impact": "3", "urgency": "3"})
    assert result(patched)["priority"] == "5"


def test_post_returns_201_location_and_platform_fields(
    http: httpx.Client, sim: ServiceNowSimulator, clock: ManualClock
) -> None:
    assert sim.next_number == "INC0010001"
    response = http.post(
        "/api/now/table/incident",
        json={"short_description": "Printer on fire", "sys_id": "mine", "sys_created_by": "hacker"},
    )
    assert response.status_code == 201
    record = result(response)
    assert re.fullmatch(r"[0-9a-f]{32}", record["sys_id"])
    assert response.headers["location"].endswith(f"/api/now/table/incident/{record['sys_id']}")
    assert record["number"] == "INC0010001"
    assert record["sys_created_by"] == "demo.integration"
    assert (
        record["sys_created_on"] == record["sys_updated_on"] == record["opened_at"] == "2026-01-05 09:00:00"
    )
    assert record["sys_mod_count"] == "0"
    assert record["category"] == "inquiry"
    assert record["active"] == "true" and record["state"] == record["incident_state"] == "1"
    assert sim.next_number == "INC0010002"
    second = result(http.post("/api/now/table/incident", json={"short_description": "again"}))
    assert second["number"] == "INC0010002"

    clock.advance(61)
    patched = http.patch(f"/api/now/table/incident/{record['sys_id']}", json={"state": "8"})
    assert patched.status_code == 200
    after = result(patched)
    assert after["sys_mod_count"] == "1"
    assert after["sys_updated_on"] == "2026-01-05 09:01:01"
    assert after["active"] == "false" and after["incident_state"] == "8"
    assert after["sys_updated_by"] == "demo.integration"
    assert sim.get_record(record["sys_id"])["sys_created_by"] == "demo.integration"


def test_put_behaves_like_patch_and_delete_answers_204(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    [record] = make(sim, 1, category="software")
    put = http.put(f"/api/now/table/incident/{record['sys_id']}", json={"correlation_id": "T1"})
    assert put.status_code == 200
    assert result(put)["correlation_id"] == "T1" and result(put)["category"] == "software"
    deleted = http.delete(f"/api/now/table/incident/{record['sys_id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    missing = http.get(f"/api/now/table/incident/{record['sys_id']}")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "No Record found",
            "detail": "Record doesn't exist or ACL restricts the record retrieval",
        },
        "status": "failure",
    }


def test_every_value_is_a_string(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    make(sim, 2, impact=1, urgency=2, state=2)
    for record in result(http.get("/api/now/table/incident")):
        for name, value in record.items():
            assert isinstance(value, str | dict), name
            if isinstance(value, dict):
                assert set(value) == {"link", "value"} and all(isinstance(v, str) for v in value.values())


def test_reference_shapes(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    [record] = make(sim, 1, assigned_to="")
    path = f"/api/now/table/incident/{record['sys_id']}"
    caller = record["caller_id"]
    fields = {"sysparm_fields": "caller_id,assigned_to,state,priority"}

    raw = result(http.get(path, params=fields))
    assert raw["caller_id"] == {"link": f"{sim.base_url}/api/now/table/sys_user/{caller}", "value": caller}
    assert raw["assigned_to"] == ""

    bare = result(http.get(path, params={**fields, "sysparm_exclude_reference_link": "true"}))
    assert bare["caller_id"] == caller

    shown = result(http.get(path, params={**fields, "sysparm_display_value": "true"}))
    assert shown["caller_id"] == {
        "display_value": "Abel Tuter",
        "link": f"{sim.base_url}/api/now/table/sys_user/{caller}",
    }
    assert shown["state"] == "New" and shown["priority"] == "5 - Planning" and shown["assigned_to"] == ""

    both = result(
        http.get(
            path, params={**fields, "sysparm_display_value": "all", "sysparm_exclude_reference_link": "true"}
        )
    )
    assert both["caller_id"] == {"display_value": "Abel Tuter", "value": caller}
    assert both["state"] == {"display_value": "New", "value": "1"}


def test_sysparm_fields_ignores_unknown_names(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    make(sim, 1)
    [row] = result(http.get("/api/now/table/incident", params={"sysparm_fields": "number,u_bogus,state"}))
    assert list(row) == ["number", "state"]


def test_journal_fields_append_and_read_back_empty(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    [record] = make(sim, 1)
    path = f"/api/now/table/incident/{record['sys_id']}"
    first = http.patch(path, json={"work_notes": "first note"})
    assert result(first)["work_notes"] == ""
    http.patch(path, json={"work_notes": "second note", "comments": "visible to the caller"})
    assert result(http.get(path))["work_notes"] == ""
    assert sim.get_record(record["sys_id"])["sys_mod_count"] == "2"

    notes = [row["value"] for row in sim.journal(record["sys_id"])]
    assert notes == ["first note", "second note"]
    query = f"element_id={record['sys_id']}^element=work_notes^ORDERBYDESCsys_created_on"
    rows = result(http.get("/api/now/table/sys_journal_field", params={"sysparm_query": query}))
    assert {row["value"] for row in rows} == {"first note", "second note"}
    assert all(row["sys_created_by"] == "demo.integration" and row["name"] == "incident" for row in rows)
    assert [row["value"] for row in sim.journal(record["sys_id"], "comments")] == ["visible to the caller"]


def test_journal_and_choice_tables_are_read_only(http: httpx.Client) -> None:
    response = http.post("/api/now/table/sys_journal_field", json={"value": "x"})
    assert response.status_code == 403


def test_close_code_choices(http: httpx.Client) -> None:
    query = "name=incident^element=close_code^inactive=false^ORDERBYsequence"
    rows = result(http.get("/api/now/table/sys_choice", params={"sysparm_query": query}))
    assert [row["value"] for row in rows][:3] == [
        "Solution provided",
        "Workaround provided",
        "Resolved by change",
    ]
    assert len(rows) == 10


def test_data_policy_requires_close_fields_in_the_same_patch(
    http: httpx.Client, sim: ServiceNowSimulator
) -> None:
    [record] = make(sim, 1)
    path = f"/api/now/table/incident/{record['sys_id']}"
    refused = http.patch(path, json={"state": "6"})
    assert refused.status_code == 403
    assert refused.json() == {
        "error": {
            "message": "Data Policy Exception: The following fields are mandatory: "
            "Resolution code, Resolution notes",
            "detail": None,
        },
        "status": "failure",
    }
    assert sim.get_record(record["sys_id"])["state"] == "1"  # nothing was written
    half = http.patch(path, json={"state": "6", "close_code": "Solution provided"})
    assert half.status_code == 403 and half.json()["error"]["message"].endswith("mandatory: Resolution notes")

    resolved = http.patch(
        path, json={"state": "6", "close_code": "Solution provided", "close_notes": "Fixed"}
    )
    assert resolved.status_code == 200
    # Like the platform: Resolved stays active until it is Closed (closing sets active=false).
    assert result(resolved)["state"] == "6" and result(resolved)["active"] == "true"
    closed = http.patch(path, json={"state": "7"})
    assert result(closed)["state"] == "7" and result(closed)["active"] == "false"


def test_field_acl_ignores_an_api_write_silently(
    http: httpx.Client, sim: ServiceNowSimulator, settings: ServiceNowSimSettings
) -> None:
    settings.acl_read_only_fields = {"state"}
    [record] = make(sim, 1)
    answer = http.patch(f"/api/now/table/incident/{record['sys_id']}", json={"state": "2", "urgency": "1"})
    assert answer.status_code == 200  # no error: the field is just not written
    assert result(answer)["state"] == "1" and result(answer)["urgency"] == "1"
    sim.update_incident(record["sys_id"], state="2")  # a person on the form is not the API user
    assert sim.get_record(record["sys_id"])["state"] == "2"


def test_reverting_business_rule_puts_the_old_value_back(
    http: httpx.Client, sim: ServiceNowSimulator, settings: ServiceNowSimSettings
) -> None:
    settings.reverting_rule_fields = {"state"}
    [record] = make(sim, 1)
    sim.update_incident(record["sys_id"], state="2")
    before = sim.get_record(record["sys_id"])
    answer = http.patch(
        f"/api/now/table/incident/{record['sys_id']}",
        json={"state": "6", "close_code": "Solution provided", "close_notes": "x", "work_notes": "hi"},
    )
    assert answer.status_code == 200
    assert result(answer)["state"] == "2"  # the rule reverted it; the update itself committed
    assert int(result(answer)["sys_mod_count"]) == int(before["sys_mod_count"]) + 1
    assert [n["value"] for n in sim.journal(record["sys_id"])] == ["hi"]


def test_data_policy_can_be_switched_off(
    http: httpx.Client, sim: ServiceNowSimulator, settings: ServiceNowSimSettings
) -> None:
    settings.data_policy_close_fields = False
    [record] = make(sim, 1)
    assert http.patch(f"/api/now/table/incident/{record['sys_id']}", json={"state": "7"}).status_code == 200


def test_no_response_body_header(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    [record] = make(sim, 1)
    response = http.patch(
        f"/api/now/table/incident/{record['sys_id']}",
        json={"correlation_id": "T9"},
        headers={"X-no-response-body": "true"},
    )
    assert response.status_code == 200 and response.content == b""
    assert sim.get_record(record["sys_id"])["correlation_id"] == "T9"


def test_v1_answers_empty_with_404_v2_with_empty_list(http: httpx.Client) -> None:
    params = {"sysparm_query": "number=INC9999999"}
    v1 = http.get("/api/now/v1/table/incident", params=params)
    assert v1.status_code == 404 and v1.json()["error"]["message"] == "No Record found"
    v2 = http.get("/api/now/v2/table/incident", params=params)
    assert v2.status_code == 200 and v2.json() == {"result": []}
    plain = http.get("/api/now/table/incident", params=params)
    assert plain.status_code == 200 and plain.json() == {"result": []}


def test_unknown_table_is_400(http: httpx.Client) -> None:
    response = http.get("/api/now/table/sys_nonexistent")
    assert response.status_code == 400
    assert response.json() == {
        "error": {"message": "Invalid table sys_nonexistent", "detail": None},
        "status": "failure",
    }


def test_python_api_records_who_wrote_what(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    [record] = make(sim, 1)
    sim.update_incident(record["sys_id"], impact="1")
    http.patch(f"/api/now/table/incident/{record['sys_id']}", json={"correlation_id": "T1"})
    assert [w.action for w in sim.writes("sam.triage")] == ["insert", "update"]
    [api_write] = sim.api_writes()
    assert api_write.fields == {"correlation_id": "T1"} and api_write.user == "demo.integration"
    assert sim.get_record(record["sys_id"])["sys_updated_by"] == "demo.integration"


# --- queries -------------------------------------------------------------------------------------


@pytest.fixture
def population(sim: ServiceNowSimulator, clock: ManualClock) -> dict[str, dict[str, str]]:
    rows = {
        "net": sim.create_incident(short_description="VPN down", category="network", impact="1", urgency="1"),
        "hw": sim.create_incident(short_description="Laptop broken", category="hardware", impact="2"),
        "sw": sim.create_incident(
            short_description="Excel crashes", category="software", correlation_id="T7"
        ),
    }
    clock.advance(3600)
    rows["late"] = sim.create_incident(short_description="VPN slow", category="network", state="2")
    return rows


def numbers(http: httpx.Client, query: str) -> list[str]:
    params = {"sysparm_query": query, "sysparm_fields": "number"}
    return [row["number"] for row in result(http.get("/api/now/table/incident", params=params))]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("category=network", ["INC0010001", "INC0010004"]),
        ("category!=network", ["INC0010002", "INC0010003"]),
        ("category=network^state=2", ["INC0010004"]),
        ("category=hardware^ORcategory=software", ["INC0010002", "INC0010003"]),
        ("state=2^category=hardware^ORcategory=network", ["INC0010004"]),
        ("category=hardware^NQcategory=network^state=1", ["INC0010001", "INC0010002"]),
        ("categoryINhardware,software", ["INC0010002", "INC0010003"]),
        ("categoryNOT INhardware,software", ["INC0010001", "INC0010004"]),
        ("correlation_idISEMPTY^category!=network", ["INC0010002"]),
        ("correlation_idISNOTEMPTY", ["INC0010003"]),
        ("short_descriptionLIKEVPN", ["INC0010001", "INC0010004"]),
        ("short_descriptionSTARTSWITHExcel", ["INC0010003"]),
        ("short_descriptionENDSWITHslow", ["INC0010004"]),
        ("priority<=2", ["INC0010001"]),
        ("priority>4", ["INC0010003", "INC0010004"]),
        ("sys_updated_on>2026-01-05 09:30:00", ["INC0010004"]),
        (
            "sys_updated_on>=2026-01-05 09:00:00^sys_updated_on<2026-01-05 10:00:00",
            ["INC0010001", "INC0010002", "INC0010003"],
        ),
        ("sys_updated_on>javascript:gs.dateGenerate('2026-01-05','09:30:00')", ["INC0010004"]),
        ("u_typo=1^category=hardware", ["INC0010002"]),  # unknown field: term dropped
        ("u_typo=1", ["INC0010001", "INC0010002", "INC0010003", "INC0010004"]),  # whole table!
        ("category=network^ORDERBYDESCnumber", ["INC0010004", "INC0010001"]),
        ("ORDERBYDESCsys_updated_on^ORDERBYnumber", ["INC0010004", "INC0010001", "INC0010002", "INC0010003"]),
    ],
)
def test_encoded_query_subset(
    http: httpx.Client, population: dict[str, dict[str, str]], query: str, expected: list[str]
) -> None:
    assert numbers(http, query) == expected


def test_invalid_query_can_return_no_rows(
    http: httpx.Client, population: dict[str, dict[str, str]], settings: ServiceNowSimSettings
) -> None:
    settings.invalid_query_returns_no_rows = True
    assert numbers(http, "u_typo=1^category=hardware") == []
    assert numbers(http, "category=hardware") == ["INC0010002"]


def test_date_generate_time_zone_is_a_setting() -> None:
    columns = ("sys_updated_on",)
    text = "sys_updated_on>javascript:gs.dateGenerate('2026-07-01','12:00:00')"
    assert parse_query(text, columns).branches[0][0][0].value == "2026-07-01 12:00:00"
    berlin = parse_query(text, columns, date_generate_tz="Europe/Berlin")
    assert berlin.branches[0][0][0].value == "2026-07-01 10:00:00"


# --- paging and ACLs -----------------------------------------------------------------------------


def offsets(link: str) -> dict[str, int]:
    found = {}
    for url, rel in re.findall(r'<([^>]+)>;rel="(\w+)"', link):
        found[rel] = int(httpx.URL(url).params["sysparm_offset"])
        assert url.startswith("http://127.0.0.1:")  # absolute URLs
    return found


def test_link_and_total_count_headers(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    make(sim, 25)
    first = http.get("/api/now/table/incident", params={"sysparm_limit": "10"})
    assert first.headers["x-total-count"] == "25" and len(result(first)) == 10
    assert offsets(first.headers["link"]) == {"first": 0, "next": 10, "last": 20}
    middle = http.get("/api/now/table/incident", params={"sysparm_limit": "10", "sysparm_offset": "10"})
    assert offsets(middle.headers["link"]) == {"first": 0, "prev": 0, "next": 20, "last": 20}
    last = http.get("/api/now/table/incident", params={"sysparm_limit": "10", "sysparm_offset": "20"})
    assert offsets(last.headers["link"]) == {"first": 0, "prev": 10, "last": 20}
    assert len(result(last)) == 5

    single = http.get("/api/now/table/incident")
    assert "link" not in single.headers and len(result(single)) == 25  # default limit 10000
    quiet = http.get(
        "/api/now/table/incident",
        params={
            "sysparm_limit": "10",
            "sysparm_suppress_pagination_header": "true",
            "sysparm_no_count": "true",
        },
    )
    assert "link" not in quiet.headers and "x-total-count" not in quiet.headers


def test_acl_hidden_rows_make_short_pages(
    http: httpx.Client, sim: ServiceNowSimulator, settings: ServiceNowSimSettings
) -> None:
    rows = make(sim, 25)
    settings.acl_hidden_sys_ids.update({rows[1]["sys_id"], rows[4]["sys_id"], rows[12]["sys_id"]})
    first = http.get("/api/now/table/incident", params={"sysparm_limit": "10"})
    assert len(result(first)) == 8  # limit applied before the ACL
    assert first.headers["x-total-count"] == "25"
    assert offsets(first.headers["link"])["next"] == 10
    second = http.get("/api/now/table/incident", params={"sysparm_limit": "10", "sysparm_offset": "10"})
    assert len(result(second)) == 9
    assert http.get(f"/api/now/table/incident/{rows[1]['sys_id']}").status_code == 404
    assert http.patch(f"/api/now/table/incident/{rows[1]['sys_id']}", json={"impact": "1"}).status_code == 404


# --- auth and limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [("demo.integration", "wrong"), ("nobody", "demo"), None])
def test_bad_or_missing_credentials_are_401(sim: ServiceNowSimulator, auth: tuple[str, str] | None) -> None:
    with httpx.Client(base_url=sim.base_url, auth=auth) as client:
        response = client.get("/api/now/table/incident")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"message": "User Not Authenticated", "detail": "Required to provide Auth information"},
        "status": "failure",
    }


def token_form(**extra: str) -> dict[str, str]:
    return {"client_id": "demo-client", "client_secret": "demo-secret", **extra}


def test_oauth_password_and_refresh_grants(sim: ServiceNowSimulator, clock: ManualClock) -> None:
    with httpx.Client(base_url=sim.base_url) as client:
        granted = client.post(
            "/oauth_token.do",
            data=token_form(grant_type="password", username="demo.integration", password="demo"),
        )
        assert granted.status_code == 200
        body = granted.json()
        assert (
            body["scope"] == "useraccount" and body["token_type"] == "Bearer" and body["expires_in"] == 1799
        )
        bearer = {"Authorization": f"Bearer {body['access_token']}"}
        assert client.get("/api/now/table/incident", headers=bearer).status_code == 200

        clock.advance(1800)
        assert client.get("/api/now/table/incident", headers=bearer).status_code == 401  # expired
        refreshed = client.post(
            "/oauth_token.do",
            data=token_form(grant_type="refresh_token", refresh_token=body["refresh_token"]),
        )
        assert refreshed.status_code == 200
        new_bearer = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
        assert client.get("/api/now/table/incident", headers=new_bearer).status_code == 200

        wrong = client.post(
            "/oauth_token.do",
            data={
                **token_form(grant_type="password", username="demo.integration", password="demo"),
                "client_secret": "nope",
            },
        )
        assert wrong.status_code == 401


def test_client_credentials_only_when_enabled(
    sim: ServiceNowSimulator, settings: ServiceNowSimSettings
) -> None:
    with httpx.Client(base_url=sim.base_url) as client:
        assert (
            client.post("/oauth_token.do", data=token_form(grant_type="client_credentials")).status_code
            == 400
        )
        settings.client_credentials_enabled = True
        granted = client.post("/oauth_token.do", data=token_form(grant_type="client_credentials"))
        assert granted.status_code == 200 and granted.json()["access_token"]


def test_rate_limit_rule(http: httpx.Client, settings: ServiceNowSimSettings, clock: ManualClock) -> None:
    settings.rate_limit_per_hour = 2
    for _ in range(2):
        ok = http.get("/api/now/table/incident")
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-limit"] == "2" and ok.headers["x-ratelimit-rule"]
    limited = http.get("/api/now/table/incident")
    assert limited.status_code == 429
    assert limited.json() == {
        "error": {
            "message": "Rate limit exceeded",
            "detail": "Rate limit of 2 requests per hour for Table API exceeded",
        },
        "status": "failure",
    }
    reset = int(limited.headers["x-ratelimit-reset"])
    assert reset == int(datetime(2026, 1, 5, 10, 0, tzinfo=UTC).timestamp())
    assert limited.headers["retry-after"] == "3600"  # the clock stands at 09:00:00
    clock.advance(3600)
    assert http.get("/api/now/table/incident").status_code == 200


def test_fault_plan_uses_the_servicenow_error_envelope(http: httpx.Client, sim: ServiceNowSimulator) -> None:
    sim.faults.inject("status", status=503, path="/api/now/table/incident")
    response = http.get("/api/now/table/incident")
    assert response.status_code == 503
    assert response.json() == {
        "error": {"message": "Service Unavailable", "detail": None},
        "status": "failure",
    }
    assert http.get("/api/now/table/incident").status_code == 200
    assert [e.status for e in sim.requests.entries("GET", "/api/now/table/incident")] == [503, 200]


# --- what a busy instance does to readers ---------------------------------------------------------


def test_date_header_comes_from_the_instance_clock(http: httpx.Client, clock: ManualClock) -> None:
    clock.advance(3600)
    response = http.get("/api/now/table/incident")
    assert response.headers.get_list("date") == ["Mon, 05 Jan 2026 10:00:00 GMT"]


def test_late_commit_is_invisible_then_shows_its_earlier_stamp(
    sim: ServiceNowSimulator, http: httpx.Client, clock: ManualClock
) -> None:
    slow = sim.create_incident(short_description="slow", commit_delay=120)
    assert result(http.get("/api/now/table/incident")) == []
    assert http.get(f"/api/now/table/incident/{slow['sys_id']}").status_code == 404
    clock.advance(119)
    assert result(http.get("/api/now/table/incident")) == []
    clock.advance(1)
    [row] = result(http.get("/api/now/table/incident"))
    assert row["sys_id"] == slow["sys_id"] and row["sys_updated_on"] == "2026-01-05 09:00:00"


def test_late_committed_update_shows_the_previous_version_until_then(
    sim: ServiceNowSimulator, http: httpx.Client, clock: ManualClock
) -> None:
    record = sim.create_incident(short_description="before")
    clock.advance(10)
    sim.update_incident(record["sys_id"], short_description="after", commit_delay=60)
    read = result(http.get(f"/api/now/table/incident/{record['sys_id']}"))
    assert read["short_description"] == "before" and read["sys_updated_on"] == "2026-01-05 09:00:00"
    clock.advance(60)
    read = result(http.get(f"/api/now/table/incident/{record['sys_id']}"))
    assert read["short_description"] == "after" and read["sys_updated_on"] == "2026-01-05 09:00:10"


def test_import_writes_an_older_stamp(sim: ServiceNowSimulator, http: httpx.Client) -> None:
    imported = sim.create_incident(stamp=datetime(2026, 1, 1, 7, 30, tzinfo=UTC))
    assert imported["sys_updated_on"] == imported["sys_created_on"] == "2026-01-01 07:30:00"
    rows = result(http.get("/api/now/table/incident", params={"sysparm_query": "sys_updated_on<2026-01-02"}))
    assert [r["sys_id"] for r in rows] == [imported["sys_id"]]


def test_page_hooks_run_between_page_requests(
    sim: ServiceNowSimulator, http: httpx.Client, clock: ManualClock
) -> None:
    """Offset paging loses a row when a record on a read page is edited: the platform's behaviour."""
    rows = make(sim, 4)
    seen: list[str] = []

    def edit_first(params: Any) -> bool:
        seen.append(params["sysparm_offset"])
        clock.advance(5)
        on_page_one = min(sim.records(), key=lambda r: (r["sys_updated_on"], r["sys_id"]))
        sim.update_incident(on_page_one["sys_id"], work_notes="a note is enough")
        return True

    sim.page_hooks.add(edit_first)
    order = {"sysparm_query": "ORDERBYsys_updated_on^ORDERBYsys_id", "sysparm_limit": "2"}
    first = result(http.get("/api/now/table/incident", params={**order, "sysparm_offset": "0"}))
    second = result(http.get("/api/now/table/incident", params={**order, "sysparm_offset": "2"}))
    third = result(http.get("/api/now/table/incident", params={**order, "sysparm_offset": "4"}))
    assert seen == ["0"]  # ran once, after the first page
    returned = {r["sys_id"] for r in first + second + third}
    missed = {r["sys_id"] for r in rows} - returned
    assert len(missed) == 1  # the row that moved up into the page already read
