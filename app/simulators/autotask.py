"""A faithful fake of the Autotask PSA REST API (Tickets, TicketNotes, a few Companies).

Follows /work/shared/reference/api-contracts.md section 2 and its "Contract summary for
simulators". Behaviour the reference marks UNCONFIRMED is a field of :class:`AutotaskSimSettings`
(over-limit status and Retry-After, ``{"item": null}`` vs 404, PUT clearing omitted fields, the
50-page cursor limit, the thread-limit reaction), never a fixed choice.

Realistic quirks on purpose: validation and reference errors are HTTP 500 with ``{"errors":[...]}``;
JSON ``null`` in a body is refused; picklist values are strings in metadata and ints on records,
with tenant-specific ids; ``nextPageUrl`` is a cursor that must be re-POSTed with the same body
(GET answers 405); every request counts toward the hourly threshold; more than three concurrent
requests per endpoint and integration code are refused (or queued); the path prefix is
case-insensitive.

Layers of :attr:`AutotaskSimulator.asgi`, outermost first: request log, usage (threshold, thread
limit, latency), fault injection, the API itself.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.domain.hook_signature import dotnet_escaped, hook_signature
from app.domain.records import WireFormatError, format_iso_time, parse_iso_time
from app.httpserver import ServerThread
from app.simulators.clock import SimClock
from app.simulators.control import PageHooks, RequestLog, RequestLogMiddleware, control_routes
from app.simulators.faults import ASGIApp, FaultMiddleware, FaultPlan, Receive, Scope, Send
from app.simulators.webhooks import Delivery, DeliveryAttempt, WebhookDispatcher

ThreadLimitBehaviour = Literal["reject", "reject_429", "queue"]

MAX_OR_TERMS = 500
NEXT_PAGE_SEGMENT = "next"
# Resource ids that "made" a change, for webhook PersonID and ExcludedResources. API writes count
# as the API user's resource (a fixed id of this simulator; exclude it to break echoes); the Python
# technician API acts as the technician resource (also the creator of technician notes).
API_RESOURCE_ID = 29682886
TECHNICIAN_RESOURCE_ID = 29682885


@dataclass
class AutotaskSimSettings:
    """Mutable knobs; change them at any time (thread-safe enough for tests: plain attributes)."""

    username: str = "demo@example.com"
    integration_code: str = "DEMO"
    secret: str = "demo"
    require_due_date: bool = True
    hourly_threshold: int = 10000
    latency_from_usage: bool = False  # 0.5 s from 50 % of the threshold, 1 s from 75 %
    latency: float = 0.0  # fixed extra latency per request (held inside the thread-limit window)
    over_limit_status: int = 429  # UNCONFIRMED
    over_limit_retry_after: float | None = None  # UNCONFIRMED: Retry-After seconds, None = no header
    thread_limit: int = 3
    thread_limit_behaviour: ThreadLimitBehaviour = "reject"  # "reject": 500 as live tenants do
    item_null_for_missing: bool = True  # UNCONFIRMED: GET /Tickets/{id} missing -> 200 {"item":null}
    page_size_cap: int = 500
    paging_token_limit: int = 50  # UNCONFIRMED: only the most recent cursors stay valid
    put_clears_omitted: bool = True  # UNCONFIRMED: PUT wipes writable fields left out
    require_filter: bool = True  # a query without any filter item is refused
    note_title_required: bool = False  # depends on the tenant's note category
    zone_name: str = "Simulator Zone"
    zone_url: str | None = None  # None: this server's /atservicesrest/
    web_url: str = "https://ww99.autotask.net/"
    ci: int = 99
    # Webhooks (api-contracts.md 2.5): per delivery attempt timeout, delay between attempts, attempts
    # before the delivery is dropped, and consecutive dropped deliveries that deactivate a webhook.
    webhook_timeout_seconds: float = 10.0
    webhook_retry_delay_seconds: float = 30.0
    webhook_max_attempts: int = 5
    webhook_deactivate_after_failures: int = 25
    api_resource_id: int = API_RESOURCE_ID
    technician_resource_id: int = TECHNICIAN_RESOURCE_ID


# ---- schema ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    data_type: str  # integer | long | string | datetime | double | boolean
    length: int = 0
    required: bool = False
    read_only: bool = False
    queryable: bool = True
    picklist: bool = False
    parent_field: str = ""
    reference: str = ""


def _pick(value: int, label: str, sort: int, **extra: Any) -> dict[str, Any]:
    return {
        "value": value,
        "label": label,
        "sortOrder": sort,
        "isActive": extra.get("active", True),
        "isDefaultValue": extra.get("default", False),
        "isSystem": extra.get("system", False),
        "parentValue": extra.get("parent"),
    }


def default_picklists() -> dict[str, list[dict[str, Any]]]:
    """Tenant-specific ids on purpose: resolve by label, never assume 1..4."""
    return {
        "priority": [
            _pick(4, "Critical", 1),
            _pick(1, "High", 2),
            _pick(2, "Medium", 3, default=True),
            _pick(3, "Low", 4),
            _pick(6, "Planning (retired)", 5, active=False),
        ],
        "status": [
            _pick(1, "New", 1, default=True, system=True),
            _pick(8, "In Progress", 2),
            _pick(7, "Waiting Customer", 3, system=True),
            _pick(9, "Waiting Materials", 4),
            _pick(10, "Scheduled", 5),
            _pick(11, "Escalate", 6),
            _pick(12, "Waiting Vendor", 7),
            _pick(5, "Complete", 8, system=True),
        ],
        "queueID": [
            _pick(29683482, "Level I Support", 1, default=True),
            _pick(29683483, "Level II Support", 2),
            _pick(29683490, "Network Team", 3),
            _pick(29683491, "DBA", 4),
            _pick(29682833, "Monitoring Alert", 5),
        ],
        "issueType": [
            _pick(10, "Hardware", 1),
            _pick(11, "Software", 2),
            _pick(12, "Network", 3),
            _pick(14, "Security", 4),
        ],
        # Child labels repeat under several parents, as on live tenants ("Other", "General"):
        # only the parent tells which id is meant.
        "subIssueType": [
            _pick(136, "Server", 1, parent=10),
            _pick(137, "Workstation", 2, parent=10),
            _pick(138, "Other", 3, parent=10),
            _pick(140, "Application Error", 4, parent=11),
            _pick(141, "Licensing", 5, parent=11),
            _pick(142, "General", 6, parent=11),
            _pick(143, "Other", 7, parent=11),
            _pick(150, "Connectivity", 8, parent=12),
            _pick(151, "VPN", 9, parent=12),
            _pick(152, "General", 10, parent=12),
            _pick(153, "Other", 11, parent=12),
            _pick(160, "Malware", 12, parent=14),
            _pick(161, "Other", 13, parent=14),
        ],
        "source": [
            _pick(-1, "Client Portal", 1),
            _pick(2, "Phone", 2),
            _pick(4, "Email", 3),
            _pick(8, "Monitoring Alert", 4),
            _pick(13, "Integration", 5, default=True),
        ],
        "ticketType": [
            _pick(1, "Service Request", 1, default=True),
            _pick(2, "Incident", 2),
            _pick(3, "Problem", 3),
            _pick(4, "Change Request", 4),
            _pick(5, "Alert", 5),
        ],
        "ticketCategory": [
            _pick(3, "Standard", 1, default=True),
            _pick(2, "AEM Alert", 2),
        ],
        "noteType": [
            _pick(1, "Task Detail", 1, default=True),
            _pick(2, "Task Notes", 2),
            _pick(3, "Task Summary", 3),
            _pick(13, "Workflow Rule Note", 4),
        ],
        "publish": [
            _pick(1, "All Autotask Users", 1, default=True),
            _pick(2, "Internal Project Team", 2),
            _pick(4, "Internal & Co-managed", 3),
        ],
    }


TICKET_SCHEMA: tuple[FieldSpec, ...] = (
    FieldSpec("id", "long", read_only=True),
    FieldSpec("ticketNumber", "string", 50, read_only=True),
    FieldSpec("title", "string", 255, required=True),
    FieldSpec("description", "string", 8000),
    FieldSpec("companyID", "integer", required=True, reference="Company"),
    FieldSpec("contactID", "integer", reference="Contact"),
    FieldSpec("status", "integer", required=True, picklist=True),
    FieldSpec("priority", "integer", required=True, picklist=True),
    FieldSpec("queueID", "integer", picklist=True),
    FieldSpec("assignedResourceID", "integer", reference="Resource"),
    FieldSpec("assignedResourceRoleID", "integer", reference="Role"),
    FieldSpec("issueType", "integer", picklist=True),
    FieldSpec("subIssueType", "integer", picklist=True, parent_field="issueType"),
    FieldSpec("ticketType", "integer", picklist=True),
    FieldSpec("ticketCategory", "integer", picklist=True),
    FieldSpec("source", "integer", picklist=True),
    FieldSpec("dueDateTime", "datetime"),  # required when settings.require_due_date
    FieldSpec("estimatedHours", "double"),
    FieldSpec("externalID", "string", 100),
    FieldSpec("resolution", "string", 32000),
    FieldSpec("createDate", "datetime", read_only=True),
    FieldSpec("completedDate", "datetime", read_only=True),
    FieldSpec("lastActivityDate", "datetime", read_only=True),
    FieldSpec("lastTrackedModificationDateTime", "datetime", read_only=True),
    FieldSpec("creatorType", "integer", read_only=True, queryable=False),
    FieldSpec("lastActivityPersonType", "integer", read_only=True, queryable=False),
)

NOTE_SCHEMA: tuple[FieldSpec, ...] = (
    FieldSpec("id", "long", read_only=True),
    FieldSpec("ticketID", "integer", required=True, reference="Ticket"),
    FieldSpec("title", "string", 250),
    FieldSpec("description", "string", 32000, required=True),
    FieldSpec("noteType", "integer", required=True, picklist=True),
    FieldSpec("publish", "integer", required=True, picklist=True),
    FieldSpec("creatorResourceID", "integer", read_only=True, reference="Resource"),
    FieldSpec("createDateTime", "datetime", read_only=True),
    FieldSpec("lastActivityDate", "datetime", read_only=True),
)

TICKET_UDFS: tuple[FieldSpec, ...] = (
    FieldSpec("Customer Reference", "string", 100),
    FieldSpec("Sync Source", "string", 50),
)

Entity = Literal["Ticket", "TicketNote"]

# FieldID of a TicketWebhookField: the 1-based position of a webhook-supported (queryable) Ticket
# field in TICKET_SCHEMA. The simulator also accepts the field name as FieldID.
TICKET_WEBHOOK_FIELD_IDS: dict[str, int] = {
    spec.name: number for number, spec in enumerate(TICKET_SCHEMA, start=1) if spec.queryable
}

# name, type, required, max length (0 = none); keys are matched case-insensitively like the API.
_WEBHOOK_SPECS: tuple[tuple[str, type, bool, int], ...] = (
    ("isActive", bool, True, 0),
    ("name", str, True, 50),
    ("webhookUrl", str, True, 500),
    ("deactivationUrl", str, True, 500),
    ("secretKey", str, True, 64),
    ("isSubscribedToCreateEvents", bool, True, 0),
    ("isSubscribedToUpdateEvents", bool, True, 0),
    ("isSubscribedToDeleteEvents", bool, True, 0),
    ("sendThresholdExceededNotification", bool, False, 0),
    ("notificationEmailAddress", str, False, 150),
)


@dataclass
class TicketWebhook:
    """A TicketWebhooks record plus its Fields, ExcludedResources and delivery state."""

    id: int
    guid: str
    values: dict[str, Any]  # the _WEBHOOK_SPECS fields, canonical names
    fields: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # name -> (subscribed, always)
    field_item_ids: dict[str, int] = field(default_factory=dict)
    excluded_resources: dict[int, int] = field(default_factory=dict)  # resource id -> item id
    sequence: int = 0
    consecutive_failures: int = 0

    @property
    def is_active(self) -> bool:
        return bool(self.values["isActive"])

    @property
    def is_ready(self) -> bool:
        return any(subscribed for subscribed, _ in self.fields.values())

    def wire(self, owner: int) -> dict[str, Any]:
        out = {k: v for k, v in self.values.items() if k != "secretKey"}
        return {
            "id": self.id,
            **out,
            "webhookGUID": self.guid,
            "isReady": self.is_ready,
            "ownerResourceID": owner,
        }


# What live tenants answer, word for word, when the database (not the request) is at fault; each is
# HTTP 500 with the usual errors array. Used by :meth:`AutotaskSimulator.inject_server_error`.
SERVER_ERRORS: dict[str, str] = {
    "deadlock": (
        "Transaction (Process ID 64) was deadlocked on lock resources with another process and has "
        "been chosen as the deadlock victim. Rerun the transaction."
    ),
    "sql_timeout": (
        "Execution Timeout Expired.  The timeout period elapsed prior to completion of the operation "
        "or the server is not responding."
    ),
    "try_again": "An unexpected error has occurred. Please try again.",
    "thread_threshold": "Thread Threshold Exceeded. Try again later.",
}


class ApiError(Exception):
    """Becomes an HTTP answer with Autotask's ``{"errors":[...]}`` envelope."""

    def __init__(self, message: str, status: int = 500, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = dict(headers or {})


def error_body(status: int, message: str) -> bytes:
    return json.dumps({"errors": [message]}).encode()


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def endpoint_key(path: str) -> str:
    """The endpoint a request is counted under for the thread limit: ``Tickets/{id}``, ``Tickets/query``."""
    lowered = path.lower().rstrip("/")
    prefix = "/atservicesrest/"
    if not lowered.startswith(prefix):
        return path
    rest = path.rstrip("/")[len(prefix) :]
    if rest.lower().startswith("v1.0/"):
        rest = rest[5:]
    parts = ["{id}" if part.lstrip("-").isdigit() else part for part in rest.split("/") if part]
    return "/".join(parts)


def _contains_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_contains_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_null(v) for v in value)
    return False


def _or_terms(items: Iterable[Any]) -> int:
    """OR conditions of a filter: each value of an ``in``/``notIn`` and each item of an ``or`` group."""
    total = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        op = str(item.get("op", "")).lower()
        children = item.get("items") or []
        if op in ("in", "notin") and isinstance(item.get("value"), list):
            total += len(item["value"])
        if op == "or" and isinstance(children, list):
            total += len(children)
        if isinstance(children, list):
            total += _or_terms(children)
    return total


@dataclass
class _PageToken:
    entity: Entity
    body_key: str
    after_id: int
    prev: str | None
    search: str | None


@dataclass
class _Usage:
    arrivals: dict[tuple[str, str], int] = field(default_factory=dict)
    processing: dict[tuple[str, str], int] = field(default_factory=dict)
    max_seen: dict[str, int] = field(default_factory=dict)
    window: deque[datetime] = field(default_factory=deque)
    others: deque[datetime] = field(default_factory=deque)  # other integrations of the tenant


class AutotaskSimulator:
    """The simulator. Python API (thread-safe) for tests and scenarios; HTTP via :meth:`start`."""

    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        seed: int = 0,
        settings: AutotaskSimSettings | None = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.settings = settings or AutotaskSimSettings()
        self.faults = FaultPlan(seed)
        self.requests = RequestLog()
        self.picklists = default_picklists()
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._tickets: dict[int, dict[str, Any]] = {}
        self._notes: dict[int, dict[str, Any]] = {}
        self._companies: dict[int, dict[str, Any]] = {
            0: {"id": 0, "companyName": "Simulator MSP", "companyType": 5, "isActive": True},
            174: {"id": 174, "companyName": "Contoso Ltd", "companyType": 1, "isActive": True},
            175: {"id": 175, "companyName": "Fabrikam Inc", "companyType": 1, "isActive": True},
        }
        self._next_ticket_id = 10001
        self._next_note_id = 50001
        self._day_sequence: dict[str, int] = {}
        self._tokens: OrderedDict[str, _PageToken] = OrderedDict()
        self._usage = _Usage()
        # Run after each Tickets query page is computed: a test edits tickets while a client pages.
        self.page_hooks = PageHooks()
        self._server: ServerThread | None = None
        self._webhooks: dict[int, TicketWebhook] = {}
        self._next_webhook_id = 3001
        self._next_webhook_child_id = 1
        self._guids = random.Random(seed + 104729)
        self.webhook_deliveries = WebhookDispatcher("autotask-webhooks")
        app = Starlette(
            routes=[
                *control_routes(self.faults, self.requests),
                Route("/{path:path}", self._handle, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
            ]
        )
        self.asgi: ASGIApp = RequestLogMiddleware(
            _UsageLayer(self, FaultMiddleware(app, self.faults, error_body)),
            self.requests,
            lambda: self.clock.now(),
        )

    # ---- lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        self._server = ServerThread(self.asgi, port=port, name="autotask-sim", date_header=False)
        return self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.webhook_deliveries.stop()

    def __enter__(self) -> AutotaskSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Autotask simulator is not running")
        return self._server.url

    @property
    def rest_base(self) -> str:
        """What a client is configured with: ``http://127.0.0.1:<port>/atservicesrest``."""
        return f"{self.url}/atservicesrest"

    # ---- Python API --------------------------------------------------------------------------------

    def tickets(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._ticket_wire(t) for _, t in sorted(self._tickets.items())]

    def ticket(self, ticket_id: int) -> dict[str, Any] | None:
        with self._lock:
            record = self._tickets.get(ticket_id)
            return None if record is None else self._ticket_wire(record)

    def notes(self, ticket_id: int | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                self._wire(NOTE_SCHEMA, n)
                for _, n in sorted(self._notes.items())
                if ticket_id is None or n["ticketID"] == ticket_id
            ]

    def picklist_id(self, field: str, label: str, parent: int | None = None) -> int:
        """The id of a label (under ``parent`` for a child picklist such as subIssueType)."""
        wanted = label.strip().casefold()
        for entry in self.picklists.get(field, []):
            if parent is not None and entry["parentValue"] != parent:
                continue
            if str(entry["label"]).casefold() == wanted:
                return int(entry["value"])
        raise KeyError(f"{field} has no picklist value labelled {label!r}")

    def set_picklist(
        self, field: str, value: int, label: str, *, active: bool = True, parent: int | None = None
    ) -> None:
        """An admin adds a value or renames one (same id, new label) while integrations run."""
        with self._lock:
            entries = self.picklists.setdefault(field, [])
            for entry in entries:
                if int(entry["value"]) == value:
                    entry.update({"label": label, "isActive": active, "parentValue": parent})
                    return
            entries.append(_pick(value, label, len(entries) + 1, active=active, parent=parent))

    def add_ticket(self, **fields: Any) -> int:
        """Seed a ticket directly (no HTTP, no threshold). Picklists accept labels or ids."""
        with self._lock:
            now = self.clock.now()
            record: dict[str, Any] = {
                "title": f"Seeded ticket {self._next_ticket_id}",
                "companyID": 174,
                "status": 1,
                "priority": 2,
                "queueID": 29683482,
                "dueDateTime": now + timedelta(days=1),
            }
            for name, value in fields.items():
                record[name] = self._resolve_python_value(name, value)
            ticket_id = self._insert_ticket(record, now)
            self._ticket_event("Create", None, record, self.settings.technician_resource_id)
            return ticket_id

    def seed_tickets(self, count: int, **fields: Any) -> list[int]:
        return [self.add_ticket(**fields) for _ in range(count)]

    def technician_update(self, ticket_id: int, *, stamp_lag: float = 0, **fields: Any) -> dict[str, Any]:
        """Change a ticket as a human technician would (labels or ids for picklists).
        ``stamp_lag``: the change becomes visible now but carries a stamp this many seconds older,
        as a workflow rule or bulk update stamped when its long transaction began."""
        with self._lock:
            record = self._tickets.get(ticket_id)
            if record is None:
                raise KeyError(f"no ticket {ticket_id}")
            before = self._ticket_wire(record) if self._webhooks else None
            for name, value in fields.items():
                record[name] = self._resolve_python_value(name, value)
            self._touch(record, edited=True)
            if stamp_lag > 0:
                for name in ("lastActivityDate", "lastTrackedModificationDateTime"):
                    record[name] -= timedelta(seconds=stamp_lag)
            self._ticket_event("Update", before, record, self.settings.technician_resource_id)
            return self._ticket_wire(record)

    def add_technician_note(
        self,
        ticket_id: int,
        text: str,
        *,
        title: str = "Technician note",
        note_type: str = "Task Detail",
        publish: str = "All Autotask Users",
    ) -> int:
        with self._lock:
            ticket = self._tickets.get(ticket_id)
            if ticket is None:
                raise KeyError(f"no ticket {ticket_id}")
            return self._insert_note(
                {
                    "ticketID": ticket_id,
                    "title": title,
                    "description": text,
                    "noteType": self.picklist_id("noteType", note_type),
                    "publish": self.picklist_id("publish", publish),
                    "creatorResourceID": 29682885,
                }
            )

    def inject_server_error(self, kind: str, *, method: str = "*", path: str = ".*", count: int = 1) -> None:
        """The next ``count`` matching requests fail as a busy live database answers them (HTTP 500
        with one of :data:`SERVER_ERRORS`); nothing is processed."""
        if kind not in SERVER_ERRORS:
            raise KeyError(f"unknown server error {kind!r}; known: {', '.join(SERVER_ERRORS)}")
        self.faults.inject(
            "status", status=500, message=SERVER_ERRORS[kind], method=method, path=path, count=count
        )

    def max_concurrency_seen(self, endpoint: str | None = None) -> int:
        """Most requests seen in flight at once for ``endpoint`` (e.g. ``Tickets/{id}``), or overall."""
        with self._lock:
            if endpoint is None:
                return max(self._usage.max_seen.values(), default=0)
            return self._usage.max_seen.get(endpoint.lower(), 0)

    @property
    def request_count(self) -> int:
        """Requests counted in the current hourly timeframe (as ThresholdInformation reports),
        other integrations' included."""
        with self._lock:
            self._prune_window(self.clock.now())
            return self._tenant_count()

    def set_other_integrations(self, count: int, *, spread_seconds: float = 3600.0) -> None:
        """Other integrations of the tenant made ``count`` requests, spread evenly over the last
        ``spread_seconds``: they share the hourly threshold with us and leave the window (decay)
        as the simulator clock moves on."""
        if count < 0 or not 0 < spread_seconds <= 3600:
            raise ValueError("count must be >= 0 and spread_seconds in (0, 3600]")
        with self._lock:
            now = self.clock.now()
            step = spread_seconds / count if count else 0.0
            start = now - timedelta(seconds=spread_seconds)
            self._usage.others = deque(start + timedelta(seconds=step * (i + 1)) for i in range(count))
            self._prune_window(now)

    def reset_usage(self) -> None:
        with self._lock:
            self._usage = _Usage()

    def reset(self, settings: AutotaskSimSettings | None = None) -> None:
        """Back to a fresh tenant (no tickets, notes, cursors, usage, faults or logged requests);
        lets one running server serve many tests."""
        with self._lock:
            self.settings = settings or AutotaskSimSettings()
            self.picklists = default_picklists()
            self._tickets.clear()
            self._notes.clear()
            self._tokens.clear()
            self._day_sequence.clear()
            self._next_ticket_id = 10001
            self._next_note_id = 50001
            self._usage = _Usage()
            self.faults.clear()
            self.page_hooks.clear()
            self.requests.clear()
            self._webhooks.clear()
            self._next_webhook_id = 3001
            self._next_webhook_child_id = 1
            self.webhook_deliveries.clear()

    # ---- Python API: webhooks ---------------------------------------------------------------------

    def webhooks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [h.wire(self.settings.api_resource_id) for _, h in sorted(self._webhooks.items())]

    def webhook(self, webhook_id: int) -> TicketWebhook | None:
        """The live record (fields, excluded resources, failure count); read under no lock."""
        with self._lock:
            return self._webhooks.get(webhook_id)

    def set_webhook_active(self, webhook_id: int, active: bool = True) -> None:
        with self._lock:
            hook = self._webhooks[webhook_id]
            hook.values["isActive"] = active
            hook.consecutive_failures = 0

    def webhook_attempts(self) -> list[DeliveryAttempt]:
        """Every webhook delivery attempt (url, body, headers, status or error), oldest first."""
        return self.webhook_deliveries.attempts()

    # ---- internals: records ------------------------------------------------------------------------

    def _resolve_python_value(self, name: str, value: Any) -> Any:
        if name in self.picklists and isinstance(value, str):
            return self.picklist_id(name, value)
        return value

    def _insert_ticket(self, record: dict[str, Any], now: datetime) -> int:
        ticket_id = self._next_ticket_id
        self._next_ticket_id += 1
        day = now.strftime("%Y%m%d")
        self._day_sequence[day] = self._day_sequence.get(day, 0) + 1
        record["id"] = ticket_id
        record["ticketNumber"] = f"T{day}.{self._day_sequence[day]:04d}"
        record["createDate"] = now
        record["lastActivityDate"] = now
        record["lastTrackedModificationDateTime"] = now
        record["creatorType"] = 1
        record["lastActivityPersonType"] = 1
        record.setdefault("userDefinedFields", {})
        record["completedDate"] = now if record.get("status") == 5 else None
        self._tickets[ticket_id] = record
        return ticket_id

    def _insert_note(self, note: dict[str, Any]) -> int:
        now = self.clock.now()
        note_id = self._next_note_id
        self._next_note_id += 1
        note.update({"id": note_id, "createDateTime": now, "lastActivityDate": now})
        self._notes[note_id] = note
        ticket = self._tickets.get(int(note["ticketID"]))
        if ticket is not None:
            self._touch(ticket, edited=False)
        return note_id

    def _touch(self, record: dict[str, Any], *, edited: bool) -> None:
        now = self.clock.now()
        record["lastActivityDate"] = now
        if edited:
            record["lastTrackedModificationDateTime"] = now
            if record.get("status") == 5:
                if record.get("completedDate") is None:
                    record["completedDate"] = now
            else:
                record["completedDate"] = None

    def _wire(self, schema: Iterable[FieldSpec], record: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in schema:
            value = record.get(spec.name)
            out[spec.name] = format_iso_time(value) if isinstance(value, datetime) else value
        return out

    def _ticket_wire(self, record: Mapping[str, Any]) -> dict[str, Any]:
        out = self._wire(TICKET_SCHEMA, record)
        udfs = record.get("userDefinedFields") or {}
        out["userDefinedFields"] = [{"name": u.name, "value": udfs.get(u.name)} for u in TICKET_UDFS]
        return out

    # ---- internals: usage ---------------------------------------------------------------------------

    def _prune_window(self, now: datetime) -> None:
        horizon = now - timedelta(hours=1)
        for window in (self._usage.window, self._usage.others):
            while window and window[0] <= horizon:
                window.popleft()

    def _tenant_count(self) -> int:
        return len(self._usage.window) + len(self._usage.others)

    def _count_request(self) -> tuple[bool, float]:
        """Count one request; (refused, latency to add)."""
        with self._lock:
            now = self.clock.now()
            self._prune_window(now)
            threshold = max(1, self.settings.hourly_threshold)
            used = self._tenant_count()
            if used >= threshold:
                return True, 0.0
            self._usage.window.append(now)
            latency = 0.0
            if self.settings.latency_from_usage:
                fraction = (used + 1) / threshold
                latency = 1.0 if fraction >= 0.75 else 0.5 if fraction >= 0.5 else 0.0
            return False, latency

    # ---- HTTP ---------------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            return self._dispatch(request, raw)
        except ApiError as error:
            return _json(error.status, {"errors": [error.message]}, error.headers)

    def _authenticate(self, request: Request) -> None:
        settings = self.settings
        headers = request.headers
        code = headers.get("apiintegrationcode", "")
        user = headers.get("username", "")
        if not code or not user or headers.get("secret", "") != settings.secret:
            raise ApiError("User Not Authenticated.", 401)
        # What live tenants answer (api-contracts.md 2.4): a revoked or wrong integration code and
        # a user unknown to the zone are HTTP 500 with an errors array, not 401.
        if code != settings.integration_code:
            raise ApiError("IntegrationCode is invalid.", 500)
        if user.casefold() != settings.username.casefold():
            raise ApiError("Zone information could not be determined for this user.", 500)

    def _dispatch(self, request: Request, raw: bytes) -> Response:
        path = request.url.path.rstrip("/")
        lowered = path.lower()
        prefix = "/atservicesrest/"
        if not lowered.startswith(prefix):
            raise ApiError("The resource cannot be found.", 404)
        rest = path[len(prefix) :]
        method = request.method
        if rest.lower() == "versioninformation":
            return _json(200, {"apiVersions": ["1.0"]})
        if not rest.lower().startswith("v1.0/"):
            raise ApiError("The resource cannot be found.", 404)
        parts = [p for p in rest[5:].split("/") if p]
        low = [p.lower() for p in parts]
        if low == ["zoneinformation"] and method == "GET":
            return self._zone_information(request)
        self._authenticate(request)
        body = self._parse_body(raw) if raw.strip() else None
        with self._lock:
            if low == ["thresholdinformation"] and method == "GET":
                return self._threshold_information()
            if low[:1] == ["tickets"]:
                return self._tickets_route(request, method, parts[1:], low[1:], body)
            if low[:1] == ["ticketnotes"]:
                return self._notes_route(request, method, low[1:], body)
            if low[:1] == ["ticketwebhooks"]:
                return self._webhooks_route(method, parts[1:], low[1:], body)
            if len(low) == 2 and low[0] == "companies" and method == "GET":
                company_id = self._path_id(parts[1])
                return self._item_response(self._companies.get(company_id))
        raise ApiError("The resource cannot be found.", 404)

    def _parse_body(self, raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ApiError(f"The request body is not valid JSON: {exc}", 400) from exc

    def _path_id(self, text: str) -> int:
        try:
            return int(text)
        except ValueError as exc:
            raise ApiError(f"The value '{text}' is not valid.", 400) from exc

    def _item_response(self, record: Mapping[str, Any] | None) -> Response:
        if record is None:
            if self.settings.item_null_for_missing:
                return _json(200, {"item": None})
            raise ApiError("No matching records found.", 404)
        return _json(200, {"item": dict(record)})

    def _zone_information(self, request: Request) -> Response:
        user = request.query_params.get("user", "")
        if not user or user.casefold() != self.settings.username.casefold():
            raise ApiError("Zone information could not be determined for this user.", 500)
        base = str(request.base_url).rstrip("/")
        return _json(
            200,
            {
                "zoneName": self.settings.zone_name,
                "url": self.settings.zone_url or f"{base}/atservicesrest/",
                "webUrl": self.settings.web_url,
                "ci": self.settings.ci,
            },
        )

    def _threshold_information(self) -> Response:
        self._prune_window(self.clock.now())
        return _json(
            200,
            {
                "externalRequestThreshold": self.settings.hourly_threshold,
                "requestThresholdTimeframe": 60,
                "currentTimeframeRequestCount": self._tenant_count(),
            },
        )

    def _tickets_route(
        self, request: Request, method: str, parts: list[str], low: list[str], body: Any
    ) -> Response:
        if not low:
            if method == "POST":
                return self._create_ticket(body)
            if method in ("PATCH", "PUT"):
                return self._update_ticket(body, full=method == "PUT")
            raise ApiError(f"The requested resource does not support http method '{method}'.", 405)
        if low[0] == "query":
            return self._query_route(request, method, "Ticket", low[1:], body)
        if low[0] == "entityinformation":
            return self._entity_information("Ticket", low[1:], method)
        ticket_id = self._path_id(parts[0])
        if len(low) == 1 and method == "GET":
            record = self._tickets.get(ticket_id)
            return self._item_response(None if record is None else self._ticket_wire(record))
        if len(low) == 2 and low[1] == "notes" and method == "POST":
            return self._create_note(ticket_id, body)
        raise ApiError(f"The requested resource does not support http method '{method}'.", 405)

    def _notes_route(self, request: Request, method: str, low: list[str], body: Any) -> Response:
        if low and low[0] == "query":
            return self._query_route(request, method, "TicketNote", low[1:], body)
        if low and low[0] == "entityinformation":
            return self._entity_information("TicketNote", low[1:], method)
        raise ApiError("The resource cannot be found.", 404)

    # ---- metadata -------------------------------------------------------------------------------------

    def _schema(self, entity: Entity) -> tuple[FieldSpec, ...]:
        return TICKET_SCHEMA if entity == "Ticket" else NOTE_SCHEMA

    def _is_required(self, spec: FieldSpec, entity: Entity) -> bool:
        if entity == "Ticket" and spec.name == "dueDateTime":
            return self.settings.require_due_date
        if entity == "TicketNote" and spec.name == "title":
            return self.settings.note_title_required
        return spec.required

    def _field_info(self, spec: FieldSpec, entity: Entity, *, udf: bool = False) -> dict[str, Any]:
        values = None
        if spec.picklist:
            values = [
                {
                    "value": str(v["value"]),
                    "label": v["label"],
                    "isDefaultValue": v["isDefaultValue"],
                    "sortOrder": v["sortOrder"],
                    "parentValue": "" if v["parentValue"] is None else str(v["parentValue"]),
                    "isActive": v["isActive"],
                    "isSystem": v["isSystem"],
                }
                for v in self.picklists.get(spec.name, [])
            ]
        return {
            "name": spec.name,
            "dataType": spec.data_type,
            "length": spec.length,
            "isRequired": self._is_required(spec, entity),
            "isReadOnly": spec.read_only,
            "isQueryable": spec.queryable,
            "isReference": bool(spec.reference),
            "referenceEntityType": spec.reference,
            "isPickList": spec.picklist,
            "picklistValues": values,
            "picklistParentValueField": spec.parent_field,
            "isSupportedWebhookField": not udf and spec.queryable,
        }

    def _entity_information(self, entity: Entity, low: list[str], method: str) -> Response:
        if method != "GET":
            raise ApiError(f"The requested resource does not support http method '{method}'.", 405)
        if not low:
            return _json(
                200,
                {
                    "info": {
                        "name": entity,
                        "canCreate": True,
                        "canDelete": False,
                        "canQuery": True,
                        "canUpdate": entity == "Ticket",
                        "userAccessForCreate": "All",
                        "userAccessForDelete": "None",
                        "userAccessForQuery": "All",
                        "userAccessForUpdate": "All" if entity == "Ticket" else "None",
                        "hasUserDefinedFields": entity == "Ticket",
                        "supportsWebhookCallouts": True,
                    }
                },
            )
        if low == ["fields"]:
            return _json(200, {"fields": [self._field_info(s, entity) for s in self._schema(entity)]})
        if low == ["userdefinedfields"]:
            udfs = TICKET_UDFS if entity == "Ticket" else ()
            return _json(200, {"fields": [self._field_info(s, entity, udf=True) for s in udfs]})
        raise ApiError("The resource cannot be found.", 404)

    # ---- queries --------------------------------------------------------------------------------------

    def _records(self, entity: Entity) -> dict[int, dict[str, Any]]:
        return self._tickets if entity == "Ticket" else self._notes

    def _query_route(
        self, request: Request, method: str, entity: Entity, low: list[str], body: Any
    ) -> Response:
        search = request.query_params.get("search")
        if low == [NEXT_PAGE_SEGMENT]:
            if method != "POST":
                raise ApiError(f"The requested resource does not support http method '{method}'.", 405)
            token = request.query_params.get("paging", "")
            page = self._tokens.get(token)
            if page is None or page.entity != entity:
                raise ApiError("The paging token is invalid or has expired.")
            if body is None and page.search is not None:
                body = self._parse_body(page.search.encode())
            if self._body_key(body) != page.body_key:
                raise ApiError("The request body does not match the query of this paging token.")
            return self._run_query(request, entity, body, page.after_id, token)
        if method == "GET":
            if not search:
                raise ApiError("The search parameter is required.")
            body = self._parse_body(search.encode())
        elif method != "POST":
            raise ApiError(f"The requested resource does not support http method '{method}'.", 405)
        if low == ["count"]:
            matching = self._matching(entity, body)
            return _json(200, {"queryCount": len(matching)})
        if low:
            raise ApiError("The resource cannot be found.", 404)
        return self._run_query(request, entity, body, None, None, search=search if method == "GET" else None)

    @staticmethod
    def _body_key(body: Any) -> str:
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def _get(body: Mapping[str, Any], key: str) -> Any:
        for name, value in body.items():
            if name.lower() == key.lower():
                return value
        return None

    def _matching(self, entity: Entity, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            raise ApiError("The query body must be a JSON object with a filter.")
        filters = self._get(body, "filter")
        if filters is None:
            filters = []
        if not isinstance(filters, list):
            raise ApiError("filter must be an array.")
        if self.settings.require_filter and not filters:
            raise ApiError("A query requires at least one filter.")
        if _or_terms(filters) > MAX_OR_TERMS:
            raise ApiError(f"Queries are limited to {MAX_OR_TERMS} or fewer 'OR' conditions.")
        udf_count = _udf_filters(filters)
        if udf_count > 1:
            raise ApiError("Only one user-defined field may be used in a query filter.")
        predicate = self._compile_group("and", filters, entity)
        return [r for _, r in sorted(self._records(entity).items()) if predicate(r)]

    def _run_query(
        self,
        request: Request,
        entity: Entity,
        body: Any,
        after_id: int | None,
        token: str | None,
        *,
        search: str | None = None,
    ) -> Response:
        matching = self._matching(entity, body)
        assert isinstance(body, dict)
        max_records = self._get(body, "MaxRecords")
        if max_records is None:
            max_records = self.settings.page_size_cap
        if isinstance(max_records, bool) or not isinstance(max_records, int):
            raise ApiError("MaxRecords must be a whole number.")
        if not 1 <= max_records <= self.settings.page_size_cap:
            raise ApiError(f"MaxRecords must be between 1 and {self.settings.page_size_cap}.")
        include = self._include_fields(entity, self._get(body, "IncludeFields"))
        remaining = [r for r in matching if after_id is None or int(r["id"]) > after_id]
        page = remaining[:max_records]
        base = str(request.base_url).rstrip("/")
        entity_path = "Tickets" if entity == "Ticket" else "TicketNotes"
        current = token
        search_text = search if token is None else (self._tokens[token].search if token else None)

        def page_url(tok: str | None) -> str | None:
            if tok is None:
                return None
            url = f"{base}/atservicesrest/v1.0/{entity_path}/query/{NEXT_PAGE_SEGMENT}?paging={tok}"
            if search_text:
                url += f"&search={quote(search_text)}"
            return url

        next_url = None
        prev_url = None
        if current is not None:
            prev_url = page_url(self._tokens[current].prev)
        if len(remaining) > max_records:
            key = self._body_key(body)
            if current is None:
                current = self._new_token(_PageToken(entity, key, -(2**62), None, search_text))
            next_token = self._new_token(_PageToken(entity, key, int(page[-1]["id"]), current, search_text))
            next_url = page_url(next_token)
        wire = self._ticket_wire if entity == "Ticket" else (lambda r: self._wire(NOTE_SCHEMA, r))
        items = []
        for record in page:
            full = wire(record)
            items.append(full if include is None else {k: v for k, v in full.items() if k in include})
        if entity == "Ticket":
            self.page_hooks.run({"body": self._body_key(body), "next": "true" if token else "false"})
        return _json(
            200,
            {
                "items": items,
                "pageDetails": {
                    "count": len(items),
                    "requestCount": max_records,
                    "prevPageUrl": prev_url,
                    "nextPageUrl": next_url,
                },
            },
        )

    def _new_token(self, page: _PageToken) -> str:
        token = "".join(self._random.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(24))
        self._tokens[token] = page
        while len(self._tokens) > max(1, self.settings.paging_token_limit):
            self._tokens.popitem(last=False)
        return token

    def _include_fields(self, entity: Entity, include: Any) -> set[str] | None:
        if include is None or include == []:
            return None
        if not isinstance(include, list) or not all(isinstance(i, str) for i in include):
            raise ApiError("IncludeFields must be an array of field names.")
        names = {s.name.lower(): s.name for s in self._schema(entity)}
        if entity == "Ticket":
            names["userdefinedfields"] = "userDefinedFields"
        chosen = {"id"}
        for item in include:
            real = names.get(item.lower())
            if real is None:
                raise ApiError(f"Unable to find {item} in the Entity.")
            chosen.add(real)
        return chosen

    def _spec(self, entity: Entity, name: Any, *, udf: bool) -> FieldSpec:
        specs = TICKET_UDFS if udf else self._schema(entity)
        if udf and entity != "Ticket":
            specs = ()
        for spec in specs:
            if isinstance(name, str) and spec.name.lower() == name.lower():
                return spec
        raise ApiError(f"Unable to find {name} in the Entity.")

    def _compile_group(
        self, op: str, items: list[Any], entity: Entity
    ) -> Callable[[Mapping[str, Any]], bool]:
        predicates = [self._compile(item, entity) for item in items]
        if op == "or":
            return lambda r: any(p(r) for p in predicates)
        return lambda r: all(p(r) for p in predicates)

    def _compile(self, item: Any, entity: Entity) -> Callable[[Mapping[str, Any]], bool]:
        if not isinstance(item, dict):
            raise ApiError("Each filter must be an object.")
        op = str(item.get("op", ""))
        lowered = op.lower()
        if lowered in ("and", "or"):
            children = item.get("items")
            if not isinstance(children, list) or not children:
                raise ApiError(f"The '{op}' filter requires items.")
            return self._compile_group(lowered, children, entity)
        udf = item.get("udf") is True
        spec = self._spec(entity, item.get("field"), udf=udf)
        if not spec.queryable:
            raise ApiError(f"The field {spec.name} is not queryable.")

        def get(record: Mapping[str, Any]) -> Any:
            if udf:
                return (record.get("userDefinedFields") or {}).get(spec.name)
            return record.get(spec.name)

        if lowered in ("exist", "notexist"):
            want = lowered == "exist"
            return lambda r: (get(r) not in (None, "")) == want
        ops = {
            "eq",
            "noteq",
            "gt",
            "gte",
            "lt",
            "lte",
            "beginswith",
            "endswith",
            "contains",
            "in",
            "notin",
        }
        if lowered not in ops:
            raise ApiError(f"The operator '{op}' is not valid.")
        if "value" not in item or _contains_null(item.get("value")):
            raise ApiError(f"A null value is not allowed in a filter ({spec.name}).")
        raw = item["value"]
        if lowered in ("in", "notin"):
            if not isinstance(raw, list) or not raw:
                raise ApiError(f"The '{op}' filter requires an array of values.")
            values = [self._filter_value(spec, v) for v in raw]

            def member(record: Mapping[str, Any]) -> bool:
                current = _norm(get(record))
                return current is not None and current in values

            if lowered == "in":
                return member
            return lambda r: get(r) is not None and not member(r)
        if lowered in ("beginswith", "endswith", "contains"):
            if spec.data_type != "string":
                raise ApiError(f"The operator '{op}' cannot be used with the field {spec.name}.")
            text = str(raw).casefold()

            def string_op(record: Mapping[str, Any]) -> bool:
                current = get(record)
                if current is None:
                    return False
                value = str(current).casefold()
                if lowered == "beginswith":
                    return value.startswith(text)
                if lowered == "endswith":
                    return value.endswith(text)
                return text in value

            return string_op
        wanted = self._filter_value(spec, raw)
        compare: dict[str, Callable[[Any, Any], bool]] = {
            "eq": lambda a, b: a == b,
            "noteq": lambda a, b: a != b,
            "gt": lambda a, b: a > b,
            "gte": lambda a, b: a >= b,
            "lt": lambda a, b: a < b,
            "lte": lambda a, b: a <= b,
        }
        check = compare[lowered]

        def scalar(record: Mapping[str, Any]) -> bool:
            current = _norm(get(record))
            return current is not None and bool(check(current, wanted))

        return scalar

    def _filter_value(self, spec: FieldSpec, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            raise ApiError(f"Conversion failed when converting the value to the type of {spec.name}.")
        if spec.data_type in ("integer", "long"):
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ApiError(
                    f"Conversion failed when converting the varchar value '{value}' to data type int."
                )
            try:
                return int(value)
            except (TypeError, ValueError) as exc:
                raise ApiError(
                    f"Conversion failed when converting the varchar value '{value}' to data type int."
                ) from exc
        if spec.data_type == "double":
            if isinstance(value, bool):
                raise ApiError(f"Conversion failed when converting the value '{value}' to data type float.")
            try:
                return float(value)
            except (TypeError, ValueError) as exc:
                raise ApiError(
                    f"Conversion failed when converting the value '{value}' to data type float."
                ) from exc
        if spec.data_type == "datetime":
            try:
                return parse_iso_time(str(value))
            except WireFormatError as exc:
                raise ApiError(
                    "Conversion failed when converting date and/or time from character string."
                ) from exc
        if spec.data_type == "boolean":
            if not isinstance(value, bool):
                raise ApiError(f"Boolean filter values must be true or false ({spec.name}).")
            return value
        if isinstance(value, bool):
            raise ApiError(f"Conversion failed when converting the value '{value}' to data type varchar.")
        return str(value).casefold()

    # ---- writes ------------------------------------------------------------------------------------------

    def _check_body(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError("The request body must be a JSON object.")
        if _contains_null(body):
            raise ApiError("Null values are not allowed. Omit the field instead.")
        return body

    def _convert(self, spec: FieldSpec, value: Any) -> Any:
        type_names = {"integer": "System.Int32", "long": "System.Int64", "double": "System.Double"}
        if spec.data_type in ("integer", "long"):
            if isinstance(value, bool) or isinstance(value, (dict, list)):
                raise _conversion_error(value, type_names[spec.data_type], spec.name)
            if isinstance(value, float):
                if value.is_integer():
                    return int(value)
            elif isinstance(value, int):
                return value
            elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            raise _conversion_error(value, type_names[spec.data_type], spec.name)
        if spec.data_type == "double":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise _conversion_error(value, "System.Double", spec.name)
            return float(value)
        if spec.data_type == "datetime":
            if not isinstance(value, str):
                raise _conversion_error(value, "System.DateTime", spec.name)
            try:
                return parse_iso_time(value)
            except WireFormatError as exc:
                raise ApiError(f"Could not convert string to DateTime: {value}. Path '{spec.name}'.") from exc
        if spec.data_type == "boolean":
            if not isinstance(value, bool):
                raise _conversion_error(value, "System.Boolean", spec.name)
            return value
        if isinstance(value, (dict, list, bool)):
            raise ApiError(f"Unexpected value for string field. Path '{spec.name}'.")
        text = str(value)
        if spec.length and len(text) > spec.length:
            raise ApiError(
                f"The value for {spec.name} exceeds the maximum length of {spec.length} characters "
                f"({len(text)}).; on record number [0]."
            )
        return text

    def _apply_fields(
        self, entity: Entity, record: dict[str, Any], body: Mapping[str, Any], *, skip: set[str]
    ) -> None:
        by_name = {s.name.lower(): s for s in self._schema(entity)}
        for name, value in body.items():
            lowered = name.lower()
            if lowered in skip:
                continue
            if entity == "Ticket" and lowered == "userdefinedfields":
                record["userDefinedFields"] = self._convert_udfs(value, record.get("userDefinedFields") or {})
                continue
            spec = by_name.get(lowered)
            if spec is None or spec.read_only:
                continue  # unknown and read-only fields are ignored, as the API does
            record[spec.name] = self._convert(spec, value)

    def _convert_udfs(self, value: Any, current: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(value, list):
            raise ApiError("userDefinedFields must be an array of {name, value}.")
        result = dict(current)
        for entry in value:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ApiError("userDefinedFields must be an array of {name, value}.")
            spec = self._spec("Ticket", entry["name"], udf=True)
            result[spec.name] = self._convert(spec, entry.get("value", ""))
        return result

    def _validate(self, entity: Entity, record: Mapping[str, Any]) -> None:
        for spec in self._schema(entity):
            value = record.get(spec.name)
            if not spec.read_only and self._is_required(spec, entity) and value in (None, ""):
                raise ApiError(f"{spec.name} is required.; on record number [0].")
            if value is None:
                continue
            if spec.picklist:
                entries = {int(v["value"]): v for v in self.picklists.get(spec.name, [])}
                entry = entries.get(int(value))
                if entry is None or not entry["isActive"]:
                    raise ApiError(f"Value {value} does not exist in the picklist for {spec.name}.")
                if spec.parent_field and entry["parentValue"] is not None:
                    parent = record.get(spec.parent_field)
                    if parent != entry["parentValue"]:
                        raise ApiError(
                            f"{spec.name} {value} does not belong to {spec.parent_field} {parent}."
                        )
        if entity != "Ticket":
            return
        if int(record["companyID"]) not in self._companies:
            raise ApiError("Value does not reference an existing entity for companyID . ")
        has_resource = record.get("assignedResourceID") is not None
        has_role = record.get("assignedResourceRoleID") is not None
        if has_resource != has_role:
            raise ApiError(
                "When assigning a Resource, you must assign both a assignedResourceID and "
                "assignedResourceRoleID."
            )
        if record.get("queueID") is None and not has_resource:
            raise ApiError(
                "A ticket must be assigned to a queue (queueID) or to a resource "
                "(assignedResourceID and assignedResourceRoleID).; on record number [0]."
            )

    def _create_ticket(self, body: Any) -> Response:
        payload = self._check_body(body)
        record: dict[str, Any] = {}
        self._apply_fields("Ticket", record, payload, skip={"id"})
        self._validate("Ticket", record)
        ticket_id = self._insert_ticket(record, self.clock.now())
        self._ticket_event("Create", None, record, self.settings.api_resource_id)
        return _json(200, {"itemId": ticket_id})

    def _update_ticket(self, body: Any, *, full: bool) -> Response:
        payload = self._check_body(body)
        raw_id = self._get(payload, "id")
        if raw_id is None:
            raise ApiError("id is required to update a ticket.")
        ticket_id = self._convert(TICKET_SCHEMA[0], raw_id)
        current = self._tickets.get(ticket_id)
        if current is None:
            raise ApiError(f"No matching records found. The ticket with id {ticket_id} does not exist.")
        updated = dict(current)
        if full and self.settings.put_clears_omitted:
            sent = {name.lower() for name in payload}
            for spec in TICKET_SCHEMA:
                if not spec.read_only and spec.name.lower() not in sent:
                    updated[spec.name] = None
        self._apply_fields("Ticket", updated, payload, skip={"id"})
        self._validate("Ticket", updated)
        before = self._ticket_wire(current) if self._webhooks else None
        current.clear()
        current.update(updated)
        self._touch(current, edited=True)
        self._ticket_event("Update", before, current, self.settings.api_resource_id)
        return _json(200, {"itemId": ticket_id})

    def _create_note(self, ticket_id: int, body: Any) -> Response:
        payload = self._check_body(body)
        if ticket_id not in self._tickets:
            raise ApiError("Value does not reference an existing entity for ticketID . ")
        body_ticket = self._get(payload, "ticketID")
        if body_ticket is not None and self._convert(NOTE_SCHEMA[1], body_ticket) != ticket_id:
            raise ApiError("The ticketID in the body does not match the parent ticket in the URL.")
        note: dict[str, Any] = {"ticketID": ticket_id, "creatorResourceID": 29682885}
        self._apply_fields("TicketNote", note, payload, skip={"id", "ticketid"})
        self._validate("TicketNote", note)
        return _json(200, {"itemId": self._insert_note(note)})

    # ---- webhooks ------------------------------------------------------------------------------------

    def _webhooks_route(self, method: str, parts: list[str], low: list[str], body: Any) -> Response:
        unsupported = ApiError(f"The requested resource does not support http method '{method}'.", 405)
        if not low:
            if method == "POST":
                return self._create_webhook(body)
            if method == "PATCH":
                return self._update_webhook(body)
            raise unsupported
        if low[0] == "query":
            if method not in ("GET", "POST"):
                raise unsupported
            items = self.webhooks()  # filters are not simulated: every webhook is returned
            page = {"count": len(items), "requestCount": 500, "prevPageUrl": None, "nextPageUrl": None}
            return _json(200, {"items": items, "pageDetails": page})
        hook = self._webhooks.get(self._path_id(parts[0]))
        if len(low) == 1 and method == "GET":
            return self._item_response(None if hook is None else hook.wire(self.settings.api_resource_id))
        if len(low) == 2 and method == "POST" and low[1] in ("fields", "excludedresources"):
            if hook is None:
                raise ApiError("Value does not reference an existing entity for webhookID . ")
            payload = {k.lower(): v for k, v in self._check_body(body).items()}
            if low[1] == "fields":
                return self._add_webhook_field(hook, payload)
            return self._add_excluded_resource(hook, payload)
        raise unsupported

    def _webhook_values(self, body: Any, current: Mapping[str, Any] | None) -> dict[str, Any]:
        payload = {k.lower(): v for k, v in self._check_body(body).items()}
        values: dict[str, Any] = dict(current or {})
        for name, kind, required, length in _WEBHOOK_SPECS:
            value = payload.get(name.lower())
            if value is None:
                if current is None and required:
                    raise ApiError(f"{name} is required.; on record number [0].")
                if current is None:
                    values[name] = False if kind is bool else ""
                continue
            if not isinstance(value, kind):
                raise _conversion_error(value, "System.Boolean" if kind is bool else "System.String", name)
            if isinstance(value, str):
                if length and len(value) > length:
                    raise ApiError(
                        f"The value for {name} exceeds the maximum length of {length} characters "
                        f"({len(value)}).; on record number [0]."
                    )
                if required and not value.strip():
                    raise ApiError(f"{name} is required.; on record number [0].")
                if name in ("webhookUrl", "deactivationUrl") and not value.lower().startswith(
                    ("http://", "https://")
                ):
                    raise ApiError(f"{name} must be an absolute http or https URL.; on record number [0].")
            values[name] = value
        return values

    def _create_webhook(self, body: Any) -> Response:
        values = self._webhook_values(body, None)
        webhook_id = self._next_webhook_id
        self._next_webhook_id += 1
        guid = str(uuid.UUID(int=self._guids.getrandbits(128), version=4))
        self._webhooks[webhook_id] = TicketWebhook(webhook_id, guid, values)
        return _json(200, {"itemId": webhook_id})

    def _update_webhook(self, body: Any) -> Response:
        payload = self._check_body(body)
        raw_id = self._get(payload, "id")
        hook = None if raw_id is None else self._webhooks.get(self._convert(TICKET_SCHEMA[0], raw_id))
        if hook is None:
            raise ApiError("No matching records found. The webhook does not exist.")
        values = self._webhook_values({k: v for k, v in payload.items() if k.lower() != "id"}, hook.values)
        if values["isActive"] and not hook.is_active:
            hook.consecutive_failures = 0
        hook.values = values
        return _json(200, {"itemId": hook.id})

    def _new_child_id(self) -> int:
        item_id = self._next_webhook_child_id
        self._next_webhook_child_id += 1
        return item_id

    def _add_webhook_field(self, hook: TicketWebhook, payload: Mapping[str, Any]) -> Response:
        raw = payload.get("fieldid")
        names = {name.lower(): name for name in TICKET_WEBHOOK_FIELD_IDS}
        by_id = {number: name for name, number in TICKET_WEBHOOK_FIELD_IDS.items()}
        name: str | None = None
        if isinstance(raw, int) and not isinstance(raw, bool):
            name = by_id.get(raw)
        elif isinstance(raw, str):
            name = names.get(raw.lower()) or (by_id.get(int(raw)) if raw.strip().isdigit() else None)
        if raw is None:
            raise ApiError("FieldID is required.; on record number [0].")
        if name is None:
            raise ApiError(f"FieldID {raw} is not a field that supports webhooks for Ticket.")
        flags = []
        for key in ("issubscribedfield", "isdisplayalwaysfield"):
            value = payload.get(key, False)
            if not isinstance(value, bool):
                raise _conversion_error(value, "System.Boolean", key)
            flags.append(value)
        if name in hook.fields:
            raise ApiError(f"The field {name} is already part of this webhook.")
        hook.fields[name] = (flags[0], flags[1])
        hook.field_item_ids[name] = self._new_child_id()
        return _json(200, {"itemId": hook.field_item_ids[name]})

    def _add_excluded_resource(self, hook: TicketWebhook, payload: Mapping[str, Any]) -> Response:
        raw = payload.get("resourceid")
        if raw is None:
            raise ApiError("ResourceID is required.; on record number [0].")
        resource_id = self._convert(FieldSpec("ResourceID", "integer"), raw)
        if resource_id in hook.excluded_resources:
            raise ApiError(f"Resource {resource_id} is already excluded from this webhook.")
        hook.excluded_resources[resource_id] = self._new_child_id()
        return _json(200, {"itemId": hook.excluded_resources[resource_id]})

    def _ticket_event(
        self, action: str, before: Mapping[str, Any] | None, record: Mapping[str, Any], person_id: int
    ) -> None:
        """Queue a delivery on every ready, active webhook the change concerns (caller holds the lock)."""
        if not self._webhooks:
            return
        after = self._ticket_wire(record)
        for hook in self._webhooks.values():
            subscribed_events = {
                "Create": hook.values["isSubscribedToCreateEvents"],
                "Update": hook.values["isSubscribedToUpdateEvents"],
            }
            if not (hook.is_active and hook.is_ready and subscribed_events.get(action, False)):
                continue
            if person_id in hook.excluded_resources:
                continue
            subscribed = [name for name, (sub, _) in hook.fields.items() if sub]
            if before is None:
                changed = {n: after.get(n) for n in subscribed if after.get(n) not in (None, "")}
            else:
                changed = {n: after.get(n) for n in subscribed if after.get(n) != before.get(n)}
                if not changed:
                    continue
            always = {n: after.get(n) for n, (_, show) in hook.fields.items() if show}
            hook.sequence += 1
            payload = {
                "Action": action,
                "Guid": hook.guid,
                "EntityType": "Ticket",
                "Id": after["id"],
                "Fields": {**always, **changed},
                "EventTime": format_iso_time(self.clock.now()),
                "SequenceNumber": hook.sequence,
                "PersonID": person_id,
            }
            self._send_hook(hook, hook.values["webhookUrl"], payload, count_failures=True)

    def _send_hook(
        self, hook: TicketWebhook, url: str, payload: Mapping[str, Any], *, count_failures: bool
    ) -> None:
        # The body goes out as UTF-8; the signature covers the .NET-escaped serialization
        # (api-contracts.md 2.5: Autotask signs ``& < > ' " ` +`` and non-ASCII as \uXXXX).
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        signed = dotnet_escaped(body)
        assert signed is not None  # our own JSON always escapes cleanly
        settings = self.settings

        def done(success: bool) -> None:
            self._hook_outcome(hook, success)

        self.webhook_deliveries.submit(
            Delivery(
                url=url,
                body=body,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "X-Hook-Signature": hook_signature(str(hook.values["secretKey"]), signed),
                },
                lane=f"webhook-{hook.id}" if count_failures else f"webhook-{hook.id}-deactivation",
                max_attempts=settings.webhook_max_attempts,
                retry_delay=settings.webhook_retry_delay_seconds,
                timeout=settings.webhook_timeout_seconds,
                on_done=done if count_failures else None,
            )
        )

    def _hook_outcome(self, hook: TicketWebhook, success: bool) -> None:
        """Runs on the delivery thread after a delivery succeeded or was dropped."""
        with self._lock:
            if self._webhooks.get(hook.id) is not hook:
                return  # deleted or reset meanwhile
            if success:
                hook.consecutive_failures = 0
                return
            hook.consecutive_failures += 1
            if (
                not hook.is_active
                or hook.consecutive_failures < self.settings.webhook_deactivate_after_failures
            ):
                return
            hook.values["isActive"] = False
            hook.sequence += 1
            payload = {
                "Action": "Deactivated",
                "Guid": hook.guid,
                "EntityType": "Ticket",
                "Id": hook.id,  # the webhook's id
                "Fields": {},
                "EventTime": format_iso_time(self.clock.now()),
                "SequenceNumber": hook.sequence,
                "PersonID": None,
            }
            url = str(hook.values["deactivationUrl"])
            if url:
                self._send_hook(hook, url, payload, count_failures=False)


def _conversion_error(value: Any, type_name: str, field: str) -> ApiError:
    return ApiError(f"Error converting value {json.dumps(value)} to type '{type_name}'. Path '{field}'.")


def _norm(value: Any) -> Any:
    if isinstance(value, str):
        return value.casefold()
    return value


def _udf_filters(items: Iterable[Any]) -> int:
    total = 0
    for item in items:
        if isinstance(item, dict):
            if item.get("udf") is True:
                total += 1
            children = item.get("items")
            if isinstance(children, list):
                total += _udf_filters(children)
    return total


class _UsageLayer:
    """Hourly threshold, per-endpoint thread limit and latency, before fault injection."""

    UNCOUNTED = {"versioninformation", "zoneinformation"}

    def __init__(self, sim: AutotaskSimulator, app: ASGIApp) -> None:
        self.sim = sim
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sim/"):
            await self.app(scope, receive, send)
            return
        sim = self.sim
        settings = sim.settings
        endpoint = endpoint_key(scope["path"])
        extra_latency = 0.0
        if endpoint.lower() not in self.UNCOUNTED:
            refused, extra_latency = sim._count_request()
            if refused:
                headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
                if settings.over_limit_retry_after is not None:
                    headers.append((b"retry-after", str(int(settings.over_limit_retry_after)).encode()))
                message = (
                    f"The request threshold of {settings.hourly_threshold} requests per hour has been "
                    "exceeded. Try again later."
                )
                await _send_json(send, settings.over_limit_status, headers, error_body(0, message))
                return
        code = ""
        for name, value in scope.get("headers", []):
            if name.lower() == b"apiintegrationcode":
                code = value.decode("latin-1")
        key = (code.lower(), endpoint.lower())
        usage = sim._usage
        with sim._lock:
            usage.arrivals[key] = usage.arrivals.get(key, 0) + 1
            usage.max_seen[key[1]] = max(usage.max_seen.get(key[1], 0), usage.arrivals[key])
            over = usage.arrivals[key] > settings.thread_limit
        processing = False
        try:
            if over and settings.thread_limit_behaviour in ("reject", "reject_429"):
                # Live tenants answer a non-429 error naming the thread threshold.
                status = 429 if settings.thread_limit_behaviour == "reject_429" else 500
                message = (
                    f"Thread Threshold Exceeded: more than {settings.thread_limit} concurrent requests "
                    "for this endpoint and integration code. Try again later."
                )
                await _send_json(
                    send, status, [(b"content-type", b"application/json")], error_body(status, message)
                )
                return
            while True:
                with sim._lock:
                    if usage.processing.get(key, 0) < settings.thread_limit:
                        usage.processing[key] = usage.processing.get(key, 0) + 1
                        processing = True
                        break
                await asyncio.sleep(0.005)
            delay = settings.latency + extra_latency
            if delay > 0:
                await asyncio.sleep(delay)
            await self.app(scope, receive, send)
        finally:
            with sim._lock:
                usage.arrivals[key] -= 1
                if processing:
                    usage.processing[key] -= 1


async def _send_json(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
