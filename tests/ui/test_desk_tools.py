"""Issue 15, desk power tools in the window: suspected duplicates (marked, grouped under their
primary, rejected in one click with the reason recorded) and per-ticket overrides (edited in the
preview, approved and pushed exactly as shown)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import qasync
from desk_helpers import repeated_report
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QWidget
from real_engine_helpers import RealRig
from test_ui_real_engine import (  # the real-engine helpers; rig and simulators come from conftest
    WAIT,
    open_window,  # noqa: F401
    run,
    select_and_preview,
    shown,
)
from ui_fakes import FakeEngine, make_row, wait_until

from app.engine.engine import SyncEngine
from app.engine.events import ItemUpdated
from app.ui.format import desk_user
from app.ui.main_window import MainWindow
from app.ui.queue_model import (
    COL_DESCRIPTION,
    COL_NUMBER,
    COL_PRIORITY,
    COL_STATE,
    QueueModel,
    badge_state,
    description_text,
)
from app.ui.queue_view import QueueTab

NOTE = "possible duplicate of INC0000001: same caller Caller 1, 80 % of the words alike, opened 9 min apart"


def _real(request: pytest.FixtureRequest) -> tuple[RealRig, Callable[[SyncEngine], MainWindow]]:
    """The real-engine rig and window factory of test_ui_real_engine (by name: a parameter would
    shadow the imported fixture)."""
    return request.getfixturevalue("rig"), request.getfixturevalue("open_window")


async def _polled(window: MainWindow, engine: SyncEngine, rows: int) -> QueueTab:
    """The window shown, one engine cycle run, and its queue showing ``rows`` rows."""
    await shown(window)
    assert (await engine.run_once()).ok
    tab = window.queue_tab
    await wait_until(lambda: tab.model.rowCount() == rows, timeout=WAIT)
    return tab


def _ctrl(widget: QWidget, key: Qt.Key) -> None:
    """Ctrl+key, then Ctrl let go: the application's modifier state must not stay at Ctrl (a
    later selectRow would add to the selection instead of replacing it)."""
    QTest.keyClick(widget, key, Qt.KeyboardModifier.ControlModifier)
    QTest.keyRelease(widget, Qt.Key.Key_Control, Qt.KeyboardModifier.NoModifier)


def _numbers(window: MainWindow) -> list[str]:
    proxy = window.queue_tab.model
    return [proxy.index(row, COL_NUMBER).data() for row in range(proxy.rowCount())]


def test_suspects_are_marked_grouped_under_their_primary_and_rejected_with_ctrl_d(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    # INC0000001 is the oldest; the failed INC0000005 would sort first, the suspect INC0000009 last.
    rows = [make_row(n) for n in (1, 2, 3, 4)]
    rows.append(make_row(5, state="failed", last_error="boom"))
    rows.append(make_row(9, priority=5, duplicate_of="INC0000001", duplicate_note=NOTE))
    engine.add_rows(rows)

    async def scenario() -> None:
        await window.load()
        window.show()
        tab = window.queue_tab
        order = _numbers(window)
        assert order.index("INC0000009") == order.index("INC0000001") + 1  # right under its primary
        suspect = order.index("INC0000009")
        assert tab.model.index(suspect, COL_STATE).data() == "Duplicate?"
        description = tab.model.index(suspect, COL_DESCRIPTION)
        assert description.data() == "↳ " + rows[-1].short_description  # indented under INC0000001
        assert NOTE[1:] in description.data(Qt.ItemDataRole.ToolTipRole)
        state_tip = tab.model.index(suspect, COL_STATE).data(Qt.ItemDataRole.ToolTipRole)
        assert "Possible duplicate of INC0000001: auto-push leaves it for a person" in state_tip

        assert tab.select_number("INC0000009")
        pane = tab.preview
        await wait_until(lambda: pane.preview is not None and pane.preview.number == "INC0000009")
        assert pane.duplicate_banner.isVisibleTo(window)
        assert pane.duplicate_banner.text().startswith("Possible duplicate of INC0000001: same caller")
        assert pane.duplicate_banner.button is not None
        assert pane.duplicate_banner.button.text() == "Reject as &duplicate of INC0000001"
        menu = tab.row_menu(suspect)
        assert "Reject as &duplicate of INC0000001" in [a.text() for a in menu.actions()]

        messages: list[str] = []
        pane.message.connect(messages.append)
        tab.view.setFocus()
        _ctrl(tab.view, Qt.Key.Key_D)
        await wait_until(lambda: bool(messages))
        assert engine.decisions[-1] == (
            "reject",
            ["INC0000009"],
            desk_user(engine.config),
            "duplicate of INC0000001",
        )
        assert messages[-1] == "Rejected INC0000009 as a duplicate of INC0000001"
        # A primary is no suspect: Ctrl+D on it rejects nothing and says why.
        assert tab.select_number("INC0000001")
        await wait_until(lambda: pane.preview is not None and pane.preview.number == "INC0000001")
        assert not pane.duplicate_banner.isVisibleTo(window)
        _ctrl(tab.view, Qt.Key.Key_D)
        await wait_until(lambda: messages[-1].startswith("None of the selected"))
        assert [d for d in engine.decisions if d[0] == "reject"] == [
            ("reject", ["INC0000009"], desk_user(engine.config), "duplicate of INC0000001")
        ]

    loop.run_until_complete(scenario())


def test_edit_ticket_fields_saves_only_what_changed(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    engine.add_rows([make_row(1)])

    async def scenario() -> None:
        await window.load()
        window.show()
        tab = window.queue_tab
        pane = tab.preview
        assert tab.select_number("INC0000001")
        await wait_until(lambda: pane.preview is not None)
        tab.view.setFocus()
        _ctrl(tab.view, Qt.Key.Key_E)
        await wait_until(lambda: pane.pages.currentWidget() is pane.editor)
        assert not pane.approve_button.isEnabled()  # save or cancel first
        editor = pane.editor
        assert editor.combos["priority"].itemText(0) == "As mapped (Medium (2))"
        editor.title.clear()
        assert not editor.save_button.isEnabled() and editor.problem.text() == "The title must not be empty."
        editor.title.setText("Printer jams on floor 3")
        assert editor.save_button.isEnabled()
        editor.combos["priority"].setCurrentText("High")
        editor.save_button.click()
        await wait_until(lambda: any(call[0] == "set_overrides" for call in engine.calls))
        [(_, (key, values))] = [call for call in engine.calls if call[0] == "set_overrides"]
        assert (key, values) == ("INC0000001", {"title": "Printer jams on floor 3", "priority": "High"})
        await wait_until(lambda: pane.pages.currentWidget() is not pane.editor)
        await wait_until(lambda: "Ticket fields changed by" in pane.subtitle.text())
        assert "Title, Priority" in pane.subtitle.text()

    loop.run_until_complete(scenario())


# ---- against the real engine and both simulators ------------------------------------------------


def test_an_override_is_approved_and_pushed_as_shown(
    request: pytest.FixtureRequest, loop: qasync.QEventLoop
) -> None:
    harness, make_window = _real(request)
    incident = harness.incident(short_description="Mail slow", impact="3", urgency="3")
    engine = harness.engine(harness.config(desk={"name": "anna"}))  # never the OS user
    window = make_window(engine)

    async def scenario() -> None:
        tab = await _polled(window, engine, 1)
        await select_and_preview(window, incident["number"])
        pane = tab.preview
        pane.edit_button.click()
        await wait_until(lambda: pane.pages.currentWidget() is pane.editor, timeout=WAIT)
        editor = pane.editor
        editor.title.setText("Mail slow for the whole sales floor")
        editor.combos["priority"].setCurrentText("High")
        editor.combos["queueID"].setCurrentText("Level II Support")
        editor.save_button.click()

        def overridden() -> bool:
            shown_now = pane.preview
            field = shown_now.field("priority") if shown_now is not None else None
            return field is not None and field.overridden_by == "anna"

        await wait_until(overridden, timeout=WAIT)
        await wait_until(lambda: pane.pages.currentWidget() is pane.ticket, timeout=WAIT)
        assert pane.ticket.values["Priority"] == "High  (overridden by anna)"
        assert pane.ticket.title.text() == "Mail slow for the whole sales floor"
        assert pane.preview is not None
        shown_payload = dict(pane.preview.payload)

        pane.approve_button.click()
        await wait_until(lambda: engine.store.get_item(incident["sys_id"]).state == "approved", timeout=WAIT)
        report = await engine.run_once()
        assert report.ok and report.pushed == 1, report.failures
        [ticket] = harness.tickets_for(incident["sys_id"])
        for name in ("title", "priority", "queueID", "status", "companyID", "externalID", "description"):
            assert ticket[name] == shown_payload[name], name
        assert ticket["priority"] == harness.at.picklist_id("priority", "High")
        assert ticket["queueID"] == harness.at.picklist_id("queueID", "Level II Support")
        summaries = [event.summary for event in engine.store.list_audit(sys_id=incident["sys_id"])]
        assert any("overridden by anna" in summary for summary in summaries)

    run(loop, harness, scenario())


def test_reject_as_duplicate_with_the_banner_button_records_reason_and_who(
    request: pytest.FixtureRequest, loop: qasync.QEventLoop
) -> None:
    harness, make_window = _real(request)
    primary, repeat = repeated_report(harness)
    engine = harness.engine(harness.config(duplicates={"enabled": True}, desk={"name": "anna"}))
    window = make_window(engine)

    async def scenario() -> None:
        tab = await _polled(window, engine, 2)
        assert _numbers(window) == [primary["number"], repeat["number"]]
        await select_and_preview(window, repeat["number"])
        banner = tab.preview.duplicate_banner
        assert banner.isVisibleTo(window) and banner.button is not None
        banner.button.click()

        def rejected() -> bool:
            item = engine.store.get_item(repeat["sys_id"])
            return item is not None and item.state == "rejected"

        await wait_until(rejected, timeout=WAIT)
        item = engine.store.get_item(repeat["sys_id"])
        assert item is not None
        assert (item.decided_by, item.drop_reason) == ("anna", f"duplicate of {primary['number']}")
        await wait_until(lambda: _numbers(window) == [primary["number"]], timeout=WAIT)
        assert harness.at.tickets() == []

    run(loop, harness, scenario())


def test_duplicate_row_state_badge_only_while_waiting() -> None:
    row = make_row(9, duplicate_of="INC0000001", duplicate_note=NOTE)
    assert badge_state(row) == "duplicate"
    assert badge_state(replace(row, state="approved")) == "approved"
    assert description_text(replace(row, state="rejected")) == row.short_description


def test_a_row_that_becomes_a_suspect_moves_under_its_primary_in_either_order(qapp: Any) -> None:
    model = QueueModel()
    rows = [make_row(n, priority=3) for n in (1, 2, 3, 4)]
    model.set_rows(rows)
    model.sort(COL_PRIORITY, Qt.SortOrder.AscendingOrder)

    def order() -> list[str]:
        return [row.number for row in model.rows()]

    assert order() == ["INC0000001", "INC0000002", "INC0000003", "INC0000004"]
    model.apply([ItemUpdated(replace(rows[3], duplicate_of="INC0000001", duplicate_note=NOTE))])
    assert order() == ["INC0000001", "INC0000004", "INC0000002", "INC0000003"]
    model.sort(COL_PRIORITY, Qt.SortOrder.DescendingOrder)
    assert order() == ["INC0000003", "INC0000002", "INC0000001", "INC0000004"]  # still right under it
    model.apply([ItemUpdated(replace(rows[3], duplicate_of=None))])  # no longer a suspect
    assert order() == ["INC0000004", "INC0000003", "INC0000002", "INC0000001"]
