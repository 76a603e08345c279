"""Log lines: one per event, UTC, no secrets; engine events in human words."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.engine.events import HealthChanged, LinkChanged, PushFailed, PushSucceeded
from app.engine.views import HealthState, LinkRow
from app.headless import EventLog, iso, to_jsonable
from app.logging_setup import LineFormatter, logging_session, register_secret, scrub

NOW = datetime(2026, 12, 1, 9, 30, 5, tzinfo=UTC)


def record(message: str, *, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    rec = logging.LogRecord("app.test", logging.WARNING, __file__, 1, message, None, exc_info)
    rec.created = NOW.timestamp()
    rec.msecs = 0
    return rec


def test_line_format_is_one_utc_line() -> None:
    line = LineFormatter(tracebacks=False).format(record("first\nsecond"))
    assert line == "2026-12-01T09:30:05.000Z WARNING app.test: first | second"


def test_tracebacks_only_in_the_file_and_indented() -> None:
    try:
        raise ValueError("broken\nbadly")
    except ValueError as error:
        rec = record("step failed", exc=error)
    assert LineFormatter(tracebacks=False).format(rec).endswith("step failed [ValueError: broken | badly]")
    lines = LineFormatter(tracebacks=True).format(rec).splitlines()
    assert lines[0].endswith("step failed")
    assert all(line.startswith("    ") for line in lines[1:])


def test_secrets_and_url_passwords_are_masked() -> None:
    register_secret("s3cr3t-value-123")
    register_secret("demo")  # too short to search for: ordinary words stay readable
    text = scrub("sent s3cr3t-value-123 to https://user:pw@example.com/x as demo.integration")
    assert text == "sent ******** to https://user:********@example.com/x as demo.integration"


def test_session_writes_file_and_quiets_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_SYNC_LOG_DIR", str(tmp_path))
    with logging_session("debug") as path:
        assert path == tmp_path / "triage-sync.log"
        assert logging.getLogger("httpx").level == logging.WARNING
        logging.getLogger("app.x").info("hello")
        logging.getLogger("httpx").info("HTTP Request: GET https://example.com")
    text = (tmp_path / "triage-sync.log").read_text(encoding="utf-8")
    assert "INFO app.x: hello" in text and "HTTP Request" not in text


def test_engine_events_in_human_words() -> None:
    events = EventLog()
    level, message = events.describe(PushSucceeded("abc", "INC0010001", 10001, "T20261201.0001"))
    assert (level, message) == (logging.INFO, "pushed INC0010001 -> ticket T20261201.0001")
    found = PushSucceeded("abd", "INC0010003", 10003, "T20261201.0003", recovered=True)
    assert events.describe(found) == (
        logging.INFO,
        "linked INC0010003 -> ticket T20261201.0003 (already in Autotask; nothing created)",
    )
    level, message = events.describe(PushFailed("abc", "INC0010002", "Autotask: queueID invalid", True))
    assert level == logging.ERROR and "refused" in message and "queueID invalid" in message


def test_write_back_logged_once_with_the_ticket_number() -> None:
    events = EventLog()
    events.describe(PushSucceeded("abc", "INC0010001", 10001, ""))
    row = LinkRow(1, "abc", "INC0010001", 10001, "T20261201.0001", NOW, "done", None, NOW, None)
    assert events.describe(LinkChanged(row)) == (
        logging.INFO,
        "INC0010001 now names ticket T20261201.0001 (work note added)",
    )
    assert events.describe(LinkChanged(row))[0] == logging.DEBUG  # the return trip re-publishes it


def test_health_is_logged_on_change_only() -> None:
    events = EventLog()
    ok = HealthState("ok", last_success=NOW)
    assert events.describe(HealthChanged("servicenow", ok)) == (logging.INFO, "ServiceNow is ok")
    assert (
        events.describe(HealthChanged("servicenow", HealthState("ok", last_success=NOW)))[0] == logging.DEBUG
    )
    offline = HealthChanged("servicenow", HealthState("offline", "connection refused"))
    assert events.describe(offline) == (logging.WARNING, "ServiceNow is offline: connection refused")


def test_json_datetimes_are_iso_utc() -> None:
    assert iso(NOW) == "2026-12-01T09:30:05Z"
    assert to_jsonable({"at": NOW, "rows": (1, 2)}) == {"at": "2026-12-01T09:30:05Z", "rows": [1, 2]}
