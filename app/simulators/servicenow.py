"""A faithful fake of the ServiceNow Table API (``incident`` plus read-only ``sys_journal_field`` and
``sys_choice``) and ``/oauth_token.do``, served on loopback HTTP.

The contract is ``shared/reference/api-contracts.md`` section 1. Behaviours the reference marks
UNCONFIRMED are :class:`ServiceNowSimSettings` fields, so tests can exercise both readings:

- every JSON value is a string; references are ``{"link","value"}``, a bare sys_id with
  ``sysparm_exclude_reference_link=true``, or ``""`` when empty; ``sysparm_display_value=true|all``;
- an encoded-query subset (``= != > >= < <= LIKE NOT LIKE STARTSWITH ENDSWITH IN NOT IN ISEMPTY
  ISNOTEMPTY BETWEEN ^ ^OR ^NQ ORDERBY ORDERBYDESC`` and ``javascript:gs.dateGenerate(...)``); unknown
  fields and malformed terms are silently dropped (or match nothing with
  ``invalid_query_returns_no_rows``);
- ``sysparm_limit`` (default 10000) is applied *before* ACLs, so ACL-hidden rows make short pages;
  ``X-Total-Count`` and ``Link`` (first/prev/next/last, absolute URLs) describe the whole query;
- ``/api/now/v1/...`` answers an empty list with 404; v2 (and the unversioned path) with ``[]``;
- POST 201 + ``Location``; ``INC`` numbers; seeded 32-hex sys_ids; zone-less UTC times from the
  clock; ``sys_mod_count`` +1 per update; priority from impact x urgency; active/incident_state
  from state (Resolved stays ``active=true``; only Closed and Canceled set it false); journal
  fields append rows to ``sys_journal_field`` and read back as ``""``;
- an optional data policy (403 on state 6/7 without close fields) and an optional hourly rate
  limit rule (``X-RateLimit-*`` headers, 429 + ``Retry-After``);
- an optional field write ACL (``acl_read_only_fields``: API writes to them silently ignored) and
  a reverting business rule (``reverting_rule_fields``: the old value is put back), both answering
  200 with the record as stored.

Tests and scenarios drive it through a thread-safe Python API (:meth:`create_incident`,
:meth:`update_incident`...) that acts as the human technician ``sam.triage``.
"""

from __future__ import annotations

import base64
import json
import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.domain.hook_signature import sha256_signature
from app.domain.records import SN_TIME_FORMAT
from app.httpserver import ServerThread
from app.simulators.clock import SimClock
from app.simulators.control import PageHooks, RequestLog, RequestLogMiddleware, control_routes
from app.simulators.faults import FaultMiddleware, FaultPlan
from app.simulators.sn_transactions import CommitDelays
from app.simulators.webhooks import Delivery, DeliveryAttempt, WebhookDispatcher

HUMAN_USER = "sam.triage"
JSON_TYPE = "application/json;charset=UTF-8"
DEFAULT_LIMIT = 10000

# --- incident table -------------------------------------------------------------------------------

REFERENCE_TABLES: dict[str, str] = {
    "caller_id": "sys_user",
    "assignment_group": "sys_user_group",
    "assigned_to": "sys_user",
    "opened_by": "sys_user",
    "resolved_by": "sys_user",
    "closed_by": "sys_user",
    "company": "core_company",
    "location": "cmn_location",
    "cmdb_ci": "cmdb_ci",
    "problem_id": "problem",
}
JOURNAL_FIELDS: tuple[str, ...] = ("work_notes", "comments")
INCIDENT_COLUMNS: tuple[str, ...] = (
    "sys_id",
    "number",
    "short_description",
    "description",
    "category",
    "subcategory",
    "active",
    "state",
    "incident_state",
    "impact",
    "urgency",
    "priority",
    "caller_id",
    "assignment_group",
    "assigned_to",
    "opened_by",
    "resolved_by",
    "closed_by",
    "company",
    "location",
    "cmdb_ci",
    "problem_id",
    "correlation_id",
    "correlation_display",
    "hold_reason",
    "close_code",
    "close_notes",
    "contact_type",
    "opened_at",
    "resolved_at",
    "closed_at",
    "work_notes",
    "comments",
    "sys_class_name",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
)
# Set by the platform, never by a client write (the Table API silently ignores them).
DERIVED_FIELDS: frozenset[str] = frozenset(
    {"number", "priority", "active", "incident_state", "opened_at", "resolved_at", "closed_at"}
)
INTEGER_FIELDS: frozenset[str] = frozenset(
    {"state", "incident_state", "impact", "urgency", "priority", "sys_mod_count", "sequence"}
)
STATE_LABELS: dict[str, str] = {
    "1": "New",
    "2": "In Progress",
    "3": "On Hold",
    "6": "Resolved",
    "7": "Closed",
    "8": "Canceled",
}
IMPACT_LABELS: dict[str, str] = {"1": "1 - High", "2": "2 - Medium", "3": "3 - Low"}
PRIORITY_LABELS: dict[str, str] = {
    "1": "1 - Critical",
    "2": "2 - High",
    "3": "3 - Moderate",
    "4": "4 - Low",
    "5": "5 - Planning",
}
# impact x urgency -> priority (ServiceNowDocs prioritise-problems.md; api-contracts.md 1.5).
PRIORITY_MATRIX: dict[tuple[str, str], str] = {
    ("1", "1"): "1",
    ("1", "2"): "2",
    ("1", "3"): "3",
    ("2", "1"): "2",
    ("2", "2"): "3",
    ("2", "3"): "4",
    ("3", "1"): "3",
    ("3", "2"): "4",
    ("3", "3"): "5",
}
CATEGORY_LABELS: dict[str, str] = {
    "inquiry": "Inquiry / Help",
    "software": "Software",
    "hardware": "Hardware",
    "network": "Network",
    "database": "Database",
}
CLOSE_CODES: tuple[str, ...] = (
    "Solution provided",
    "Workaround provided",
    "Resolved by change",
    "Resolved by problem",
    "Resolved by request",
    "Resolved by caller",
    "Known error",
    "User error",
    "Duplicate",
    "No resolution provided",
)
# Resolved (6) stays active until it is Closed: only Closed and Canceled set active=false.
INACTIVE_STATES: frozenset[str] = frozenset({"7", "8"})

JOURNAL_COLUMNS: tuple[str, ...] = (
    "sys_id",
    "element_id",
    "element",
    "name",
    "value",
    "sys_created_on",
    "sys_created_by",
)
CHOICE_COLUMNS: tuple[str, ...] = (
    "sys_id",
    "name",
    "element",
    "value",
    "label",
    "sequence",
    "inactive",
    "language",
    "dependent_value",
)


@dataclass
class ServiceNowSimSettings:
    """Instance behaviour. Plain attributes: tests may change them while the server runs."""

    username: str = "demo.integration"
    password: str = "demo"
    oauth_enabled: bool = True
    oauth_client_id: str = "demo-client"
    oauth_client_secret: str = "demo-secret"
    token_lifetime_seconds: int = 1799
    client_credentials_enabled: bool = False  # glide.oauth.inbound.client.credential.grant_type.enabled
    client_credentials_user: str = ""  # the OAuth Application User; "" = ``username``
    data_policy_close_fields: bool = True  # 403 on state 6/7 without close_code + close_notes (API writes)
    invalid_query_returns_no_rows: bool = False  # glide.invalid_query.returns_no_rows
    rate_limit_per_hour: int | None = None  # an hourly rate limit rule for the Table API, per user
    acl_hidden_sys_ids: set[str] = field(default_factory=set)  # incidents the API user may not read
    # A field write ACL: API writes to these fields are silently ignored (200, value unchanged).
    acl_read_only_fields: set[str] = field(default_factory=set)
    # A before-update business rule: these fields get their previous value back after an API write
    # (the update itself commits: sys_mod_count moves, work notes are kept).
    reverting_rule_fields: set[str] = field(default_factory=set)
    date_generate_tz: str = "UTC"  # zone gs.dateGenerate() interprets its arguments in (UNCONFIRMED)
    # Outbound id-only notifications (api-contracts.md 1.6, our business-rule design): None = off.
    # Inserts/updates by anyone but ``username`` POST {"table","sys_id","number","sys_updated_on",
    # "sys_mod_count"} here on a background thread, retried, then dropped (see ``notifications``).
    notify_url: str | None = None
    # The shared secret our business rule sends (docs/security.md): as the X-Triage-Sync-Token
    # header, or with ``notify_signed`` as X-Triage-Sync-Signature ``sha256=<base64 HMAC>``.
    notify_secret: str | None = None
    notify_signed: bool = False
    notify_max_attempts: int = 3
    notify_retry_delay_seconds: float = 1.0
    notify_timeout_seconds: float = 10.0
    # hold_reason codes are UNCONFIRMED; these are the commonly seen out-of-box values.
    hold_reason_labels: dict[str, str] = field(
        default_factory=lambda: {
            "1": "Awaiting Caller",
            "3": "Awaiting Problem",
            "4": "Awaiting Vendor",
            "5": "Awaiting Change",
        }
    )


@dataclass(frozen=True)
class WriteEvent:
    """One committed write, for tests that need to know who wrote what."""

    at: str
    user: str
    action: Literal["insert", "update", "delete"]
    sys_id: str
    fields: dict[str, str]


class _ApiError(Exception):
    def __init__(
        self, status: int, message: str, detail: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail
        self.headers = headers or {}


def error_body(status: int, message: str, detail: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "detail": detail}, "status": "failure"}).encode()


def _fault_error_body(status: int, message: str) -> bytes:
    return error_body(status, message)


def _now_text(clock: SimClock) -> str:
    return clock.now().astimezone(UTC).strftime(SN_TIME_FORMAT)


def _to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return _to_text(value.get("value", value.get("display_value", "")))
    return str(value)


# --- encoded queries ------------------------------------------------------------------------------

OPERATORS: tuple[str, ...] = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "NOT IN",
    "NOT LIKE",
    "STARTSWITH",
    "ENDSWITH",
    "LIKE",
    "IN",
    "BETWEEN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)
_FIELD_RE = re.compile(r"([a-z_][a-z0-9_]*)(.*)$", re.DOTALL)
_DATE_GENERATE_RE = re.compile(
    r"javascript:\s*gs\.dateGenerate\(\s*'(\d{4}-\d{2}-\d{2})'\s*,\s*'(\d{2}:\d{2}:\d{2})'\s*\)\s*;?$"
)
_CARET = "\x00caret\x00"


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    value: str


@dataclass
class ParsedQuery:
    """OR of ``branches`` (^NQ); each branch is an AND of groups; each group an OR of terms."""

    branches: list[list[list[Term]]]
    order: list[tuple[str, bool]]  # (field, descending), most significant first
    match_nothing: bool = False


def _resolve_value(value: str, date_generate_tz: str) -> str | None:
    if not value.startswith("javascript:"):
        return value
    match = _DATE_GENERATE_RE.match(value.strip())
    if match is None:
        return None  # other scripts are not simulated: the term is invalid
    local = datetime.strptime(f"{match.group(1)} {match.group(2)}", SN_TIME_FORMAT)
    zone = UTC if date_generate_tz.upper() in ("UTC", "GMT") else ZoneInfo(date_generate_tz)
    return local.replace(tzinfo=zone).astimezone(UTC).strftime(SN_TIME_FORMAT)


def parse_term(text: str, columns: Iterable[str], date_generate_tz: str = "UTC") -> Term | None:
    """One ``<field><op><value>`` term; None when the field is unknown or the term malformed."""
    match = _FIELD_RE.match(text)
    if match is None:
        return None
    name, rest = match.group(1), match.group(2)
    if name not in set(columns):
        return None
    for op in OPERATORS:
        if rest.startswith(op):
            raw = rest[len(op) :].replace(_CARET, "^")
            value = _resolve_value(raw, date_generate_tz)
            if value is None:
                return None
            return Term(name, op, value)
    return None


def parse_query(
    text: str, columns: Iterable[str], *, invalid_returns_no_rows: bool = False, date_generate_tz: str = "UTC"
) -> ParsedQuery:
    cols = tuple(columns)
    parsed = ParsedQuery(branches=[], order=[])
    if not text:
        return parsed
    for branch_text in text.replace("^^", _CARET).split("^NQ"):
        groups: list[list[Term]] = []
        for part in branch_text.split("^"):
            part = part.strip()
            if not part or part == "EQ":
                continue
            if part.startswith("ORDERBY"):
                desc = part.startswith("ORDERBYDESC")
                name = part[len("ORDERBYDESC") :] if desc else part[len("ORDERBY") :]
                if name in cols:
                    parsed.order.append((name, desc))
                elif invalid_returns_no_rows:
                    parsed.match_nothing = True
                continue
            is_or = part.startswith("OR")
            term = parse_term(part[2:] if is_or else part, cols, date_generate_tz)
            if term is None:
                if invalid_returns_no_rows:
                    parsed.match_nothing = True
                continue  # silently dropped, like the real instance
            if is_or and groups:
                groups[-1].append(term)
            else:
                groups.append([term])
        parsed.branches.append(groups)
    return parsed


def _compare(field_name: str, left: str, right: str) -> int:
    if field_name in INTEGER_FIELDS:
        try:
            a, b = int(left), int(right)
            return (a > b) - (a < b)
        except ValueError:
            pass
    return (left > right) - (left < right)


def term_matches(term: Term, row: Mapping[str, str]) -> bool:
    value = row.get(term.field, "")
    op, target = term.op, term.value
    if op == "=":
        return value == target
    if op == "!=":
        return value != target
    if op in (">", ">=", "<", "<="):
        if value == "":
            return False  # SQL NULL semantics: an empty value never compares
        result = _compare(term.field, value, target)
        return {">": result > 0, ">=": result >= 0, "<": result < 0, "<=": result <= 0}[op]
    if op == "LIKE":
        return target in value
    if op == "NOT LIKE":
        return target not in value
    if op == "STARTSWITH":
        return value.startswith(target)
    if op == "ENDSWITH":
        return value.endswith(target)
    if op == "IN":
        return value in target.split(",")
    if op == "NOT IN":
        return value not in target.split(",")
    if op == "ISEMPTY":
        return value == ""
    if op == "ISNOTEMPTY":
        return value != ""
    if op == "BETWEEN":
        low, _, high = target.partition("@")
        return (
            value != "" and _compare(term.field, value, low) >= 0 and _compare(term.field, value, high) <= 0
        )
    return True


def query_matches(parsed: ParsedQuery, row: Mapping[str, str]) -> bool:
    if parsed.match_nothing:
        return False
    if not parsed.branches:
        return True
    return any(
        all(any(term_matches(t, row) for t in group) for group in branch) for branch in parsed.branches
    )


def apply_query(parsed: ParsedQuery, rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    selected = [row for row in rows if query_matches(parsed, row)]
    for name, desc in reversed(parsed.order):

        def key(row: dict[str, str], name: str = name) -> tuple[int, int, str]:
            text = row.get(name, "")
            if name in INTEGER_FIELDS and re.fullmatch(r"-?\d+", text):
                return (1, int(text), "")
            return (0 if text == "" else 2, 0, text)

        selected.sort(key=key, reverse=desc)
    return selected


# --- the simulator --------------------------------------------------------------------------------


@dataclass
class _Table:
    name: str
    columns: tuple[str, ...]
    rows: Callable[[], list[dict[str, str]]]
    writable: bool = False


class ServiceNowSimulator:
    """The fake instance. ``start()`` serves it; the Python API changes data as a human would."""

    def __init__(
        self,
        *,
        clock: SimClock | None = None,
        seed: int = 0,
        settings: ServiceNowSimSettings | None = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.settings = settings or ServiceNowSimSettings()
        self.faults = FaultPlan(seed)
        self.requests = RequestLog()
        self._lock = threading.RLock()
        self._ids = random.Random(seed)
        self._tokens_rng = random.Random(seed + 7919)
        self._incidents: dict[str, dict[str, str]] = {}
        self._journal: list[dict[str, str]] = []
        self._choices: list[dict[str, str]] = []
        self._writes: list[WriteEvent] = []
        self._commits = CommitDelays()
        # Run after each incident list page is served: a test edits records between page requests.
        self.page_hooks = PageHooks()
        self._next_number = 10001
        self._access_tokens: dict[str, tuple[str, datetime]] = {}
        self._refresh_tokens: dict[str, str] = {}
        self._rate_counts: dict[tuple[str, int], int] = {}
        self._server: ServerThread | None = None
        self.base_url = ""
        self.notifications = WebhookDispatcher("servicenow-notify")
        # Reference records: sys_id -> display value (for sysparm_display_value).
        self.references: dict[str, str] = {}
        self._cis: set[str] = set()  # configuration items (cmdb_ci), see configuration_item()
        self.users: dict[str, str] = {}
        for user_name, display in (
            (HUMAN_USER, "Sam Triage"),
            ("abel.tuter", "Abel Tuter"),
            (self.settings.username, "Integration User"),
        ):
            self.users[user_name] = self._new_id()
            self.references[self.users[user_name]] = display
        self.groups: dict[str, str] = {}
        for group in ("Service Desk", "Network", "Hardware"):
            self.groups[group] = self._new_id()
            self.references[self.groups[group]] = group
        self.company_id = self._new_id()
        self.references[self.company_id] = "ACME Corporation"
        for sequence, code in enumerate(CLOSE_CODES):
            self._choices.append(self._choice_row("close_code", code, code, sequence))
        for code, label in STATE_LABELS.items():
            self._choices.append(self._choice_row("state", code, label, int(code)))
        for sequence, (code, label) in enumerate(CATEGORY_LABELS.items()):
            self._choices.append(self._choice_row("category", code, label, sequence))
        self._app = Starlette(routes=self._routes())

    # ---- life cycle

    @property
    def asgi(self) -> RequestLogMiddleware:
        return RequestLogMiddleware(
            FaultMiddleware(self._app, self.faults, _fault_error_body),
            self.requests,
            lambda: self.clock.now(),
        )

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = ServerThread(self.asgi, host=host, port=port, name="servicenow-sim", date_header=False)
        self.base_url = self._server.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        self.notifications.stop()

    def __enter__(self) -> ServiceNowSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- Python API (thread-safe; acts as the human technician unless ``user`` says otherwise)

    @property
    def next_number(self) -> str:
        with self._lock:
            return f"INC{self._next_number:07d}"

    def configuration_item(self, name: str) -> str:
        """The sys_id of the configuration item (cmdb_ci) called ``name``, registered on first use,
        so incidents can name it and reads show its display value. Lazily, so a world that never
        names a CI draws the same sys_ids as before."""
        with self._lock:
            for sys_id, display in self.references.items():
                if display == name and sys_id in self._cis:
                    return sys_id
            sys_id = self._new_id()
            self._cis.add(sys_id)
            self.references[sys_id] = name
            return sys_id

    def create_incident(
        self,
        *,
        user: str = HUMAN_USER,
        commit_delay: float = 0,
        stamp: datetime | None = None,
        **fields: Any,
    ) -> dict[str, str]:
        """``commit_delay``: the transaction commits (becomes visible) that many seconds after its
        stamp, as with a slow business rule. ``stamp``: an import that writes its own (older)
        ``sys_created_on``/``sys_updated_on``."""
        defaults: dict[str, Any] = {
            "short_description": "Something is not working",
            "category": "inquiry",
            "impact": "3",
            "urgency": "3",
            "state": "1",
            "caller_id": self.users["abel.tuter"],
            "assignment_group": self.groups["Service Desk"],
            "company": self.company_id,
            "contact_type": "phone",
        }
        defaults.update(fields)
        with self._lock:
            record = self._insert(defaults, user)
            if stamp is not None:
                text = stamp.astimezone(UTC).strftime(SN_TIME_FORMAT)
                record.update({"sys_created_on": text, "sys_updated_on": text, "opened_at": text})
            self._delay_commit(record, None, commit_delay)
            return dict(record)

    def update_incident(
        self, sys_id: str, *, user: str = HUMAN_USER, commit_delay: float = 0, **fields: Any
    ) -> dict[str, str]:
        """Change fields as a human would (no data policy: the form enforces its own rules).
        ``commit_delay`` as for :meth:`create_incident`: readers see the old version until then."""
        with self._lock:
            record = self._incidents.get(sys_id)
            if record is None:
                raise KeyError(sys_id)
            before = dict(record)
            updated = self._update(record, fields, user, enforce_policy=False)
            self._delay_commit(updated, before, commit_delay)
            return dict(updated)

    def _delay_commit(self, record: dict[str, str], before: dict[str, str] | None, delay: float) -> None:
        if delay > 0:
            stamp = datetime.strptime(record["sys_updated_on"], SN_TIME_FORMAT).replace(tzinfo=UTC)
            self._commits.hold(record["sys_id"], before, stamp + timedelta(seconds=delay))

    def _committed_incidents(self) -> list[dict[str, str]]:
        """What readers see now: uncommitted transactions hidden (or their previous version)."""
        now = self.clock.now()
        rows = (self._commits.view(record, now) for record in list(self._incidents.values()))
        return [row for row in rows if row is not None]

    def delete_incident(self, sys_id: str, *, user: str = HUMAN_USER) -> None:
        with self._lock:
            self._delete(sys_id, user)

    def get_record(self, sys_id: str) -> dict[str, str]:
        """The stored record, wire shape with raw values (references as bare sys_ids)."""
        with self._lock:
            return dict(self._incidents[sys_id])

    def records(self) -> list[dict[str, str]]:
        with self._lock:
            return [dict(r) for r in self._incidents.values()]

    def journal(self, sys_id: str, element: str = "work_notes") -> list[dict[str, str]]:
        """Journal rows of one incident, oldest first."""
        with self._lock:
            return [dict(r) for r in self._journal if r["element_id"] == sys_id and r["element"] == element]

    def writes(self, user: str | None = None) -> list[WriteEvent]:
        """Committed writes (API and Python API), optionally only one user's."""
        with self._lock:
            return [w for w in self._writes if user is None or w.user == user]

    def api_writes(self) -> list[WriteEvent]:
        """Writes made through the HTTP API by the integration user."""
        return self.writes(self.settings.username)

    def reset(self) -> None:
        """Forget incidents, journal, writes, tokens, rate counts, faults and the request log
        (settings and clock stay; assign ``settings``/``clock`` to replace them)."""
        with self._lock:
            self._incidents.clear()
            self._journal.clear()
            self._writes.clear()
            self._commits.clear()
            self._rate_counts.clear()
            self._access_tokens.clear()
            self._refresh_tokens.clear()
            self._next_number = 10001
        self.faults.clear()
        self.page_hooks.clear()
        self.requests.clear()
        self.notifications.clear()

    def notification_attempts(self) -> list[DeliveryAttempt]:
        """Every outbound notification attempt (url, body, status or error), oldest first."""
        return self.notifications.attempts()

    def _notify(self, record: Mapping[str, str], user: str) -> None:
        """The async business rule: queue an id-only POST unless the integration user wrote."""
        url = self.settings.notify_url
        if not url or user == self.settings.username:
            return
        body = {
            "table": "incident",
            "sys_id": record["sys_id"],
            "number": record["number"],
            "sys_updated_on": record["sys_updated_on"],
            "sys_mod_count": record["sys_mod_count"],
        }
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "ServiceNow/1.0"}
        secret = self.settings.notify_secret
        if secret and self.settings.notify_signed:
            headers["X-Triage-Sync-Signature"] = sha256_signature(secret, data)
        elif secret:
            headers["X-Triage-Sync-Token"] = secret
        self.notifications.submit(
            Delivery(
                url=url,
                body=data,
                headers=headers,
                lane="incident",
                max_attempts=self.settings.notify_max_attempts,
                retry_delay=self.settings.notify_retry_delay_seconds,
                timeout=self.settings.notify_timeout_seconds,
            )
        )

    # ---- storage

    def _new_id(self) -> str:
        return f"{self._ids.getrandbits(128):032x}"

    def _choice_row(self, element: str, value: str, label: str, sequence: int) -> dict[str, str]:
        return {
            "sys_id": self._new_id(),
            "name": "incident",
            "element": element,
            "value": value,
            "label": label,
            "sequence": str(sequence),
            "inactive": "false",
            "language": "en",
            "dependent_value": "",
        }

    def _clean(self, fields: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """Split a write into writable column values and journal entries; drop everything else."""
        values: dict[str, str] = {}
        journal: dict[str, str] = {}
        for name, raw in fields.items():
            if name in JOURNAL_FIELDS:
                text = _to_text(raw)
                if text.strip():
                    journal[name] = text
                continue
            if name.startswith("sys_") or name in DERIVED_FIELDS or name not in INCIDENT_COLUMNS:
                if name == "incident_state" and "state" not in fields:
                    values["state"] = _to_text(raw)
                continue
            values[name] = _to_text(raw)
        return values, journal

    def _derive(self, record: dict[str, str], previous: Mapping[str, str], now: str, user: str) -> None:
        state = record.get("state", "1") or "1"
        record["incident_state"] = state
        record["active"] = "false" if state in INACTIVE_STATES else "true"
        record["priority"] = PRIORITY_MATRIX.get(
            (record.get("impact", ""), record.get("urgency", "")), record.get("priority", "") or "5"
        )
        if state != "3":
            record["hold_reason"] = ""
        if state == "6" and previous.get("state") != "6" and not record.get("resolved_at"):
            record["resolved_at"] = now
            record["resolved_by"] = record.get("resolved_by") or self.users.get(user, "")
        if state == "7" and previous.get("state") != "7":
            record["closed_at"] = now
            record["closed_by"] = self.users.get(user, "")

    def _policy_check(self, record: Mapping[str, str]) -> None:
        if not self.settings.data_policy_close_fields or record.get("state") not in ("6", "7"):
            return
        missing = [
            label
            for name, label in (("close_code", "Resolution code"), ("close_notes", "Resolution notes"))
            if not record.get(name, "").strip()
        ]
        if missing:
            raise _ApiError(
                403, "Data Policy Exception: The following fields are mandatory: " + ", ".join(missing)
            )

    def _append_journal(self, sys_id: str, journal: Mapping[str, str], now: str, user: str) -> None:
        for element, text in journal.items():
            self._journal.append(
                {
                    "sys_id": self._new_id(),
                    "element_id": sys_id,
                    "element": element,
                    "name": "incident",
                    "value": text,
                    "sys_created_on": now,
                    "sys_created_by": user,
                }
            )

    def _insert(
        self, fields: Mapping[str, Any], user: str, *, enforce_policy: bool = False
    ) -> dict[str, str]:
        values, journal = self._clean(fields)
        now = _now_text(self.clock)
        record = {name: "" for name in INCIDENT_COLUMNS}
        record.update(
            {"category": "inquiry", "impact": "3", "urgency": "3", "state": "1", "contact_type": ""}
        )
        record.update(values)
        self._derive(record, {}, now, user)
        if enforce_policy:
            self._policy_check(record)
        sys_id = self._new_id()
        record.update(
            {
                "sys_id": sys_id,
                "number": f"INC{self._next_number:07d}",
                "opened_at": now,
                "opened_by": values.get("opened_by") or self.users.get(user, ""),
                "sys_class_name": "incident",
                "sys_created_on": now,
                "sys_created_by": user,
                "sys_updated_on": now,
                "sys_updated_by": user,
                "sys_mod_count": "0",
                "work_notes": "",
                "comments": "",
            }
        )
        self._next_number += 1
        self._incidents[sys_id] = record
        self._append_journal(sys_id, journal, now, user)
        self._writes.append(WriteEvent(now, user, "insert", sys_id, {**values, **journal}))
        self._notify(record, user)
        return record

    def _update(
        self, record: dict[str, str], fields: Mapping[str, Any], user: str, *, enforce_policy: bool
    ) -> dict[str, str]:
        values, journal = self._clean(fields)
        if enforce_policy:  # the Table API; the form a human uses has its own rules
            values = {k: v for k, v in values.items() if k not in self.settings.acl_read_only_fields}
        now = _now_text(self.clock)
        candidate = dict(record)
        candidate.update(values)
        if enforce_policy:
            for name in self.settings.reverting_rule_fields & values.keys():
                candidate[name] = record.get(name, "")
        self._derive(candidate, record, now, user)
        if enforce_policy:
            self._policy_check(candidate)
        changed = {k: candidate[k] for k in values if record.get(k) != candidate.get(k)}
        if not changed and not journal and candidate == record:
            return record  # nothing changed: the platform does not write
        candidate["sys_updated_on"] = now
        candidate["sys_updated_by"] = user
        candidate["sys_mod_count"] = str(int(record.get("sys_mod_count") or "0") + 1)
        record.clear()
        record.update(candidate)
        self._append_journal(record["sys_id"], journal, now, user)
        self._writes.append(WriteEvent(now, user, "update", record["sys_id"], {**changed, **journal}))
        self._notify(record, user)
        return record

    def _delete(self, sys_id: str, user: str) -> None:
        if self._incidents.pop(sys_id, None) is None:
            raise KeyError(sys_id)
        self._writes.append(WriteEvent(_now_text(self.clock), user, "delete", sys_id, {}))

    # ---- HTTP

    def _routes(self) -> list[Route]:
        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return [
            *control_routes(self.faults, self.requests),
            Route("/oauth_token.do", self._oauth_token, methods=["POST"]),
            Route("/api/now/table/{table}", self._table_endpoint, methods=methods),
            Route("/api/now/table/{table}/{sys_id}", self._table_endpoint, methods=methods),
            Route("/api/now/{version}/table/{table}", self._table_endpoint, methods=methods),
            Route("/api/now/{version}/table/{table}/{sys_id}", self._table_endpoint, methods=methods),
        ]

    def _tables(self) -> dict[str, _Table]:
        return {
            "incident": _Table("incident", INCIDENT_COLUMNS, self._committed_incidents, True),
            "sys_journal_field": _Table("sys_journal_field", JOURNAL_COLUMNS, lambda: list(self._journal)),
            "sys_choice": _Table("sys_choice", CHOICE_COLUMNS, lambda: list(self._choices)),
        }

    @staticmethod
    def _json(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response(json.dumps(document), status_code=status, media_type=JSON_TYPE, headers=headers)

    @staticmethod
    def _error(error: _ApiError) -> Response:
        return Response(
            error_body(error.status, error.message, error.detail),
            status_code=error.status,
            media_type=JSON_TYPE,
            headers=error.headers,
        )

    # auth

    def _authenticate(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                decoded = ""
            user, _, password = decoded.partition(":")
            if user == self.settings.username and password == self.settings.password:
                return user
        elif scheme.lower() == "bearer":
            with self._lock:
                entry = self._access_tokens.get(credentials.strip())
            if entry is not None and entry[1] > self.clock.now():
                return entry[0]
        raise _ApiError(401, "User Not Authenticated", "Required to provide Auth information")

    def _issue_tokens(self, user: str) -> dict[str, Any]:
        lifetime = self.settings.token_lifetime_seconds
        with self._lock:
            access = f"{self._tokens_rng.getrandbits(256):064x}"
            refresh = f"{self._tokens_rng.getrandbits(256):064x}"
            self._access_tokens[access] = (user, self.clock.now() + timedelta(seconds=lifetime))
            self._refresh_tokens[refresh] = user
        return {
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": lifetime,
            "refresh_token": refresh,
            "access_token": access,
        }

    def revoke_tokens(self) -> None:
        """Forget every issued access token (the next Bearer call gets 401); refresh tokens stay."""
        with self._lock:
            self._access_tokens.clear()

    async def _oauth_token(self, request: Request) -> Response:
        settings = self.settings
        denied = self._json(401, {"error_description": "access_denied", "error": "server_error"})
        if not settings.oauth_enabled:
            return denied
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if form.get("client_id") != settings.oauth_client_id or (
            form.get("client_secret") != settings.oauth_client_secret
        ):
            return denied
        grant = form.get("grant_type", "")
        if grant == "password":
            if form.get("username") != settings.username or form.get("password") != settings.password:
                return denied
            return self._json(200, self._issue_tokens(settings.username))
        if grant == "refresh_token":
            with self._lock:
                user = self._refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return denied
            return self._json(200, self._issue_tokens(user))
        if grant == "client_credentials" and settings.client_credentials_enabled:
            return self._json(200, self._issue_tokens(settings.client_credentials_user or settings.username))
        return self._json(
            400, {"error_description": f"unsupported grant type {grant!r}", "error": "unsupported_grant_type"}
        )

    def _rate_limit(self, user: str) -> dict[str, str]:
        limit = self.settings.rate_limit_per_hour
        if limit is None:
            return {}
        now = self.clock.now().timestamp()
        window = int(now // 3600)
        reset = (window + 1) * 3600
        with self._lock:
            count = self._rate_counts.get((user, window), 0) + 1
            self._rate_counts[(user, window)] = count
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Rule": "d4e2f1a0b9c84e7f9a1b2c3d4e5f6a7b",
        }
        if count > limit:
            raise _ApiError(
                429,
                "Rate limit exceeded",
                f"Rate limit of {limit} requests per hour for Table API exceeded",
                {**headers, "Retry-After": str(max(1, int(reset - now)))},
            )
        return headers

    # table API

    async def _table_endpoint(self, request: Request) -> Response:
        headers: dict[str, str] = {}
        try:
            version = request.path_params.get("version")
            if version not in (None, "v1", "v2"):
                raise _ApiError(400, "Requested URI does not represent any resource", None)
            user = self._authenticate(request)
            headers = self._rate_limit(user)
            body = await request.body() if request.method in ("POST", "PATCH", "PUT") else b""
            with self._lock:
                response = self._dispatch(request, user, version, body)
        except _ApiError as error:
            error.headers = {**headers, **error.headers}
            return self._error(error)
        response.headers.update(headers)
        return response

    def _dispatch(self, request: Request, user: str, version: str | None, body: bytes) -> Response:
        table_name = request.path_params["table"]
        table = self._tables().get(table_name)
        if table is None:
            raise _ApiError(400, f"Invalid table {table_name}", None)
        sys_id = request.path_params.get("sys_id")
        method = request.method
        if method == "GET" and sys_id is None:
            return self._list(request, table, version)
        if method == "GET":
            return self._read_one(request, table, sys_id or "")
        if not table.writable:
            raise _ApiError(
                403, "Operation Failed", "ACL Exception Insert Failed due to security constraints"
            )
        suppress = request.headers.get("x-no-response-body", "").lower() == "true"
        if method == "POST" and sys_id is None:
            record = self._insert(self._body(body), user, enforce_policy=True)
            location = f"{self._base(request)}/api/now/table/incident/{record['sys_id']}"
            return self._record_response(request, record, 201, {"Location": location}, suppress)
        if sys_id is None:
            raise _ApiError(405, "Method not Supported", f"{method} requires a sys_id")
        record = self._visible(sys_id)
        if method == "DELETE":
            self._delete(sys_id, user)
            return Response(status_code=204)
        if method in ("PATCH", "PUT"):
            updated = self._update(record, self._body(body), user, enforce_policy=True)
            return self._record_response(request, updated, 200, {}, suppress)
        raise _ApiError(405, "Method not Supported", None)

    @staticmethod
    def _body(raw: bytes) -> dict[str, Any]:
        try:
            document = json.loads(raw or b"{}")
        except ValueError as exc:
            raise _ApiError(400, "Exception while reading request", "The payload is not valid JSON.") from exc
        if not isinstance(document, dict):
            raise _ApiError(400, "Exception while reading request", "The payload is not valid JSON.")
        return document

    def _visible(self, sys_id: str) -> dict[str, str]:
        record = self._incidents.get(sys_id)
        if record is None or sys_id in self.settings.acl_hidden_sys_ids:
            raise _ApiError(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        return record

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _record_response(
        self,
        request: Request,
        record: dict[str, str],
        status: int,
        headers: dict[str, str],
        suppress: bool,
    ) -> Response:
        if suppress:
            return Response(b"", status_code=status, headers=headers, media_type=JSON_TYPE)
        rendered = self._render(request, "incident", INCIDENT_COLUMNS, record)
        return self._json(status, {"result": rendered}, headers)

    def _read_one(self, request: Request, table: _Table, sys_id: str) -> Response:
        if table.name == "incident":
            committed = self._commits.view(self._visible(sys_id), self.clock.now())
            if committed is None:
                raise _ApiError(
                    404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
                )
            record = committed
        else:
            found = [r for r in table.rows() if r["sys_id"] == sys_id]
            if not found:
                raise _ApiError(
                    404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
                )
            record = found[0]
        return self._json(200, {"result": self._render(request, table.name, table.columns, record)})

    def _list(self, request: Request, table: _Table, version: str | None) -> Response:
        params = request.query_params
        settings = self.settings
        parsed = parse_query(
            params.get("sysparm_query", ""),
            table.columns,
            invalid_returns_no_rows=settings.invalid_query_returns_no_rows,
            date_generate_tz=settings.date_generate_tz,
        )
        matched = apply_query(parsed, table.rows())
        limit = _int_param(params.get("sysparm_limit"), DEFAULT_LIMIT, minimum=1)
        offset = _int_param(params.get("sysparm_offset"), 0, minimum=0)
        page = matched[offset : offset + limit]
        if table.name == "incident":  # limit first, ACLs after: pages can come back short
            page = [r for r in page if r["sys_id"] not in settings.acl_hidden_sys_ids]
        total = len(matched)
        if version == "v1" and not page:
            raise _ApiError(
                404,
                "No Record found",
                "Records matching query not found. Check query parameter or offset parameter",
            )
        headers: dict[str, str] = {}
        no_count = params.get("sysparm_no_count", "").lower() == "true"
        if not no_count:
            headers["X-Total-Count"] = str(total)
        if params.get("sysparm_suppress_pagination_header", "").lower() != "true":
            link = self._link_header(request, offset, limit, None if no_count else total, len(page))
            if link:
                headers["Link"] = link
        rendered = [self._render(request, table.name, table.columns, r) for r in page]
        if table.name == "incident":
            self.page_hooks.run(dict(params))
        return self._json(200, {"result": rendered}, headers)

    @staticmethod
    def _link_header(request: Request, offset: int, limit: int, total: int | None, page_len: int) -> str:
        def url(at: int) -> str:
            return str(request.url.include_query_params(sysparm_offset=at, sysparm_limit=limit))

        if total is not None:
            if offset == 0 and total <= limit:
                return ""  # one page: no Link header
            links = [f'<{url(0)}>;rel="first"']
            if offset > 0:
                links.append(f'<{url(max(0, offset - limit))}>;rel="prev"')
            if offset + limit < total:
                links.append(f'<{url(offset + limit)}>;rel="next"')
            last = ((total - 1) // limit) * limit if total else 0
            links.append(f'<{url(last)}>;rel="last"')
            return ",".join(links)
        links = [f'<{url(0)}>;rel="first"']
        if offset > 0:
            links.append(f'<{url(max(0, offset - limit))}>;rel="prev"')
        if page_len >= limit:
            links.append(f'<{url(offset + limit)}>;rel="next"')
        return ",".join(links)

    def _render(
        self, request: Request, table: str, columns: tuple[str, ...], record: Mapping[str, str]
    ) -> dict[str, Any]:
        params = request.query_params
        mode = params.get("sysparm_display_value", "false").lower()
        exclude_links = params.get("sysparm_exclude_reference_link", "false").lower() == "true"
        wanted = [f.strip() for f in params.get("sysparm_fields", "").split(",") if f.strip()]
        names = [f for f in dict.fromkeys(wanted) if f in columns] if wanted else list(columns)
        base = self._base(request)
        references = REFERENCE_TABLES if table == "incident" else {}
        result: dict[str, Any] = {}
        for name in names:
            raw = record.get(name, "")
            display = self._display(table, name, raw)
            if name in references:
                link = f"{base}/api/now/table/{references[name]}/{raw}"
                if mode == "true":
                    result[name] = (
                        display if exclude_links or not raw else {"display_value": display, "link": link}
                    )
                elif mode == "all":
                    entry: dict[str, str] = {"display_value": display, "value": raw}
                    if raw and not exclude_links:
                        entry["link"] = link
                    result[name] = entry
                else:
                    result[name] = raw if exclude_links or not raw else {"link": link, "value": raw}
            elif mode == "true":
                result[name] = display
            elif mode == "all":
                result[name] = {"display_value": display, "value": raw}
            else:
                result[name] = raw
        return result

    def _display(self, table: str, name: str, raw: str) -> str:
        if table != "incident" or not raw:
            return raw
        if name in REFERENCE_TABLES:
            return self.references.get(raw, raw)
        labels: Mapping[str, str] | None = {
            "state": STATE_LABELS,
            "incident_state": STATE_LABELS,
            "impact": IMPACT_LABELS,
            "urgency": IMPACT_LABELS,
            "priority": PRIORITY_LABELS,
            "category": CATEGORY_LABELS,
            "hold_reason": self.settings.hold_reason_labels,
        }.get(name)
        return labels.get(raw, raw) if labels is not None else raw


def _int_param(text: str | None, default: int, *, minimum: int) -> int:
    try:
        return max(minimum, int(text)) if text not in (None, "") else default
    except ValueError:
        return default
