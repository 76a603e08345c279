"""Issue 6, fault matrix: every fault on every kind of call, against both simulators over loopback.

Each cell: two triggered incidents (auto-push on), optionally pushed and changed in Autotask first
(return-trip calls), then one fault on one kind of call, one cycle (what happened is classified),
then cycles until everything settles. Checked after every cycle: no crash, no duplicate ticket, no
duplicate work note, watermarks never past unstored data; at the end every incident has exactly one
ticket, its link, its write-back and every return-trip change exactly once.

The observed outcome of the first cycle is one of:
  retried       the connector retried with backoff inside the cycle (Retry-After honoured); cycle ok
  no effect     nothing to retry (the fault did not matter); cycle ok
  item deferred a per-item error; that item (push, write-back or return update) is retried later
  item refused  a per-item error that is not retried (permission, validation); a person decides
  system error  a per-system error (poll or metadata); the next cycle tries again, watermark held
  paused        credentials refused: the system is paused with one audit event, no hammering

``PROOF_MATRIX_OUT=path.jsonl`` appends each cell's result (``render_matrix.py`` prints the table).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import pytest
from proof_harness import Harness, RefusingTransport, Sleeps

from app.engine.engine import CycleReport, SyncEngine
from app.simulators.faults import FaultPlan
from app.store import AuditDirection, AuditOutcome, QueueState, WritebackState

Scenario = Literal["outbound", "return"]
SN_RECORD = r"/api/now/table/incident/[0-9a-f]{32}$"


@dataclass(frozen=True)
class Call:
    key: str
    system: Literal["servicenow", "autotask"]
    label: str
    method: str
    path: str  # regular expression on the URL path
    scenario: Scenario


CALLS = [
    Call(
        "sn-poll",
        "servicenow",
        "ServiceNow poll (incident query)",
        "GET",
        r"/api/now/table/incident$",
        "outbound",
    ),
    Call(
        "sn-read",
        "servicenow",
        "ServiceNow read (incident re-read before push)",
        "GET",
        SN_RECORD,
        "outbound",
    ),
    Call(
        "sn-writeback", "servicenow", "ServiceNow update (write-back PATCH)", "PATCH", SN_RECORD, "outbound"
    ),
    Call("sn-return", "servicenow", "ServiceNow update (return-trip PATCH)", "PATCH", SN_RECORD, "return"),
    Call(
        "at-poll",
        "autotask",
        "Autotask poll (return-trip ticket query)",
        "POST",
        r"/Tickets/query$",
        "return",
    ),
    Call(
        "at-read",
        "autotask",
        "Autotask read (ticket field metadata)",
        "GET",
        r"/Tickets/entityInformation/fields$",
        "outbound",
    ),
    Call("at-create", "autotask", "Autotask create (POST /Tickets)", "POST", r"/Tickets$", "outbound"),
]
CALL_BY_KEY = {call.key: call for call in CALLS}
RETRY_AFTER = 7
# Only the read-timeout cells run with a short client timeout (and a hang past it); every other cell
# keeps a generous one, so a loaded machine cannot turn a slow setup request into a "timeout".
TIMEOUT = 1.0
HANG = 1.5
GENEROUS_TIMEOUT = 10.0
# What a "fields missing/renamed" answer loses, per call (default: per system). The metadata answer
# holds field descriptions, the create answer only {"itemId": N}: each cell mutates what its answer
# really carries.
DROP: dict[str, list[str]] = {
    "servicenow": ["sys_updated_on"],
    "autotask": ["status"],
    "at-read": ["picklistValues"],
    "at-create": ["itemId"],
}
RENAME: dict[str, dict[str, str]] = {
    "servicenow": {"sys_id": "sysId"},
    "autotask": {"status": "ticketStatus"},
    "at-read": {"picklistValues": "picklist"},
    "at-create": {"itemId": "itemID"},
}


@dataclass(frozen=True)
class FaultCase:
    key: str
    label: str
    inject: Callable[[FaultPlan, RefusingTransport, Call], None]
    persistent: bool = False  # stays until the "operator" fixes it (expired credentials)


def _status(code: int, retry_after: float | None = None, count: int | None = 1) -> Callable[..., None]:
    def inject(plan: FaultPlan, _t: RefusingTransport, call: Call) -> None:
        plan.inject(
            "status", method=call.method, path=call.path, status=code, retry_after=retry_after, count=count
        )

    return inject


def _kind(kind: Any, **options: Any) -> Callable[..., None]:
    def inject(plan: FaultPlan, _t: RefusingTransport, call: Call) -> None:
        extra = {k: (v(call) if callable(v) else v) for k, v in options.items()}
        plan.inject(kind, method=call.method, path=call.path, count=1, **extra)

    return inject


def _refuse(_plan: FaultPlan, transport: RefusingTransport, call: Call) -> None:
    transport.refuse(call.method, call.path, count=1)


FAULTS = [
    FaultCase("429-ra", f"429 + Retry-After: {RETRY_AFTER}", _status(429, RETRY_AFTER)),
    FaultCase("429", "429 without Retry-After", _status(429)),
    FaultCase("500", "500", _status(500)),
    FaultCase("502", "502", _status(502)),
    FaultCase("503", "503", _status(503)),
    FaultCase("refused", "connection refused", _refuse),
    FaultCase("timeout", "read timeout", _kind("hang", seconds=HANG)),
    FaultCase("reset", "reset after processing", _kind("reset_after")),
    FaultCase("html", "200 with an HTML page", _kind("html")),
    FaultCase("truncated", "truncated JSON", _kind("truncated")),
    FaultCase(
        "drop", "200, fields missing", _kind("drop_fields", fields=lambda c: DROP.get(c.key, DROP[c.system]))
    ),
    FaultCase(
        "rename",
        "200, fields renamed",
        _kind("rename_fields", renames=lambda c: RENAME.get(c.key, RENAME[c.system])),
    ),
    FaultCase("extra", "200, extra fields", _kind("extra_fields", fields=["u_unexpected", "x_vendor_blob"])),
    FaultCase("401", "401 mid-run (expired credentials)", _status(401, count=None), persistent=True),
    FaultCase("403", "403 on one record", _status(403)),
]
FAULT_BY_KEY = {fault.key: fault for fault in FAULTS}

R, N, D, F, S, P = "retried", "no effect", "item deferred", "item refused", "system error", "paused"
V = "found in the same run"  # a create whose answer was lost: searched by externalID and linked at once
FAULT_ORDER = [fault.key for fault in FAULTS]
# Expected first-cycle outcome per call, in FAULT_ORDER:
#   429-ra 429 500 502 503 refused timeout reset html truncated drop rename extra 401 403
EXPECTED: dict[str, list[str]] = {
    "sn-poll": [R, R, R, R, R, R, R, R, R, R, S, S, N, P, S],
    "sn-read": [R, R, R, R, R, R, R, R, R, R, D, D, N, P, D],
    "sn-writeback": [R, R, D, D, D, R, D, D, D, D, D, D, N, P, F],
    "sn-return": [R, R, D, D, D, R, D, D, D, D, D, D, N, P, F],
    "at-poll": [R, R, S, R, R, R, R, R, R, R, S, S, N, P, S],
    "at-read": [R, R, S, R, R, R, R, R, R, R, S, S, N, P, S],
    "at-create": [R, R, F, D, D, R, D, V, D, V, V, V, N, P, F],
}
# Cells that once exposed engine bugs (all fixed): kept empty so a new one is easy to record.
KNOWN_BUGS: dict[tuple[str, str], str] = {}

NOTES: dict[tuple[str, str], str] = {
    ("sn-read", "403"): "retried with backoff, not held for a person (see docs/reliability.md)",
    ("at-read", "drop"): "every field's picklistValues dropped: unreadable metadata, never cached",
    ("at-read", "rename"): "picklistValues renamed picklist: unreadable metadata, never cached",
    ("at-read", "extra"): "unknown attributes on every field description: ignored",
    ("at-create", "drop"): "the answer {} lacks itemId: outcome unknown, found by externalID, linked",
    ("at-create", "rename"): "the answer {itemID} lacks itemId: outcome unknown, found by externalID, linked",
    ("at-create", "extra"): "{itemId, unknown keys}: the id is read, the rest ignored",
}


def cells() -> list[Any]:
    params = []
    for call in CALLS:
        for fault, expected in zip(FAULTS, EXPECTED[call.key], strict=True):
            marks = []
            bug = KNOWN_BUGS.get((call.key, fault.key))
            if bug:
                marks.append(pytest.mark.xfail(reason=f"bug: {bug}", strict=True))
            params.append(
                pytest.param(call.key, fault.key, expected, id=f"{call.key}-{fault.key}", marks=marks)
            )
    return params


class CountingTransport(RefusingTransport):
    """Also counts what the client sent, per method and path (refused and hung requests included)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str]] = []

    async def handle_async_request(self, request: Any) -> Any:
        self.sent.append((request.method, request.url.path))
        return await super().handle_async_request(request)

    def count(self, call: Call) -> int:
        return sum(1 for method, path in self.sent if method == call.method and re.search(call.path, path))


def _sn_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)


def _iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def status_label(h: Harness, value: int) -> str:
    return next(str(p["label"]) for p in h.at.picklists["status"] if int(p["value"]) == value)


def check_always(h: Harness, engine: SyncEngine, incidents: list[dict[str, str]]) -> None:
    """What must hold after every cycle, faults or not."""
    store = engine.store
    for incident in incidents:
        sys_id = incident["sys_id"]
        assert len(h.tickets_for(sys_id)) <= 1, f"duplicate ticket for {incident['number']}"
        assert len(h.writeback_notes(sys_id)) <= 1, f"write-back note twice on {incident['number']}"
        assert len(h.return_notes(sys_id)) <= 1, f"return-trip note twice on {incident['number']}"
        tickets = h.tickets_for(sys_id)
        link = store.get_link(sys_id=sys_id)
        if link is not None:
            assert tickets and link.ticket_id == tickets[0]["id"]
    # ServiceNow watermark: every triggered incident updated at or before it is stored.
    sn_mark = store.get_cursor("servicenow").watermark
    if sn_mark is not None:
        for record in h.sn.records():
            if record["category"] == "hardware" and _sn_time(record["sys_updated_on"]) <= sn_mark:
                assert store.get_item(record["sys_id"]) is not None, (
                    f"{record['number']} behind the watermark"
                )
    # Autotask watermark: every linked ticket changed at or before it is applied (or refused visibly).
    at_mark = store.get_cursor("autotask").watermark
    if at_mark is not None:
        refused = {
            e.ticket_id
            for e in store.list_audit(direction=AuditDirection.RETURN, limit=1000)
            if e.outcome == AuditOutcome.FAILED
        }
        for ticket in h.at.tickets():
            link = store.get_link(ticket_id=ticket["id"])
            if link is None or _iso(ticket["lastActivityDate"]) > at_mark:
                continue
            synced = link.return_synced.get("status")
            assert synced == status_label(h, ticket["status"]) or ticket["id"] in refused, (
                f"ticket {ticket['id']} is behind the Autotask watermark but its status was not applied"
            )


# Requests of each kind a clean first cycle sends (two incidents): more means a retry happened.
BASELINE = {
    "sn-poll": 1,
    "sn-read": 2,
    "sn-writeback": 2,
    "sn-return": 2,
    "at-poll": 1,
    "at-read": 1,
    "at-create": 2,
}


def classify(h: Harness, engine: SyncEngine, call: Call, first: CycleReport, sent: int) -> str:
    store = engine.store
    if engine.health(call.system).level == "auth_failed":
        return P
    items = store.list_items()
    links = store.list_links()
    returns = store.list_audit(direction=AuditDirection.RETURN, limit=1000)
    if any(i.state == QueueState.FAILED and i.next_retry_at is None for i in items):
        return F
    if any(link.writeback_state == WritebackState.FAILED for link in links):
        return F
    if any(e.outcome == AuditOutcome.FAILED and e.kind == "update" for e in returns):
        return F
    if any(i.state == QueueState.PUSHING or i.next_retry_at is not None for i in items):
        return D
    if any(link.writeback_state == WritebackState.PENDING and link.writeback_error for link in links):
        return D
    if any(e.outcome == AuditOutcome.RETRY and e.kind == "update" for e in returns):
        return D
    outbound = store.list_audit(direction=AuditDirection.OUTBOUND, limit=1000)
    if first.ok and any(e.kind == "recovered" for e in outbound):
        return V
    if not first.ok:
        return S
    return R if sent > BASELINE[call.key] else N


def settled(h: Harness, engine: SyncEngine, incidents: list[dict[str, str]], call: Call) -> bool:
    store = engine.store
    for incident in incidents:
        sys_id = incident["sys_id"]
        link = store.get_link(sys_id=sys_id)
        if link is None or len(h.tickets_for(sys_id)) != 1 or link.writeback_state != WritebackState.DONE:
            return False
        if h.sn.get_record(sys_id)["correlation_id"] != str(link.ticket_id):
            return False
        if len(h.writeback_notes(sys_id)) != 1:
            return False
        if call.scenario == "return":
            if h.sn.get_record(sys_id)["state"] != "2" or len(h.return_notes(sys_id)) != 1:
                return False
            if link.return_synced.get("status") != "In Progress":
                return False
    return True


async def human_decisions(h: Harness, engine: SyncEngine) -> None:
    """What a person does about refused items: Retry in the queue / activity view."""
    failed = [i.number for i in engine.store.list_items() if i.state == QueueState.FAILED]
    if failed:
        await engine.retry(failed)
    for link in engine.store.list_links():
        if link.return_synced.get("status") not in (None, "In Progress") and h.at.faults.active() == []:
            try:
                await engine.retry_return(link.ticket_id)
            except RuntimeError:
                pass


async def drain_hung(h: Harness) -> None:
    """A hung request finishes server-side after HANG seconds; wait so it cannot leak into the
    next test's request log."""
    for sim in (h.sn, h.at):
        for _ in range(int(HANG * 2 / 0.05) + 10):
            if any(e.status == 504 for e in sim.requests.entries()):
                break
            await asyncio.sleep(0.05)


@pytest.mark.parametrize(("call_key", "fault_key", "expected"), cells())
async def test_fault_matrix(harness: Harness, call_key: str, fault_key: str, expected: str) -> None:
    h = harness
    call, fault = CALL_BY_KEY[call_key], FAULT_BY_KEY[fault_key]
    sleeps = Sleeps()
    transport = CountingTransport()
    config = h.config(outbound={"auto_push": True, "freshness_seconds": 0})
    timeout = TIMEOUT if fault_key == "timeout" else GENEROUS_TIMEOUT
    engine = h.engine(config, timeout=timeout, sleeps=sleeps, max_inline_wait=30, transport=transport)
    incidents = [h.incident(short_description=f"Disk {n} failing") for n in range(2)]

    if call.scenario == "return":
        setup = await engine.run_once()
        assert setup.ok and setup.pushed == 2, setup.failures
        for incident in incidents:
            [ticket] = h.tickets_for(incident["sys_id"])
            h.at.technician_update(ticket["id"], status="In Progress")
    check_always(h, engine, incidents)

    sim = h.sn if call.system == "servicenow" else h.at
    fault.inject(sim.faults, transport, call)
    sent_before = transport.count(call)
    first = await engine.run_once()  # never raises: "no crash"
    sent = transport.count(call) - sent_before
    check_always(h, engine, incidents)
    observed = classify(h, engine, call, first, sent)

    if observed == R and fault_key == "429-ra":
        assert float(RETRY_AFTER) in sleeps.delays, f"Retry-After not honoured: {sleeps.delays}"
    if fault.persistent:
        # Paused: another cycle sends nothing to that system.
        before = sim.requests.count()
        await engine.run_once()
        assert sim.requests.count() == before, "an auth failure must pause, not hammer: " + str(
            [(e.method, e.path, e.status) for e in sim.requests.entries()[before:]]
        )
        auth = [e for e in engine.store.list_audit(direction=AuditDirection.SYSTEM) if e.kind == "auth"]
        # One clear event per system, however many requests the 401 hit.
        assert len(auth) == 1
        sim.faults.clear()  # the operator renews the credentials ...
        await engine.poll_now()  # ... and presses "Poll now"

    for _ in range(10):
        if settled(h, engine, incidents, call):
            break
        await human_decisions(h, engine)
        await asyncio.sleep(0.06)  # FAST_BACKOFF: every retry is due within 0.05 s
        await engine.run_once()
        check_always(h, engine, incidents)

    refused_writeback = [
        link for link in engine.store.list_links() if link.writeback_state == WritebackState.FAILED
    ]
    if refused_writeback:
        # There is no user action to redo a refused write-back; it stays visible with the API's message.
        assert all(link.writeback_error for link in refused_writeback)
    else:
        assert settled(h, engine, incidents, call), "the sync did not settle after the fault"
    if fault_key == "timeout":
        await drain_hung(h)

    out = os.environ.get("PROOF_MATRIX_OUT")
    if out:
        with open(out, "a", encoding="utf-8") as handle:
            row = {
                "call": call.key,
                "call_label": call.label,
                "fault": fault.key,
                "fault_label": fault.label,
                "expected": expected,
                "observed": observed,
                "first_cycle_failures": first.failures[:2],
                "note": NOTES.get((call.key, fault.key), ""),
            }
            handle.write(json.dumps(row) + "\n")
    assert observed == expected, f"first cycle: {first.failures}"


async def test_two_concurrent_auth_failures_write_one_audit_event(harness: Harness) -> None:
    from app.connectors.errors import AuthFailed

    engine = harness.engine()
    errors = [AuthFailed("autotask", "credentials refused", status=401) for _ in range(2)]
    await asyncio.gather(*(engine.ctx.failed("autotask", error) for error in errors))
    auth = [e for e in engine.store.list_audit(direction=AuditDirection.SYSTEM) if e.kind == "auth"]
    assert len(auth) == 1
