"""Autotask PSA REST client (Tickets, TicketNotes) on one long-lived ``httpx.AsyncClient``.

Follows /work/shared/reference/api-contracts.md section 2:

- Zone discovery through ``zoneInformation?user=`` when no base URL is configured; cached, and
  redone once on a 401 (quirk 10).
- Header auth (``ApiIntegrationCode``/``UserName``/``Secret``), never Basic.
- HTTP 500 with ``{"errors": [...]}`` is sorted by :mod:`app.connectors.autotask_errors`: refused
  credentials (:class:`AuthFailed`, like a 401), transient database trouble (:class:`Transient`,
  retried), the hourly threshold (:class:`RateLimited`) or a refusal (validation, permission:
  :class:`Rejected`, never retried; quirk 11). 500 without that envelope, 502/503/504 and network
  failures are :class:`Transient`; for writes their outcome is unknown.
- ``GET /Tickets/{id}`` answering ``{"item": null}`` or 404 means "no such ticket".
- Paging follows ``nextPageUrl`` by re-POSTing the same body (quirk 13); ``in`` lists are split so
  no query exceeds 500 OR conditions.
- JSON ``null`` is never sent (quirk 14); updates are PATCH with the id in the body.
- At most three requests in flight (quirk 15) and an hourly :class:`RequestBudget`. The over-limit
  status is undocumented, so 429, any answer carrying ``Retry-After`` and any error whose message
  speaks of the hourly request threshold are all treated as :class:`RateLimited`.
- Create is never retried once it may have reached the server: the engine searches by externalID.

Error messages never contain the secret or the integration code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.connectors.autotask_errors import classify
from app.connectors.budget import RequestBudget
from app.connectors.errors import (
    AuthFailed,
    ConnectorError,
    NotFound,
    RateLimited,
    Rejected,
    System,
    Transient,
    UnexpectedResponse,
)
from app.connectors.limits import (
    MAX_RESPONSE_BYTES,
    bounded_request,
    call_deadline,
    json_body,
    off_loop,
)
from app.connectors.retry import RetryPolicy, call_with_retries, sane_retry_after
from app.connectors.server_time import ServerClock
from app.connectors.zone_trust import trusted_zone_url
from app.domain.records import TICKET_FIELDS, CaseBlind, Ticket, TicketMetadata, WireFormatError
from app.secrets import Secret

SYSTEM: System = "autotask"
MAX_OR_TERMS = 500
MAX_PAGE_SIZE = 500
AUTOTASK_THREAD_LIMIT = 3
DEFAULT_ZONE_LOOKUP_URL = "https://webservices.autotask.net/atservicesrest"
_MAX_MESSAGE = 600
ALWAYS_PRESENT = frozenset({"id", "status", "priority"})  # never null on a ticket
DEFAULT_RETRY = RetryPolicy()


def or_terms(filters: Iterable[Mapping[str, Any]]) -> int:
    """How many OR conditions Autotask counts in a filter: each value of ``in``/``notIn`` and each
    item of an ``or`` group (recursively)."""
    total = 0
    for item in filters:
        op = str(item.get("op", "")).lower()
        value = item.get("value")
        children = item.get("items")
        if op in ("in", "notin") and isinstance(value, list):
            total += len(value)
        if isinstance(children, list):
            if op == "or":
                total += len(children)
            total += or_terms(c for c in children if isinstance(c, Mapping))
    return total


def in_filter(field: str, values: Iterable[Any], *, max_terms: int = MAX_OR_TERMS) -> list[dict[str, Any]]:
    """One ``in`` filter item per chunk of at most ``max_terms`` distinct values (order kept).
    Run one query per item: chunks in the same query would still add up past the limit."""
    if max_terms < 1:
        raise ValueError("max_terms must be at least 1")
    unique = list(dict.fromkeys(values))
    return [
        {"op": "in", "field": field, "value": unique[start : start + max_terms]}
        for start in range(0, len(unique), max_terms)
    ]


def strip_nulls(value: Any) -> Any:
    """Drop ``None`` values from mappings and lists, recursively (Autotask refuses JSON null)."""
    if isinstance(value, Mapping):
        return {str(k): strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [strip_nulls(v) for v in value if v is not None]
    return value


@dataclass(frozen=True)
class Zone:
    name: str
    rest_base: str  # ends in /atservicesrest, no trailing slash
    web_url: str


def normalise_rest_base(url: str) -> str:
    """``https://host/atservicesrest/`` or ``.../atservicesrest/v1.0`` -> ``https://host/atservicesrest``."""
    base = url.strip().rstrip("/")
    if base.lower().endswith("/v1.0"):
        base = base[: -len("/v1.0")]
    return base


class AutotaskClient:
    def __init__(
        self,
        *,
        username: str,
        integration_code: str,
        secret: Secret,
        base_url: str = "",
        zone_lookup_url: str = DEFAULT_ZONE_LOOKUP_URL,
        timeout: float = 30,
        max_concurrency: int = AUTOTASK_THREAD_LIMIT,
        retry: RetryPolicy = DEFAULT_RETRY,
        budget: RequestBudget | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        deadline: float | None = None,
    ) -> None:
        if not 1 <= max_concurrency <= AUTOTASK_THREAD_LIMIT:
            raise ValueError(f"max_concurrency must be between 1 and {AUTOTASK_THREAD_LIMIT}")
        self.username = username
        self._integration_code = integration_code
        self._secret = secret
        self._explicit_base = normalise_rest_base(base_url) if base_url else ""
        self._zone_lookup_url = normalise_rest_base(zone_lookup_url)
        self._zone: Zone | None = None
        self._retry = retry
        self._max_response_bytes = max_response_bytes
        self._deadline = deadline if deadline is not None else call_deadline(timeout)
        self.budget = budget
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._discover_lock = asyncio.Lock()
        self._metadata_lock = asyncio.Lock()
        self._metadata: TicketMetadata | None = None
        self._note_metadata: TicketMetadata | None = None
        self.server_clock = ServerClock()  # the tenant's clock, for poll watermarks
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        base = self._explicit_base or (self._zone.rest_base if self._zone else "(zone not yet discovered)")
        return f"AutotaskClient(username={self.username!r}, base={base!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AutotaskClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- zone ---------------------------------------------------------------------------------------

    @property
    def zone(self) -> Zone | None:
        """The discovered zone (None with an explicit base URL or before the first request)."""
        return self._zone

    async def rest_base(self) -> str:
        if self._explicit_base:
            return self._explicit_base
        if self._zone is None:
            await self._discover(force=False)
        assert self._zone is not None
        return self._zone.rest_base

    async def _discover(self, *, force: bool) -> Zone:
        async with self._discover_lock:
            if self._zone is not None and not force:
                return self._zone
            url = f"{self._zone_lookup_url}/v1.0/zoneInformation"

            async def attempt() -> Any:
                response = await self._send("GET", url, params={"user": self.username}, auth=False)
                if response.status_code == 500:
                    raise AuthFailed(
                        SYSTEM,
                        f"Autotask has no zone for the API user {self.username!r}: check the user name",
                        status=500,
                    )
                self._check_status(response, write=False)
                return self._decode(response, idempotent=True)

            data = await call_with_retries(attempt, self._retry, idempotent=True)
            if not isinstance(data, dict) or not isinstance(data.get("url"), str) or not data["url"]:
                raise UnexpectedResponse(SYSTEM, "the zone information has no 'url'")
            if not trusted_zone_url(data["url"], self._zone_lookup_url):
                host = urlsplit(data["url"]).hostname or "?"
                raise UnexpectedResponse(
                    SYSTEM,
                    f"the zone lookup named {host!r}, which is not trusted (https on autotask.net or the "
                    "lookup host only); set autotask.url to your zone's URL",
                )
            web_url = str(data.get("webUrl") or "")
            self._zone = Zone(
                name=str(data.get("zoneName") or ""),
                rest_base=normalise_rest_base(data["url"]),
                web_url=web_url if trusted_zone_url(web_url, self._zone_lookup_url) else "",
            )
            return self._zone

    # ---- transport ----------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "ApiIntegrationCode": self._integration_code,
            "UserName": self.username,
            "Secret": self._secret.reveal(),
        }

    def _scrub(self, text: str) -> str:
        for sensitive in (self._secret.reveal(), self._integration_code):
            if sensitive:
                text = text.replace(sensitive, "***")
        return text[:_MAX_MESSAGE]

    async def _wait_for_budget(self, paced: bool = True) -> None:
        """Count the request; unless ``paced`` is False (ThresholdInformation: the one read that
        tells us the tenant has room again must never wait for the budget), wait for its turn."""
        if self.budget is None:
            return
        wait = self.budget.delay() if paced else 0.0
        if wait > self._retry.max_inline_wait:
            raise RateLimited(
                SYSTEM,
                f"requests are paced (the hourly request threshold is near); next request in {wait:.0f} s",
                retry_after=wait,
                status=None,
            )
        if wait > 0:
            await self._retry.sleep(wait)  # one wait: the delay counts from our last request
        self.budget.record()

    async def _send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        auth: bool = True,
        write: bool = False,
        paced: bool = True,
    ) -> httpx.Response:
        """One HTTP exchange; network failures mapped to :class:`Transient`."""
        await self._wait_for_budget(paced)
        headers = self._headers() if auth else {}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        what = f"{method} {urlsplit(url).path}"
        async with self._semaphore:
            try:
                response = await bounded_request(
                    self._http,
                    method,
                    url,
                    max_bytes=self._max_response_bytes,
                    deadline=self._deadline,
                    content=content,
                    params=params,
                    headers=headers,
                )
                if auth:  # the tenant's own answers, not the zone lookup's
                    self.server_clock.observe(response)
                return response
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                raise Transient(
                    SYSTEM, f"could not connect to Autotask ({type(exc).__name__}) for {what}"
                ) from None
            except httpx.TimeoutException as exc:
                raise Transient(
                    SYSTEM,
                    self._unknown(f"no answer in time ({type(exc).__name__}) for {what}", write),
                    outcome_unknown=True,
                ) from None
            except httpx.TransportError as exc:
                raise Transient(
                    SYSTEM,
                    self._unknown(
                        f"the connection failed mid-request ({type(exc).__name__}) for {what}", write
                    ),
                    outcome_unknown=True,
                ) from None

    @staticmethod
    def _unknown(message: str, write: bool) -> str:
        if write:
            return f"{message}; outcome unknown: the change may or may not have been made"
        return message

    @staticmethod
    def _api_messages(response: httpx.Response) -> list[str] | None:
        """The ``errors`` envelope's messages, or None when the body is not that envelope."""
        try:
            data = json_body(response)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        errors = data.get("errors")
        if not isinstance(errors, list) or not errors:
            return None
        messages: list[str] = []
        for entry in errors:
            if isinstance(entry, str):
                messages.append(entry.strip())
            elif isinstance(entry, dict) and entry.get("message"):
                field = f"{entry['field']}: " if entry.get("field") else ""
                messages.append(f"{field}{entry['message']}".strip())
        return messages or None

    @staticmethod
    def _retry_after(response: httpx.Response) -> float | None:
        value = response.headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            return None
        return sane_retry_after(seconds, SYSTEM, value)

    def _check_status(self, response: httpx.Response, *, write: bool) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        messages = self._api_messages(response)
        text = self._scrub("; ".join(messages)) if messages else ""
        retry_after = self._retry_after(response)
        verdict = classify(messages) if messages else None
        kind = verdict.kind if verdict is not None else None
        if status == 429 or retry_after is not None or kind == "rate_limit":
            raise RateLimited(
                SYSTEM,
                f"request limit reached{': ' + text if text else ''}",
                retry_after=retry_after,
                status=status,
            )
        if status == 401 or kind == "credentials":
            detail = f" ({text})" if kind == "credentials" else ""
            raise AuthFailed(
                SYSTEM,
                f"credentials refused{detail}: check the API user, secret and integration code",
                status=status,
            )
        if status == 404:
            raise NotFound(SYSTEM, text or f"not found: {urlsplit(str(response.url)).path}", status=404)
        if verdict is not None and verdict.kind == "transient":
            landed = write and verdict.may_have_landed
            raise Transient(
                SYSTEM,
                self._unknown(f"Autotask is busy: {text}", landed),
                status=status,
                outcome_unknown=landed,
            )
        if status == 500 and messages:
            raise Rejected(SYSTEM, text, status=500)
        if status >= 500:
            raise Transient(
                SYSTEM,
                self._unknown(f"server error{': ' + text if text else ''}", write),
                status=status,
                outcome_unknown=write,
            )
        raise Rejected(SYSTEM, text or f"request refused ({response.reason_phrase})", status=status)

    def _decode(self, response: httpx.Response, *, idempotent: bool) -> Any:
        content_type = response.headers.get("content-type", "").lower()
        unknown = not idempotent
        if "html" in content_type or response.content.lstrip()[:1] == b"<":
            raise UnexpectedResponse(
                SYSTEM,
                self._unknown(
                    "Autotask answered with an HTML page instead of JSON (maintenance, login or wrong URL?)",
                    unknown,
                ),
                status=response.status_code,
                outcome_unknown=unknown,
            )
        try:
            return json_body(response)
        except ValueError:
            raise UnexpectedResponse(
                SYSTEM,
                self._unknown("Autotask's answer is not valid JSON (truncated or corrupted)", unknown),
                status=response.status_code,
                outcome_unknown=unknown,
            ) from None

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        url: str | None = None,
        paced: bool = True,
    ) -> Any:
        """Send with retries; on a 401 with a discovered zone, re-discover once and try again."""
        write = method in ("POST", "PATCH", "PUT") and not idempotent
        rediscovered = False
        while True:
            base = await self.rest_base()
            target = url or f"{base}/v1.0/{path}"
            if url is not None:
                self._check_same_host(url, base)

            async def attempt(target: str = target) -> Any:
                response = await self._send(
                    method, target, body=body, params=params, write=write, paced=paced
                )
                self._check_status(response, write=write)
                return await off_loop(response, lambda: self._decode(response, idempotent=idempotent))

            try:
                return await call_with_retries(attempt, self._retry, idempotent=idempotent)
            except AuthFailed:
                if self._explicit_base or rediscovered or url is not None:
                    raise
                rediscovered = True
                old = base
                zone = await self._discover(force=True)
                if zone.rest_base == old:
                    raise

    @staticmethod
    def _check_same_host(url: str, base: str) -> None:
        ours, theirs = urlsplit(base), urlsplit(url)
        if (ours.scheme, ours.netloc.lower()) != (theirs.scheme, theirs.netloc.lower()):
            raise UnexpectedResponse(
                SYSTEM, f"nextPageUrl points to another host ({theirs.netloc}); not followed"
            )

    async def _get_or_none(self, path: str) -> dict[str, Any] | None:
        try:
            data = await self._request("GET", path)
        except NotFound:
            return None
        if not isinstance(data, dict) or "item" not in data:
            raise UnexpectedResponse(SYSTEM, f"GET {path}: the answer has no 'item'")
        item = data["item"]
        if item is None:
            return None
        if not isinstance(item, dict):
            raise UnexpectedResponse(SYSTEM, f"GET {path}: 'item' is not an object")
        return item

    # ---- tickets -------------------------------------------------------------------------------------

    @staticmethod
    def _to_ticket(raw: Any, requested: Sequence[str]) -> Ticket:
        """A record that leaves out a field is read as null there (Autotask omits nulls), except
        for the fields every ticket has: their absence means the API changed (a renamed field)."""
        if not isinstance(raw, dict):
            raise UnexpectedResponse(SYSTEM, "a ticket record is not an object")
        present = CaseBlind(raw)
        missing = [name for name in requested if name in ALWAYS_PRESENT and name not in present]
        if missing:
            ident = raw.get("id", "?")
            raise UnexpectedResponse(
                SYSTEM, f"ticket {ident}: the record lacks the field(s) {', '.join(missing)} (API changed?)"
            )
        try:
            return Ticket.from_wire(raw)
        except (WireFormatError, ValueError) as exc:
            raise UnexpectedResponse(SYSTEM, f"ticket {raw.get('id', '?')}: {exc}") from None

    async def query_tickets(
        self,
        filter: list[dict[str, Any]],
        *,
        include_fields: Sequence[str] | None = TICKET_FIELDS,
        max_records: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[list[Ticket]]:
        """Yield one list of tickets per page, following ``nextPageUrl`` with the same body."""
        if not 1 <= max_records <= MAX_PAGE_SIZE:
            raise ValueError(f"max_records must be between 1 and {MAX_PAGE_SIZE}")
        terms = or_terms(filter)
        if terms > MAX_OR_TERMS:
            raise ValueError(
                f"the filter has {terms} OR conditions; Autotask allows {MAX_OR_TERMS} "
                "(split it with in_filter or use query_tickets_by_ids)"
            )
        body: dict[str, Any] = {"filter": strip_nulls(filter or [{"op": "gte", "field": "id", "value": 0}])}
        required: tuple[str, ...] = TICKET_FIELDS
        if include_fields:
            names = list(dict.fromkeys(["id", *include_fields]))
            body["IncludeFields"] = names
            required = tuple(names)
        body["MaxRecords"] = max_records
        data = await self._request("POST", "Tickets/query", body=body)
        while True:
            items, next_url = self._page(data)
            yield [self._to_ticket(raw, required) for raw in items]
            if not next_url:
                return
            data = await self._request("POST", "Tickets/query/next", body=body, url=next_url)

    @staticmethod
    def _page(data: Any) -> tuple[list[Any], str | None]:
        if not isinstance(data, dict) or not isinstance(data.get("items"), list):
            raise UnexpectedResponse(SYSTEM, "the query answer has no 'items' list")
        details = data.get("pageDetails")
        if details is None:
            return data["items"], None
        if not isinstance(details, dict):
            raise UnexpectedResponse(SYSTEM, "the query answer's 'pageDetails' is not an object")
        next_url = details.get("nextPageUrl")
        if next_url is not None and (not isinstance(next_url, str) or not next_url.startswith("http")):
            raise UnexpectedResponse(SYSTEM, "the query answer's 'nextPageUrl' is not an absolute URL")
        return data["items"], next_url or None

    async def query_all(self, filter: list[dict[str, Any]], **options: Any) -> list[Ticket]:
        """Every page of :meth:`query_tickets`, collected."""
        result: list[Ticket] = []
        async for page in self.query_tickets(filter, **options):
            result.extend(page)
        return result

    async def query_tickets_by_ids(
        self,
        ids: Iterable[int],
        *,
        include_fields: Sequence[str] | None = TICKET_FIELDS,
        extra_filter: Sequence[dict[str, Any]] = (),
    ) -> AsyncIterator[list[Ticket]]:
        """Pages of the tickets with these ids, one query per chunk so none exceeds 500 OR terms."""
        room = MAX_OR_TERMS - or_terms(extra_filter)
        if room < 1:
            raise ValueError("extra_filter already uses every OR condition Autotask allows")
        for chunk in in_filter("id", ids, max_terms=room):
            async for page in self.query_tickets([chunk, *extra_filter], include_fields=include_fields):
                yield page

    async def count_tickets(self, filter: list[dict[str, Any]]) -> int:
        body = {"filter": strip_nulls(filter or [{"op": "gte", "field": "id", "value": 0}])}
        data = await self._request("POST", "Tickets/query/count", body=body)
        count = data.get("queryCount") if isinstance(data, dict) else None
        if isinstance(count, bool) or not isinstance(count, int):
            raise UnexpectedResponse(SYSTEM, "the count answer has no whole-number 'queryCount'")
        return count

    async def get_ticket(self, ticket_id: int) -> Ticket | None:
        item = await self._get_or_none(f"Tickets/{int(ticket_id)}")
        return None if item is None else self._to_ticket(item, TICKET_FIELDS)

    async def find_by_external_id(self, external_id: str) -> list[Ticket]:
        if not external_id:
            raise ValueError("external_id must not be empty")
        return (await self.find_by_external_ids([external_id])).get(external_id, [])

    async def find_by_external_ids(
        self, external_ids: Iterable[str], *, include_fields: Sequence[str] | None = TICKET_FIELDS
    ) -> dict[str, list[Ticket]]:
        """Tickets carrying any of these externalIDs, by externalID: one query per 500 ids (a whole
        push round in one request), never one per id."""
        wanted = [value for value in dict.fromkeys(external_ids) if value]
        known = set(wanted)
        found: dict[str, list[Ticket]] = {}
        for chunk in in_filter("externalID", wanted):
            async for page in self.query_tickets([chunk], include_fields=include_fields):
                for ticket in page:
                    if ticket.external_id in known:
                        found.setdefault(ticket.external_id, []).append(ticket)
        return found

    @staticmethod
    def _item_id(data: Any, what: str, *, write: bool) -> int:
        item_id = data.get("itemId") if isinstance(data, dict) else None
        if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id <= 0:
            message = f"{what}: the answer has no 'itemId'"
            if write:
                message += "; outcome unknown: the record may have been created"
            raise UnexpectedResponse(SYSTEM, message, outcome_unknown=write)
        return item_id

    async def create_ticket(self, fields: Mapping[str, object]) -> int:
        """Create a ticket; returns its id. Not retried once it may have reached the server
        (the error then has ``outcome_unknown=True``: search by externalID before trying again)."""
        body = strip_nulls(fields)
        body.pop("id", None)
        data = await self._request("POST", "Tickets", body=body, idempotent=False)
        return self._item_id(data, "create ticket", write=True)

    async def update_ticket(self, ticket_id: int, fields: Mapping[str, object]) -> None:
        """PATCH only the given fields (never PUT: it clears what is left out)."""
        body = {**strip_nulls(fields), "id": int(ticket_id)}
        data = await self._request("PATCH", "Tickets", body=body)
        self._item_id(data, f"update ticket {ticket_id}", write=False)

    async def add_note(
        self,
        ticket_id: int,
        *,
        title: str,
        description: str,
        note_type_label: str | None = None,
        publish_label: str | None = None,
        note_type: int | None = None,
        publish: int | None = None,
    ) -> int:
        """Add a note; picklists by label (resolved through TicketNotes metadata) or by id; when
        neither is given the tenant's default value is used. Not retried on an unknown outcome."""
        if note_type is None or publish is None:
            notes_meta = await self.note_metadata()
            if note_type is None:
                note_type = self._pick(notes_meta, "noteType", note_type_label)
            if publish is None:
                publish = self._pick(notes_meta, "publish", publish_label)
        body: dict[str, Any] = {
            "ticketID": int(ticket_id),
            "title": title,
            "description": description,
            "noteType": note_type,
            "publish": publish,
        }
        data = await self._request(
            "POST", f"Tickets/{int(ticket_id)}/Notes", body=strip_nulls(body), idempotent=False
        )
        return self._item_id(data, f"add note to ticket {ticket_id}", write=True)

    @staticmethod
    def _pick(meta: TicketMetadata, field: str, label: str | None) -> int:
        if label is not None:
            value = meta.id_for_label(field, label)
            if value is None:
                known = ", ".join(meta.labels(field)) or "none"
                raise ValueError(f"Autotask has no active {field} labelled {label!r} (known: {known})")
            return value
        info = meta.field(field)
        for entry in info.picklist if info else ():
            if entry.is_default and entry.is_active:
                return entry.value
        raise ValueError(f"Autotask has no default {field}; give one explicitly")

    # ---- metadata and limits -------------------------------------------------------------------------

    async def _fields(self, path: str) -> TicketMetadata:
        data = await self._request("GET", path)
        fields = data.get("fields") if isinstance(data, dict) else None
        if not isinstance(fields, list) or not all(isinstance(f, dict) for f in fields):
            raise UnexpectedResponse(SYSTEM, f"GET {path}: the answer has no 'fields' list")
        try:
            return TicketMetadata.from_wire(fields)
        except (ValueError, TypeError) as exc:
            raise UnexpectedResponse(SYSTEM, f"GET {path}: unreadable field metadata ({exc})") from None

    async def metadata(self, refresh: bool = False) -> TicketMetadata:
        """Ticket field metadata (picklists with label <-> id), cached until ``refresh``."""
        async with self._metadata_lock:
            if self._metadata is None or refresh:
                self._metadata = await self._fields("Tickets/entityInformation/fields")
            return self._metadata

    async def note_metadata(self, refresh: bool = False) -> TicketMetadata:
        """TicketNotes field metadata (noteType, publish picklists), cached until ``refresh``."""
        async with self._metadata_lock:
            if self._note_metadata is None or refresh:
                self._note_metadata = await self._fields("TicketNotes/entityInformation/fields")
            return self._note_metadata

    async def threshold(self) -> dict[str, Any]:
        """``/ThresholdInformation``; also merged into the request budget when there is one.
        Counted in the budget but never held back by it."""
        data = await self._request("GET", "ThresholdInformation", paced=False)
        if not isinstance(data, dict) or not isinstance(data.get("externalRequestThreshold"), int):
            raise UnexpectedResponse(SYSTEM, "the threshold answer has no 'externalRequestThreshold'")
        if self.budget is not None:
            self.budget.update_from_threshold(data)
        return data

    async def test_connection(self) -> str:
        """A cheap end-to-end check with a human answer; raises ConnectorError subclasses."""
        base = await self.rest_base()
        versions = await self._plain_get(f"{base}/versioninformation")
        api = ", ".join(str(v) for v in versions.get("apiVersions", [])) if isinstance(versions, dict) else ""
        meta = await self.metadata(refresh=True)
        where = f"zone {self._zone.name!r}" if self._zone and self._zone.name else urlsplit(base).netloc
        return (
            f"Connected to Autotask ({where}) as {self.username}: API {api or 'unknown version'}, "
            f"{len(meta.fields)} ticket fields readable."
        )

    async def _plain_get(self, url: str) -> Any:
        async def attempt() -> Any:
            response = await self._send("GET", url, auth=False)
            self._check_status(response, write=False)
            return self._decode(response, idempotent=True)

        try:
            return await call_with_retries(attempt, self._retry, idempotent=True)
        except ConnectorError as error:
            if isinstance(error, (NotFound, UnexpectedResponse)):
                raise UnexpectedResponse(
                    SYSTEM, f"{url} does not look like an Autotask REST endpoint ({error.message})"
                ) from None
            raise
