"""Work that would stall the event loop (the desktop's GUI thread) runs in worker threads:
reading and converting the queue list, decoding and validating ServiceNow's pages."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from engine_harness import Harness

import app.engine.store_views as store_views
from app.domain.records import Incident
from app.engine.convert import queue_row_from_columns


async def test_queue_list_is_read_and_converted_off_the_event_loop(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        harness.incident()
    engine = harness.engine()
    await engine.run_once()
    loop_thread = threading.current_thread()
    converted_in: set[threading.Thread] = set()

    def spy(columns: Any) -> Any:
        converted_in.add(threading.current_thread())
        return queue_row_from_columns(columns)

    monkeypatch.setattr(store_views, "queue_row_from_columns", spy)
    rows = await engine.list_queue(states=["pending"])
    assert len(rows) == 3
    assert converted_in and loop_thread not in converted_in


async def test_servicenow_pages_are_decoded_off_the_event_loop(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(3):
        harness.incident()
    engine = harness.engine()
    loop_thread = threading.current_thread()
    parsed_in: list[threading.Thread] = []
    from_wire = Incident.from_wire.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Incident], raw: Any) -> Incident:
        parsed_in.append(threading.current_thread())
        return from_wire(cls, raw)  # type: ignore[no-any-return]

    monkeypatch.setattr(Incident, "from_wire", classmethod(spy))
    report = await engine.run_once()
    assert report.queued == 3
    assert parsed_in and loop_thread not in parsed_in
