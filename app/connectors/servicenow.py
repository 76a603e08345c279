"""ServiceNow Table API client (incident, sys_journal_field, sys_choice) on one httpx.AsyncClient.

Contract: ``shared/reference/api-contracts.md`` section 1. What this client guards against:

- every value is a string and references change shape: we always ask for raw values with
  ``sysparm_exclude_reference_link=true`` and parse with :meth:`Incident.from_wire`;
- ``sysparm_limit`` applies before ACLs, so a page may be short in the middle of a result set: we
  page by ``Link: rel="next"`` / ``X-Total-Count`` and advance the offset by the page size, never by
  the number of rows received;
- an HTML page (hibernating instance, SSO), truncated JSON, a missing ``result`` envelope or a
  record without its key fields is an :class:`UnexpectedResponse`, never "zero records";
- OAuth tokens are refreshed shortly before they expire and once after a 401;
- credentials and tokens never appear in messages or reprs.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from app.connectors.errors import (
    AuthFailed,
    ConnectorError,
    NotFound,
    RateLimited,
    Rejected,
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
from app.connectors.sn_query import PageKey, build_incident_query
from app.domain.records import INCIDENT_FIELDS, Incident, WireFormatError, is_sys_id
from app.secrets import Secret

SYSTEM: Literal["servicenow"] = "servicenow"
TABLE_PATH = "/api/now/table"
TOKEN_PATH = "/oauth_token.do"
# A record that lacks any of these (when asked for) cannot be trusted: it is not "a default value".
REQUIRED_WIRE_FIELDS: tuple[str, ...] = ("sys_id", "number", "state", "active", "sys_updated_on")
JOURNAL_FIELDS: frozenset[str] = frozenset({"work_notes", "comments"})
HTML_MESSAGE = (
    "ServiceNow answered with an HTML page instead of JSON — is the instance hibernating or behind SSO?"
)


def _checked(sys_id: str) -> str:
    """``sys_id`` when it is one; otherwise refused before it can reach a path or a query."""
    if not is_sys_id(sys_id):
        raise Rejected(SYSTEM, f"not a ServiceNow sys_id (32 hexadecimal characters): {sys_id[:40]!r}")
    return sys_id


def _incident_path(sys_id: str) -> str:
    return f"{TABLE_PATH}/incident/{_checked(sys_id)}"


def _next_offset(response: httpx.Response, offset: int, limit: int) -> int | None:
    """Where the next page starts, from ``Link: rel="next"``, else ``X-Total-Count``; None at the end."""
    link = response.headers.get("link")
    if link:
        for part in link.split(","):
            url_part, _, rest = part.partition(";")
            if 'rel="next"' in rest.replace(" ", "") or "rel=next" in rest.replace(" ", ""):
                url = httpx.URL(url_part.strip().strip("<>"))
                text = url.params.get("sysparm_offset")
                if text is not None and text.isdigit() and int(text) > offset:
                    return int(text)
                return offset + limit
        return None  # a Link header without "next": this was the last page
    total = response.headers.get("x-total-count")
    if total is not None and total.strip().isdigit():
        return offset + limit if offset + limit < int(total) else None
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or X-RateLimit-Reset, clamped
    to a sane range (an absurd value is logged)."""
    text = response.headers.get("retry-after")
    if text:
        text = text.strip()
        try:
            return sane_retry_after(float(text), SYSTEM, text)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError):
                return None
            return sane_retry_after(max(0.0, parsed.timestamp() - time.time()), SYSTEM, text)
    reset = response.headers.get("x-ratelimit-reset")
    if reset:
        try:
            return sane_retry_after(max(0.0, float(reset) - time.time()), SYSTEM, reset)
        except ValueError:
            return None
    return None


class ServiceNowClient:
    """Async client for one instance. Use as ``async with ServiceNowClient(...) as client``."""

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: Secret,
        auth: Literal["basic", "oauth"] = "basic",
        client_id: str = "",
        client_secret: Secret | None = None,
        timeout: float = 30,
        page_size: int = 500,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen dataclass, safe as a default
        transport: httpx.AsyncBaseTransport | None = None,
        on_request: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        deadline: float | None = None,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.auth = auth
        self.client_id = client_id
        self.page_size = page_size
        self._password = password
        self._client_secret = client_secret
        self._retry = retry
        self._max_response_bytes = max_response_bytes
        self._deadline = deadline if deadline is not None else call_deadline(timeout)
        self._on_request = on_request
        self._clock = clock
        self._access_token: Secret | None = None
        self._refresh_token: Secret | None = None
        self._token_expires_at = 0.0
        self._token_refresh_margin = 0.0
        self._host = urlsplit(self.base_url).hostname or self.base_url
        self.server_clock = ServerClock()  # the instance's clock, for poll watermarks
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "TriageSync/0.1"},
            follow_redirects=False,
            verify=True,
        )

    def __repr__(self) -> str:
        return f"ServiceNowClient(base_url={self.base_url!r}, username={self.username!r}, auth={self.auth!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ServiceNowClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ---- public API

    async def query_incidents(
        self,
        encoded_query: str = "",
        *,
        updated_since: datetime | None = None,
        fields: Sequence[str] = INCIDENT_FIELDS,
    ) -> AsyncIterator[list[Incident]]:
        """Yield incidents page by page (non-empty pages only), ordered by ``sys_updated_on, sys_id``
        and paged by key (see :mod:`app.connectors.sn_query`): a record edited while we page moves
        to the end and is returned again, never skipped.

        A page can come back short, or empty, in the middle of a result set (``sysparm_limit`` is
        applied before ACLs), so whether more follow comes from ``Link``/``X-Total-Count``. A page
        whose rows were all hidden gives no new key: only then is the offset (from that same key)
        moved on, so paging always progresses."""
        wanted = list(dict.fromkeys([*fields, "sys_id", "sys_updated_on"]))
        after: PageKey | None = None
        offset = 0
        while True:
            params = {
                "sysparm_query": build_incident_query(encoded_query, updated_since, after),
                "sysparm_fields": ",".join(wanted),
                "sysparm_exclude_reference_link": "true",
                "sysparm_display_value": "all",  # raw values plus display names (callers)
                "sysparm_limit": str(self.page_size),
                "sysparm_offset": str(offset),
            }
            response = await self._call("GET", f"{TABLE_PATH}/incident", params=params)
            # Decoding and validating 500 records is tens of milliseconds of CPU: in a worker
            # thread, so the event loop (the GUI thread in the desktop app) never stalls on it.
            rows, incidents = await asyncio.to_thread(self._read_page, response, wanted)
            more = _next_offset(response, offset, self.page_size) is not None
            if "link" not in response.headers and "x-total-count" not in response.headers:
                # No paging headers at all (suppressed by a proxy?): a full page means "maybe more".
                more = len(rows) >= self.page_size
            # The page's raw JSON (some 15,000 dicts) goes now, not after the page is stored: while
            # it lived, every full garbage collection walked it, holding every thread for 50+ ms.
            del response, rows
            if incidents:
                yield incidents
            if not more:
                return
            if incidents:
                last = incidents[-1]
                if not is_sys_id(last.sys_id):  # remote text goes into the next query: ids only
                    raise UnexpectedResponse(SYSTEM, "ServiceNow returned a record whose sys_id is not one")
                key = PageKey(last.sys_updated_on, last.sys_id)
                if after is not None and (key.updated_on, key.sys_id) <= (after.updated_on, after.sys_id):
                    raise UnexpectedResponse(
                        SYSTEM, "ServiceNow returned a page out of order; paging by key cannot go on"
                    )
                after, offset = key, 0
            else:
                offset += self.page_size  # every row of this page was hidden: step past them

    async def get_incident(self, sys_id: str, *, fields: Sequence[str] = INCIDENT_FIELDS) -> Incident:
        params = {
            "sysparm_fields": ",".join(fields),
            "sysparm_exclude_reference_link": "true",
            "sysparm_display_value": "all",  # raw values plus display names (callers)
        }
        response = await self._call("GET", _incident_path(sys_id), params=params)
        return self._incident(self._result_record(response), fields)

    async def update_incident(
        self, sys_id: str, fields: Mapping[str, str], *, read_fields: Sequence[str] = INCIDENT_FIELDS
    ) -> Incident:
        """PATCH only ``fields``; returns the record as stored. Retried after an unknown outcome only
        when the write is idempotent (no journal field: a work note would be appended twice)."""
        params = {
            "sysparm_fields": ",".join(read_fields),
            "sysparm_exclude_reference_link": "true",
            "sysparm_display_value": "all",  # raw values plus display names (callers)
        }
        idempotent = not (JOURNAL_FIELDS & set(fields))
        response = await self._call(
            "PATCH",
            _incident_path(sys_id),
            params=params,
            json=dict(fields),
            idempotent=idempotent,
        )
        return self._incident(self._result_record(response), read_fields)

    async def add_work_note(self, sys_id: str, text: str) -> None:
        """Append a work note (never retried after an unknown outcome: it would be appended twice)."""
        await self._call(
            "PATCH",
            _incident_path(sys_id),
            params={"sysparm_fields": "sys_id"},
            json={"work_notes": text},
            idempotent=False,
            headers={"X-no-response-body": "true"},
            expect_body=False,
        )

    async def work_notes(self, sys_id: str, *, element: str = "work_notes") -> list[dict[str, str]]:
        """Journal entries of one incident, newest first: value, sys_created_on, sys_created_by."""
        params = {
            "sysparm_query": f"element_id={_checked(sys_id)}^element={element}^ORDERBYDESCsys_created_on",
            "sysparm_fields": "value,sys_created_on,sys_created_by",
        }
        response = await self._call("GET", f"{TABLE_PATH}/sys_journal_field", params=params)
        return [{k: str(v) for k, v in row.items()} for row in self._result_list(response)]

    async def close_codes(self) -> list[str]:
        """The instance's active resolution codes (values to write into ``close_code``)."""
        params = {
            "sysparm_query": "name=incident^element=close_code^inactive=false^ORDERBYsequence",
            "sysparm_fields": "value,label",
        }
        response = await self._call("GET", f"{TABLE_PATH}/sys_choice", params=params)
        codes: list[str] = []
        for row in self._result_list(response):
            value = str(row.get("value", "")).strip()
            if value and value not in codes:
                codes.append(value)
        return codes

    async def test_connection(self) -> str:
        params = {"sysparm_limit": "1", "sysparm_fields": "sys_id"}
        response = await self._call("GET", f"{TABLE_PATH}/incident", params=params)
        self._result_list(response)
        return f"Connected to {self._host} as {self.username}"

    # ---- requests

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        headers: Mapping[str, str] | None = None,
        expect_body: bool = True,
    ) -> httpx.Response:
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "DELETE", "PUT")

        async def attempt() -> httpx.Response:
            return await self._send_authenticated(method, path, params, json, headers, expect_body)

        return await call_with_retries(attempt, self._retry, idempotent=idempotent)

    async def _send_authenticated(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str] | None,
        expect_body: bool,
    ) -> httpx.Response:
        if self.auth == "oauth":
            await self._ensure_token()
        response = await self._send(method, path, params=params, json=json, headers=self._headers(headers))
        if response.status_code == 401 and self.auth == "oauth":
            # The token may have been revoked or expired early: get a new one, try once more.
            await self._renew_token()
            response = await self._send(
                method, path, params=params, json=json, headers=self._headers(headers)
            )
        self._raise_for_status(method, response)
        if expect_body:  # validates the envelope once, here, so retries see it
            await off_loop(response, lambda: self._json(method, response, keep=True))
        return response

    def _headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.auth == "oauth" and self._access_token is not None:
            headers["Authorization"] = f"Bearer {self._access_token.reveal()}"
        return headers

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        use_basic: bool = True,
    ) -> httpx.Response:
        if self._on_request is not None:
            self._on_request(method, path)
        auth: httpx.Auth | None = None
        if self.auth == "basic" and use_basic:
            auth = httpx.BasicAuth(self.username, self._password.reveal())
        write = method not in ("GET", "HEAD")
        try:
            response = await bounded_request(
                self._http,
                method,
                path,
                max_bytes=self._max_response_bytes,
                deadline=self._deadline,
                params=params,
                json=json,
                data=data,
                headers=headers,
                auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT,
            )
            self.server_clock.observe(response)
            return response
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Transient(
                SYSTEM, f"cannot connect to {self._host} ({type(exc).__name__})", outcome_unknown=False
            ) from None
        except httpx.TimeoutException as exc:
            raise Transient(
                SYSTEM, f"{self._host} did not answer in time ({type(exc).__name__})", outcome_unknown=write
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            raise Transient(
                SYSTEM, f"the connection to {self._host} broke ({type(exc).__name__})", outcome_unknown=write
            ) from None
        except httpx.TransportError as exc:
            raise Transient(
                SYSTEM, f"network error talking to {self._host} ({type(exc).__name__})", outcome_unknown=write
            ) from None

    @staticmethod
    def _api_message(response: httpx.Response) -> str:
        try:
            document = json_body(response)
        except ValueError:
            return ""
        if not isinstance(document, dict):
            return ""
        error = document.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or "").strip()
            detail = str(error.get("detail") or "").strip()
            if message and detail and detail != message:
                return f"{message}: {detail}"
            return message or detail
        if isinstance(error, str):  # OAuth endpoint: {"error": "...", "error_description": "..."}
            return str(document.get("error_description") or error)
        return ""

    def _raise_for_status(self, method: str, response: httpx.Response) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        write = method not in ("GET", "HEAD")
        message = self._api_message(response)
        if status == 401:
            raise AuthFailed(
                SYSTEM,
                f"{message or 'User Not Authenticated'} — check the user name and password"
                + (" and the OAuth client" if self.auth == "oauth" else ""),
                status=status,
            )
        if status == 403:
            raise Rejected(SYSTEM, message or "forbidden (ACL, business rule or data policy)", status=status)
        if status == 404:
            raise NotFound(SYSTEM, message or "No Record found", status=status)
        if status == 429:
            raise RateLimited(
                SYSTEM, message or "Rate limit exceeded", retry_after=_retry_after(response), status=status
            )
        if status >= 500:
            raise Transient(SYSTEM, message or f"server error {status}", status=status, outcome_unknown=write)
        if 300 <= status < 400:
            target = response.headers.get("location", "")
            where = urlsplit(target).hostname or "another page"
            raise UnexpectedResponse(
                SYSTEM,
                f"ServiceNow redirected to {where} instead of answering — is the instance behind SSO?",
                status=status,
                outcome_unknown=write,
            )
        raise Rejected(SYSTEM, message or f"request refused (HTTP {status})", status=status)

    def _json(self, method: str, response: httpx.Response, *, keep: bool = False) -> dict[str, Any]:
        write = method not in ("GET", "HEAD")
        content_type = response.headers.get("content-type", "").lower()
        text = response.text
        if "html" in content_type or text.lstrip().startswith("<"):
            raise UnexpectedResponse(SYSTEM, HTML_MESSAGE, status=response.status_code, outcome_unknown=write)
        try:
            document = json_body(response, keep=keep)
        except ValueError:
            raise UnexpectedResponse(
                SYSTEM,
                f"ServiceNow sent a truncated or invalid JSON body ({len(response.content)} bytes)",
                status=response.status_code,
                outcome_unknown=write,
            ) from None
        if not isinstance(document, dict) or "result" not in document:
            raise UnexpectedResponse(
                SYSTEM,
                "ServiceNow answered without the 'result' envelope",
                status=response.status_code,
                outcome_unknown=write,
            )
        return document

    def _read_page(
        self, response: httpx.Response, wanted: Sequence[str]
    ) -> tuple[list[Mapping[str, Any]], list[Incident]]:
        rows = self._result_list(response)
        return rows, [self._incident(row, wanted) for row in rows]

    def _result_list(self, response: httpx.Response) -> list[Mapping[str, Any]]:
        result = self._json("GET", response)["result"]
        if not isinstance(result, list) or not all(isinstance(row, dict) for row in result):
            raise UnexpectedResponse(SYSTEM, "ServiceNow's 'result' is not a list of records")
        return result

    def _result_record(self, response: httpx.Response) -> Mapping[str, Any]:
        result = self._json(response.request.method, response)["result"]
        if not isinstance(result, dict):
            raise UnexpectedResponse(SYSTEM, "ServiceNow's 'result' is not a record")
        return result

    @staticmethod
    def _incident(row: Mapping[str, Any], fields: Sequence[str]) -> Incident:
        missing = [name for name in REQUIRED_WIRE_FIELDS if name in fields and name not in row]
        label = str(row.get("number") or row.get("sys_id") or "an incident")
        if missing:
            raise UnexpectedResponse(
                SYSTEM, f"{label} came without the field(s) {', '.join(missing)} — has the API changed?"
            )
        try:
            return Incident.from_wire(row)
        except (WireFormatError, ValidationError) as exc:
            raise UnexpectedResponse(SYSTEM, f"{label} could not be read: {exc}") from None

    # ---- OAuth

    async def _ensure_token(self) -> None:
        if self._access_token is None or self._clock() >= self._token_expires_at - self._token_refresh_margin:
            await self._renew_token()

    async def _renew_token(self) -> None:
        if self._refresh_token is not None:
            try:
                await self._token_request(
                    {"grant_type": "refresh_token", "refresh_token": self._refresh_token}
                )
                return
            except AuthFailed:
                self._refresh_token = None  # expired or revoked: fall back to the password grant
        await self._token_request(
            {"grant_type": "password", "username": self.username, "password": self._password}
        )

    async def _token_request(self, form: Mapping[str, str | Secret]) -> None:
        data = {
            "client_id": self.client_id,
            "client_secret": self._client_secret.reveal() if self._client_secret is not None else "",
        }
        for key, value in form.items():
            data[key] = value.reveal() if isinstance(value, Secret) else value
        requested_at = self._clock()
        try:
            response = await self._send("POST", TOKEN_PATH, data=data, use_basic=False)
            if response.status_code not in (400, 401, 403):
                self._raise_for_status("POST", response)
        except ConnectorError as error:
            error.outcome_unknown = False  # the API request itself was never sent
            raise
        if response.status_code in (400, 401, 403):
            raise AuthFailed(
                SYSTEM,
                f"OAuth token request refused ({self._api_message(response) or 'access denied'}) — "
                "check the client id, client secret, user name and password",
                status=response.status_code,
            )
        try:
            document = json_body(response)
            token = str(document["access_token"])
            expires_in = float(document.get("expires_in") or 1799)
        except (ValueError, KeyError, TypeError):
            raise UnexpectedResponse(SYSTEM, "the OAuth token answer is not the documented JSON") from None
        if not token:
            raise UnexpectedResponse(SYSTEM, "the OAuth token answer has no access_token")
        self._access_token = Secret(token)
        refresh = document.get("refresh_token")
        if isinstance(refresh, str) and refresh:
            self._refresh_token = Secret(refresh)
        self._token_expires_at = requested_at + expires_in
        self._token_refresh_margin = min(60.0, expires_in / 10)


__all__ = ["ServiceNowClient", "build_incident_query"]
