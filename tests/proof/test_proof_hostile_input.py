"""Hostile field values end to end (ServiceNow simulator -> engine -> Autotask simulator, over HTTP)
and in the queue view: they travel intact, or are cut/cleaned with a warning; they never break a
query, the store or the UI."""

from __future__ import annotations

import json

import pytest
from proof_harness import Harness

from app.domain.text import utf16_len
from app.store import QueueState

HOSTILE = [
    "Outlook 🔥💥 crashes 👩‍💻",
    "\u202eevil.exe\u200f RTL \u200e mark \u05e9\u05dc\u05d5\u05dd",
    "<script>alert('x')</script> &amp; <b>bold</b>",
    "x^ORactive=false^NQcategory=hr",
    "category=hardware^ORDERBYnumber",
    "'; DROP TABLE link; -- {number} {0} %s",
]


async def test_hostile_values_reach_the_ticket_intact(harness: Harness) -> None:
    h = harness
    incidents = [h.incident(short_description=text, description=text) for text in HOSTILE]
    plain = h.incident(short_description="Plain neighbour")
    engine = h.engine(h.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    assert report.pushed == len(HOSTILE) + 1  # no value broke the poll query or another item
    for incident, text in zip(incidents, HOSTILE, strict=True):
        [ticket] = h.tickets_for(incident["sys_id"])
        assert ticket["title"] == text
        assert ticket["description"] == f"{text}\n\n--\nServiceNow incident {incident['number']}"
        item = engine.store.get_item(incident["sys_id"])
        assert item is not None and item.short_description == text
        creates = [e for e in engine.store.list_audit(sys_id=incident["sys_id"]) if e.kind == "create"]
        assert json.loads(creates[0].request_body or "{}")["title"] == text
    assert len(h.tickets_for(plain["sys_id"])) == 1


async def test_long_and_control_values_are_cut_or_cleaned_with_a_warning(harness: Harness) -> None:
    h = harness
    long_title = "Disk " + "🔥" * 400
    dirty = "Printer\x00 jam\x1b[0m\x07 on floor 2"
    huge = "x" * 20_000
    first = h.incident(short_description=long_title, description=huge)
    second = h.incident(short_description=dirty)
    engine = h.engine(h.config(outbound={"auto_push": True}))
    report = await engine.run_once()
    assert report.ok, report.failures
    assert all(item.state == QueueState.PUSHED for item in engine.store.list_items())
    [ticket] = h.tickets_for(first["sys_id"])
    assert utf16_len(ticket["title"]) <= 255 and ticket["title"].endswith("…")
    assert ticket["title"].encode("utf-8")  # never a half emoji (lone surrogate)
    assert utf16_len(ticket["description"]) <= 8000
    [ticket] = h.tickets_for(second["sys_id"])
    assert ticket["title"] == "Printer jam[0m on floor 2"


async def test_cut_and_cleaned_values_are_announced_in_the_preview(harness: Harness) -> None:
    h = harness
    incident = h.incident(short_description="Disk " + "🔥" * 400 + "\x07")
    engine = h.engine()
    await engine.run_once()
    draft = await engine.preview(incident["number"])
    assert draft.ok
    warnings = " ".join(draft.warnings)
    assert "control character" in warnings
    assert "cut" in warnings or "shortened" in warnings or "truncat" in warnings, warnings


@pytest.mark.parametrize("key", ["INC0010001^ORactive=true", "INC0010001^NQactive=true", "a" * 32 + "^OR"])
async def test_typed_keys_never_extend_a_query(harness: Harness, key: str) -> None:
    h = harness
    h.incident()
    engine = h.engine()
    before = h.sn.requests.count("GET")
    explanation = await engine.explain(key)
    assert not explanation.found
    for entry in h.sn.requests.entries("GET")[before:]:
        assert "^OR" not in entry.query and "%5EOR" not in entry.query.upper()


async def test_hostile_rows_in_the_queue_view(harness: Harness) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    from app.ui.queue_model import COL_DESCRIPTION, QueueModel

    _app = QApplication.instance() or QApplication([])
    h = harness
    for text in [*HOSTILE, "Disk " + "🔥" * 400, "bell\x07 and\nnewline"]:
        h.incident(short_description=text)
    engine = h.engine()
    await engine.run_once()
    rows = await engine.list_queue()
    model = QueueModel()
    model.set_rows(rows)
    for row in range(model.rowCount()):
        for column in range(model.columnCount()):
            index = model.index(row, column)
            for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                value = model.data(index, role)
                assert value is None or isinstance(value, str | int | float)
    shown = [model.data(model.index(r, COL_DESCRIPTION)) for r in range(model.rowCount())]
    assert any("<script>" in text for text in shown)  # shown as text, not interpreted
    everything = model.rowCount()
    model.set_text("^ORactive")
    assert model.rowCount() == 1
    model.set_text("<script>")
    assert model.rowCount() == 1
    model.set_text("")
    model.sort(COL_DESCRIPTION)
    assert model.rowCount() == everything
