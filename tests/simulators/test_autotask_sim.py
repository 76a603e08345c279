"""Contract tests for the Autotask simulator over real loopback HTTP (quirks 10-17 of the reference)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from app.simulators.autotask import AutotaskSimSettings, AutotaskSimulator
from app.simulators.clock import ManualClock

HEADERS = {"ApiIntegrationCode": "DEMO", "UserName": "demo@example.com", "Secret": "demo"}
VALID = {
    "title": "Printer on fire",
    "companyID": 174,
    "status": 1,
    "priority": 2,
    "queueID": 29683482,
    "dueDateTime": "2026-01-06T09:00:00.000Z",
}


START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[AutotaskSimulator, ManualClock]]:
    clock = ManualClock(START)
    with AutotaskSimulator(clock=clock) as simulator:
        yield simulator, clock


@pytest.fixture
def clock(running: tuple[AutotaskSimulator, ManualClock]) -> ManualClock:
    running[1].set(START)
    return running[1]


@pytest.fixture
def sim(running: tuple[AutotaskSimulator, ManualClock], clock: ManualClock) -> AutotaskSimulator:
    running[0].reset()
    return running[0]


@pytest.fixture
def api(sim: AutotaskSimulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{sim.rest_base}/v1.0", headers=HEADERS, timeout=10) as client:
        yield client


def errors(response: httpx.Response) -> list[str]:
    body = response.json()
    assert set(body) == {"errors"}
    messages = body["errors"]
    assert isinstance(messages, list)
    return [str(m) for m in messages]


def query(api: httpx.Client, filters: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return api.post("/Tickets/query", json={"filter": filters, **extra})


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [int(item["id"]) for item in response.json()["items"]]


# ---- zone, version, auth, threshold --------------------------------------------------------------


def test_version_and_zone_information_without_auth(sim: AutotaskSimulator) -> None:
    assert httpx.get(f"{sim.url}/atservicesrest/versioninformation").json() == {"apiVersions": ["1.0"]}
    zone = httpx.get(
        f"{sim.url}/ATServicesRest/V1.0/zoneInformation", params={"user": "DEMO@example.com"}
    ).json()
    assert zone["zoneName"] == "Simulator Zone"
    assert zone["url"] == f"{sim.url}/atservicesrest/"
    assert {"webUrl", "ci"} <= set(zone)
    unknown = httpx.get(f"{sim.url}/atservicesrest/v1.0/zoneInformation", params={"user": "nobody@x"})
    assert unknown.status_code == 500


def test_header_auth_required_and_prefix_case_insensitive(sim: AutotaskSimulator) -> None:
    url = f"{sim.url}/ATServicesRest/V1.0/Tickets/entityInformation"
    assert httpx.get(url, headers=HEADERS).status_code == 200
    assert httpx.get(url, headers={**HEADERS, "Secret": "wrong"}).status_code == 401
    assert httpx.get(url, auth=("demo@example.com", "demo")).status_code == 401
    missing_code = {k: v for k, v in HEADERS.items() if k != "ApiIntegrationCode"}
    response = httpx.get(url, headers=missing_code)
    assert response.status_code == 401 and errors(response)


def test_threshold_counts_every_request_and_refuses_over_limit(
    sim: AutotaskSimulator, api: httpx.Client, clock: ManualClock
) -> None:
    first = api.get("/ThresholdInformation").json()
    assert first["externalRequestThreshold"] == 10000
    assert first["requestThresholdTimeframe"] == 60
    api.get("/Tickets/1")
    api.get("/Tickets/1")
    assert (
        api.get("/ThresholdInformation").json()["currentTimeframeRequestCount"]
        == first["currentTimeframeRequestCount"] + 3
    )
    sim.settings.hourly_threshold = sim.request_count + 1
    assert api.get("/Tickets/1").status_code == 200
    refused = api.get("/Tickets/1")
    assert refused.status_code == 429 and "threshold" in errors(refused)[0]
    assert "retry-after" not in refused.headers
    sim.settings.over_limit_status = 503
    sim.settings.over_limit_retry_after = 30
    refused = api.get("/Tickets/1")
    assert refused.status_code == 503 and refused.headers["retry-after"] == "30"
    clock.advance(3601)  # the window slides: requests are accepted again
    assert api.get("/Tickets/1").status_code == 200


def test_other_integrations_share_the_threshold_and_decay(
    sim: AutotaskSimulator, api: httpx.Client, clock: ManualClock
) -> None:
    sim.set_other_integrations(9600)
    count = api.get("/ThresholdInformation").json()["currentTimeframeRequestCount"]
    assert count == 9601  # theirs and this read
    clock.advance(1800)  # half an hour later, half of their requests have left the window
    count = api.get("/ThresholdInformation").json()["currentTimeframeRequestCount"]
    assert 4790 <= count <= 4810
    sim.set_other_integrations(10000)
    refused = api.get("/Tickets/1")
    assert refused.status_code == 429  # the tenant is at its threshold: everyone is refused
    clock.advance(3600)
    assert api.get("/ThresholdInformation").json()["currentTimeframeRequestCount"] <= 3
    with pytest.raises(ValueError):
        sim.set_other_integrations(-1)


def test_usage_latency_setting_is_applied_from_half_the_threshold(sim: AutotaskSimulator) -> None:
    sim.settings.latency_from_usage = True
    sim.settings.hourly_threshold = 100
    assert sim._count_request() == (False, 0.0)
    for _ in range(49):
        sim._count_request()
    assert sim._count_request()[1] == 0.5
    for _ in range(24):
        sim._count_request()
    assert sim._count_request()[1] == 1.0


# ---- tickets: get, create, validation ------------------------------------------------------------


def test_get_missing_ticket_is_item_null_or_404_by_setting(sim: AutotaskSimulator, api: httpx.Client) -> None:
    assert api.get("/Tickets/999999").json() == {"item": None}
    sim.settings.item_null_for_missing = False
    assert api.get("/Tickets/999999").status_code == 404


def test_create_returns_item_id_and_fills_system_fields(sim: AutotaskSimulator, api: httpx.Client) -> None:
    response = api.post("/Tickets", json={**VALID, "externalID": "abc"})
    assert response.status_code == 200
    ticket_id = response.json()["itemId"]
    item = api.get(f"/Tickets/{ticket_id}").json()["item"]
    assert item["ticketNumber"] == "T20260105.0001"
    assert item["createDate"] == item["lastActivityDate"] == "2026-01-05T09:00:00.000Z"
    assert item["status"] == 1 and isinstance(item["priority"], int)
    assert item["completedDate"] is None
    assert isinstance(item["userDefinedFields"], list)
    assert sim.ticket(ticket_id) == item


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"title": None}, "null"),
        ({"description": "x", "source": None}, "null"),
        ({"drop": "title"}, "title is required"),
        ({"drop": "companyID"}, "companyID is required"),
        ({"drop": "status"}, "status is required"),
        ({"drop": "priority"}, "priority is required"),
        ({"drop": "dueDateTime"}, "dueDateTime is required.; on record number [0]."),
        ({"drop": "queueID"}, "queue"),
        (
            {"drop": "queueID", "assignedResourceID": 29682885},
            "When assigning a Resource, you must assign both a assignedResourceID and "
            "assignedResourceRoleID.",
        ),
        ({"companyID": 99999}, "Value does not reference an existing entity for companyID"),
        ({"priority": 99}, "picklist"),
        ({"priority": 6}, "picklist"),  # inactive value
        ({"status": "High"}, "Error converting value"),
        ({"companyID": True}, "Error converting value"),
        ({"title": "x" * 256}, "maximum length of 255"),
        ({"dueDateTime": "tomorrow"}, "DateTime"),
        ({"issueType": 10, "subIssueType": 140}, "does not belong"),
    ],
)
def test_create_validation_is_http_500_with_errors(
    sim: AutotaskSimulator, api: httpx.Client, change: dict[str, Any], message: str
) -> None:
    body = dict(VALID)
    dropped = change.pop("drop", None)
    if dropped:
        body.pop(dropped)
    body.update(change)
    response = api.post("/Tickets", json=body)
    assert response.status_code == 500
    assert any(message.lower() in m.lower() for m in errors(response)), errors(response)
    assert sim.tickets() == []


def test_due_date_requirement_is_a_setting(sim: AutotaskSimulator, api: httpx.Client) -> None:
    sim.settings.require_due_date = False
    body = {k: v for k, v in VALID.items() if k != "dueDateTime"}
    assert api.post("/Tickets", json=body).status_code == 200
    fields = api.get("/Tickets/entityInformation/fields").json()["fields"]
    assert next(f for f in fields if f["name"] == "dueDateTime")["isRequired"] is False


def test_resource_and_role_instead_of_queue(api: httpx.Client) -> None:
    body = {k: v for k, v in VALID.items() if k != "queueID"}
    body.update(assignedResourceID=29682885, assignedResourceRoleID=29683464)
    assert api.post("/Tickets", json=body).status_code == 200


# ---- metadata ------------------------------------------------------------------------------------


def test_picklist_metadata_values_are_strings_while_records_hold_ints(
    sim: AutotaskSimulator, api: httpx.Client
) -> None:
    fields = {f["name"]: f for f in api.get("/Tickets/entityInformation/fields").json()["fields"]}
    for name in ("id", "ticketNumber", "title", "description", "companyID", "status", "priority", "queueID"):
        assert name in fields
    assert fields["title"]["length"] == 255 and fields["title"]["isRequired"] is True
    assert fields["companyID"]["isReference"] is True
    assert fields["lastActivityDate"]["isReadOnly"] is True
    priority = fields["priority"]
    assert priority["isPickList"] is True
    labels = {v["label"]: v["value"] for v in priority["picklistValues"]}
    assert labels["Critical"] == "4" and labels["High"] == "1"
    assert all(isinstance(v["value"], str) for v in priority["picklistValues"])
    assert any(v["isActive"] is False for v in priority["picklistValues"])
    sub = fields["subIssueType"]
    assert sub["picklistParentValueField"] == "issueType"
    assert {v["parentValue"] for v in sub["picklistValues"]} >= {"10", "11"}
    other_parents = [v["parentValue"] for v in sub["picklistValues"] if v["label"] == "Other"]
    assert len(other_parents) >= 3  # child labels repeat under several parents, as on live tenants
    assert sim.picklist_id("subIssueType", "Other", parent=11) == 143
    queue = {v["label"]: v["value"] for v in fields["queueID"]["picklistValues"]}
    assert queue["Level II Support"] == "29683483"
    ticket_id = sim.add_ticket(priority="Critical")
    assert api.get(f"/Tickets/{ticket_id}").json()["item"]["priority"] == 4
    assert sim.picklist_id("status", "In Progress") == 8
    info = api.get("/Tickets/entityInformation").json()["info"]
    assert info["canCreate"] is True and info["hasUserDefinedFields"] is True
    udfs = api.get("/Tickets/entityInformation/userDefinedFields").json()["fields"]
    assert udfs and all("name" in u for u in udfs)


# ---- queries -------------------------------------------------------------------------------------


@pytest.fixture
def seeded(sim: AutotaskSimulator) -> list[int]:
    return [
        sim.add_ticket(title="Mail server down", externalID="sys-1", priority="Critical", status="New"),
        sim.add_ticket(title="VPN flaky", externalID="sys-2", priority="High", status="In Progress"),
        sim.add_ticket(title="New laptop", priority="Low", status="New", queueID=29683490),
        sim.add_ticket(title="Mail quota", externalID="SYS-4", priority="Medium", status="Complete"),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([{"op": "eq", "field": "priority", "value": 4}], [0]),
        ([{"op": "eq", "field": "priority", "value": "4"}], [0]),  # implicit conversion of digits
        ([{"op": "noteq", "field": "status", "value": 1}], [1, 3]),
        ([{"op": "gt", "field": "priority", "value": 2}], [0, 2]),
        ([{"op": "gte", "field": "priority", "value": 3}], [0, 2]),
        ([{"op": "lt", "field": "priority", "value": 2}], [1]),
        ([{"op": "lte", "field": "priority", "value": 2}], [1, 3]),
        ([{"op": "beginsWith", "field": "title", "value": "mail"}], [0, 3]),
        ([{"op": "endsWith", "field": "title", "value": "FLAKY"}], [1]),
        ([{"op": "contains", "field": "title", "value": "lap"}], [2]),
        ([{"op": "exist", "field": "externalID"}], [0, 1, 3]),
        ([{"op": "notExist", "field": "externalID"}], [2]),
        ([{"op": "in", "field": "status", "value": [8, 5]}], [1, 3]),
        ([{"op": "notIn", "field": "status", "value": [1]}], [1, 3]),
        ([{"op": "eq", "field": "externalID", "value": "sys-4"}], [3]),
        (
            [
                {
                    "op": "or",
                    "items": [
                        {"op": "eq", "field": "priority", "value": 4},
                        {"op": "eq", "field": "queueID", "value": 29683490},
                    ],
                }
            ],
            [0, 2],
        ),
        (
            [
                {"op": "eq", "field": "status", "value": 1},
                {
                    "op": "or",
                    "items": [
                        {"op": "contains", "field": "title", "value": "mail"},
                        {
                            "op": "and",
                            "items": [
                                {"op": "eq", "field": "priority", "value": 3},
                                {"op": "exist", "field": "title"},
                            ],
                        },
                    ],
                },
            ],
            [0, 2],
        ),
        ([{"op": "gt", "field": "lastActivityDate", "value": "2026-01-05T08:00:00Z"}], [0, 1, 2, 3]),
        ([{"op": "gt", "field": "lastActivityDate", "value": "2026-01-05T09:00:00.000Z"}], []),
    ],
)
def test_filter_operators(
    api: httpx.Client, seeded: list[int], filters: list[dict[str, Any]], expected: list[int]
) -> None:
    assert ids(query(api, filters)) == [seeded[i] for i in expected]
    count = api.post("/Tickets/query/count", json={"filter": filters}).json()
    assert count == {"queryCount": len(expected)}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([{"op": "eq", "field": "nosuchfield", "value": 1}], "Unable to find nosuchfield in the Entity"),
        ([{"op": "eq", "field": "priority", "value": "High"}], "Conversion failed when converting"),
        ([{"op": "eq", "field": "priority", "value": True}], "Conversion failed"),
        ([{"op": "eq", "field": "title", "value": None}], "null"),
        ([{"op": "like", "field": "title", "value": "x"}], "operator"),
        ([{"op": "in", "field": "id", "value": list(range(501))}], "500"),
        (
            [
                {"op": "or", "items": [{"op": "eq", "field": "id", "value": i} for i in range(300)]},
                {"op": "in", "field": "id", "value": list(range(201))},
            ],
            "500",
        ),
        (
            [
                {"op": "eq", "field": "Customer Reference", "value": "a", "udf": True},
                {"op": "eq", "field": "Sync Source", "value": "b", "udf": True},
            ],
            "user-defined",
        ),
        ([{"op": "eq", "field": "creatorType", "value": 1}], "not queryable"),
    ],
)
def test_filter_errors_are_500(api: httpx.Client, filters: list[dict[str, Any]], message: str) -> None:
    response = query(api, filters)
    assert response.status_code == 500
    assert any(message.lower() in m.lower() for m in errors(response)), errors(response)


def test_exactly_500_or_terms_are_accepted(api: httpx.Client, seeded: list[int]) -> None:
    response = query(api, [{"op": "in", "field": "id", "value": [*range(498), *seeded[:2]]}])
    assert ids(response) == seeded[:2]


def test_udf_filter_and_include_fields(sim: AutotaskSimulator, api: httpx.Client) -> None:
    wanted = sim.add_ticket(userDefinedFields={"Customer Reference": "PO-7"})
    sim.add_ticket()
    response = query(
        api,
        [{"op": "eq", "field": "Customer Reference", "value": "po-7", "udf": True}],
        IncludeFields=["title", "Status"],
    )
    assert ids(response) == [wanted]
    assert set(response.json()["items"][0]) == {"id", "title", "status"}
    bad = query(api, [{"op": "exist", "field": "id"}], IncludeFields=["nope"])
    assert bad.status_code == 500


def test_get_search_query(api: httpx.Client, seeded: list[int]) -> None:
    import json

    search = json.dumps({"filter": [{"op": "eq", "field": "priority", "value": 1}]})
    assert ids(api.get("/Tickets/query", params={"search": search})) == [seeded[1]]
    assert api.get("/Tickets/query/count", params={"search": search}).json() == {"queryCount": 1}


def test_paging_cursor_must_be_reposted_with_the_same_body(sim: AutotaskSimulator, api: httpx.Client) -> None:
    created = sim.seed_tickets(12)
    body = {"filter": [{"op": "exist", "field": "id"}], "MaxRecords": 5}
    first = api.post("/Tickets/query", json=body).json()
    assert first["pageDetails"]["count"] == 5 and first["pageDetails"]["prevPageUrl"] is None
    next_url = first["pageDetails"]["nextPageUrl"]
    assert next_url.startswith(f"{sim.url}/atservicesrest/v1.0/Tickets/query/next?paging=")
    assert httpx.get(next_url, headers=HEADERS).status_code == 405
    different = httpx.post(next_url, headers=HEADERS, json={**body, "MaxRecords": 4})
    assert different.status_code == 500 and errors(different)
    seen = [i["id"] for i in first["items"]]
    while next_url:
        page = httpx.post(next_url, headers=HEADERS, json=body).json()
        seen += [i["id"] for i in page["items"]]
        assert page["pageDetails"]["prevPageUrl"]
        next_url = page["pageDetails"]["nextPageUrl"]
    assert seen == created  # ordered by id, nothing skipped or repeated


def test_paging_tokens_expire_after_the_limit(sim: AutotaskSimulator, api: httpx.Client) -> None:
    sim.settings.paging_token_limit = 2
    sim.seed_tickets(3)
    body = {"filter": [{"op": "exist", "field": "id"}], "MaxRecords": 1}
    old = api.post("/Tickets/query", json=body).json()["pageDetails"]["nextPageUrl"]
    api.post("/Tickets/query", json=body)
    api.post("/Tickets/query", json=body)
    assert httpx.post(old, headers=HEADERS, json=body).status_code == 500


def test_empty_result_and_max_records_bounds(api: httpx.Client) -> None:
    empty = query(api, [{"op": "eq", "field": "id", "value": 1}]).json()
    assert empty == {
        "items": [],
        "pageDetails": {"count": 0, "requestCount": 500, "prevPageUrl": None, "nextPageUrl": None},
    }
    assert query(api, [{"op": "exist", "field": "id"}], MaxRecords=501).status_code == 500
    assert query(api, [{"op": "exist", "field": "id"}], MaxRecords=0).status_code == 500
    assert query(api, []).status_code == 500  # a filter is required (setting require_filter)


# ---- updates, notes, activity --------------------------------------------------------------------


def test_patch_updates_and_bumps_last_activity(
    sim: AutotaskSimulator, api: httpx.Client, clock: ManualClock
) -> None:
    ticket_id = sim.add_ticket()
    clock.advance(60)
    response = api.patch("/Tickets", json={"id": ticket_id, "status": 5, "resolution": "Rebooted"})
    assert response.json() == {"itemId": ticket_id}
    item = sim.ticket(ticket_id)
    assert item is not None
    assert item["status"] == 5 and item["resolution"] == "Rebooted"
    assert item["lastActivityDate"] == item["completedDate"] == "2026-01-05T09:01:00.000Z"
    assert api.patch("/Tickets", json={"id": ticket_id, "resolution": None}).status_code == 500
    assert api.patch("/Tickets", json={"id": 424242, "title": "x"}).status_code == 500
    assert api.patch("/Tickets", json={"id": ticket_id, "priority": 77}).status_code == 500


def test_put_clears_omitted_writable_fields(sim: AutotaskSimulator, api: httpx.Client) -> None:
    ticket_id = sim.add_ticket(description="keep me?", externalID="x-1")
    body = {"id": ticket_id, **VALID}
    assert api.put("/Tickets", json=body).status_code == 200
    item = sim.ticket(ticket_id)
    assert item is not None and item["description"] is None and item["externalID"] is None
    assert api.put("/Tickets", json={"id": ticket_id, "title": "only"}).status_code == 500


def test_notes_bump_last_activity_and_are_queryable(
    sim: AutotaskSimulator, api: httpx.Client, clock: ManualClock
) -> None:
    ticket_id = sim.add_ticket()
    clock.advance(30)
    note = {
        "ticketID": ticket_id,
        "title": "Update",
        "description": "Called user",
        "noteType": 1,
        "publish": 1,
    }
    response = api.post(f"/Tickets/{ticket_id}/Notes", json=note)
    assert response.status_code == 200 and response.json()["itemId"] > 0
    item = sim.ticket(ticket_id)
    assert item is not None and item["lastActivityDate"] == "2026-01-05T09:00:30.000Z"
    assert item["lastTrackedModificationDateTime"] == "2026-01-05T09:00:00.000Z"
    found = api.post(
        "/TicketNotes/query", json={"filter": [{"op": "eq", "field": "ticketID", "value": ticket_id}]}
    )
    assert [n["description"] for n in found.json()["items"]] == ["Called user"]
    bad = api.post(f"/Tickets/{ticket_id}/Notes", json={**note, "noteType": 999})
    assert bad.status_code == 500
    assert api.post(f"/Tickets/{ticket_id}/Notes", json={**note, "title": None}).status_code == 500
    assert api.post("/Tickets/424242/Notes", json=note).status_code == 500
    fields = api.get("/TicketNotes/entityInformation/fields").json()["fields"]
    assert any(f["name"] == "publish" and f["isPickList"] for f in fields)


def test_technician_api_changes_by_label_and_bumps_activity(
    sim: AutotaskSimulator, clock: ManualClock
) -> None:
    ticket_id = sim.add_ticket()
    clock.advance(120)
    item = sim.technician_update(ticket_id, status="Complete", priority="High", resolution="Fixed")
    assert item["status"] == 5 and item["priority"] == 1 and item["completedDate"] is not None
    assert item["lastActivityDate"] == "2026-01-05T09:02:00.000Z"
    clock.advance(60)
    sim.add_technician_note(ticket_id, "Closed with the customer")
    after = sim.ticket(ticket_id)
    assert after is not None and after["lastActivityDate"] == "2026-01-05T09:03:00.000Z"
    assert len(sim.notes(ticket_id)) == 1
    with pytest.raises(KeyError):
        sim.technician_update(ticket_id, status="No such status")


def test_companies_minimal(api: httpx.Client) -> None:
    assert api.get("/Companies/174").json()["item"]["companyName"] == "Contoso Ltd"
    assert api.get("/Companies/0").json()["item"]["companyName"] == "Simulator MSP"
    assert api.get("/Companies/5").json() == {"item": None}


# ---- thread limit and faults ---------------------------------------------------------------------


async def _burst(sim: AutotaskSimulator, count: int) -> list[int]:
    async with httpx.AsyncClient(base_url=f"{sim.rest_base}/v1.0", headers=HEADERS, timeout=10) as client:
        responses = await asyncio.gather(*(client.get("/Tickets/1") for _ in range(count)))
    return [r.status_code for r in responses]


async def test_thread_limit_rejects_a_fourth_concurrent_request(sim: AutotaskSimulator) -> None:
    sim.settings.latency = 0.2
    statuses = await _burst(sim, 6)
    # As live tenants answer it: not a 429, a 500 naming the thread threshold.
    assert statuses.count(500) >= 1 and statuses.count(200) >= 3 and 429 not in statuses
    assert sim.max_concurrency_seen("Tickets/{id}") > 3


async def test_thread_limit_can_answer_429(sim: AutotaskSimulator) -> None:
    sim.settings.latency = 0.2
    sim.settings.thread_limit_behaviour = "reject_429"
    statuses = await _burst(sim, 6)
    assert statuses.count(429) >= 1 and statuses.count(200) >= 3


def test_revoked_code_and_unknown_user_answer_500_like_live_tenants(
    sim: AutotaskSimulator, api: httpx.Client
) -> None:
    url = "/Tickets/entityInformation"
    sim.settings.integration_code = "REVOKED"
    response = api.get(url)
    assert response.status_code == 500 and errors(response) == ["IntegrationCode is invalid."]
    sim.settings.integration_code = HEADERS["ApiIntegrationCode"]
    sim.settings.username = "someone-else@example.com"
    response = api.get(url)
    assert response.status_code == 500
    assert "Zone information could not be determined" in errors(response)[0]


def test_server_errors_answer_500_with_the_live_message(sim: AutotaskSimulator, api: httpx.Client) -> None:
    sim.inject_server_error("deadlock", method="GET", path="/Tickets/1")
    response = api.get("/Tickets/1")
    assert response.status_code == 500 and "deadlock victim" in errors(response)[0]
    assert api.get("/Tickets/1").status_code == 200
    with pytest.raises(KeyError, match="known: deadlock"):
        sim.inject_server_error("meteor")


async def test_thread_limit_can_queue_instead(sim: AutotaskSimulator) -> None:
    sim.settings.latency = 0.05
    sim.settings.thread_limit_behaviour = "queue"
    assert await _burst(sim, 6) == [200] * 6


def test_fault_errors_use_the_autotask_envelope(sim: AutotaskSimulator, api: httpx.Client) -> None:
    sim.faults.inject("status", status=503, path="/Tickets/")
    response = api.get("/Tickets/1")
    assert response.status_code == 503 and errors(response)
    assert sim.requests.count("GET", "/Tickets/1") == 1


def test_settings_defaults() -> None:
    settings = AutotaskSimSettings()
    assert settings.hourly_threshold == 10000 and settings.thread_limit == 3
    assert settings.over_limit_status == 429 and settings.page_size_cap == 500


def test_date_header_comes_from_the_tenant_clock(api: httpx.Client, clock: ManualClock) -> None:
    clock.advance(90)
    assert api.get("/ThresholdInformation").headers.get_list("date") == ["Mon, 05 Jan 2026 09:01:30 GMT"]


def test_ticket_edited_behind_the_cursor_is_not_on_later_pages(
    sim: AutotaskSimulator, api: httpx.Client, clock: ManualClock
) -> None:
    """Pages run by id while the filter is by time: an edit behind the cursor is only seen by the
    next query (the real platform's behaviour; the return trip's watermark must allow for it)."""
    ids = sim.seed_tickets(4, externalID="x")
    calls: list[str] = []

    def edit_behind(params: Any) -> bool:
        calls.append(params["next"])
        clock.advance(60)
        sim.technician_update(ids[0], status="In Progress")
        return True

    sim.page_hooks.add(edit_behind)
    body = {
        "filter": [{"op": "gte", "field": "lastActivityDate", "value": "2026-01-05T09:00:00Z"}],
        "MaxRecords": 2,
    }
    first = api.post("/Tickets/query", json=body).json()
    second = api.post(first["pageDetails"]["nextPageUrl"], json=body).json()
    assert calls == ["false"]
    assert [t["id"] for t in first["items"]] == ids[:2] and [t["id"] for t in second["items"]] == ids[2:]
    assert second["pageDetails"]["nextPageUrl"] is None  # the edited ticket is not seen again


def test_stamp_lag_gives_a_change_an_older_stamp(sim: AutotaskSimulator, clock: ManualClock) -> None:
    [ticket_id] = sim.seed_tickets(1)
    clock.advance(3600)
    changed = sim.technician_update(ticket_id, status="In Progress", stamp_lag=1800)
    assert changed["lastActivityDate"].startswith("2026-01-05T09:30:00")
