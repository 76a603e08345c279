"""Preview pane: fields, rules, warnings, raw JSON, approve/reject, bulk approve, stale results."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
import qasync
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox
from ui_fakes import FakeEngine, make_preview, make_row, wait_until

from app.engine.events import ItemRemoved, ItemUpdated
from app.ui.main_window import MainWindow
from app.ui.preview_pane import COL_FROM, COL_RULE, COL_TARGET, COL_VALUE


async def _loaded(window: MainWindow, engine: FakeEngine, count: int = 3) -> None:
    engine.add_rows([make_row(n) for n in range(1, count + 1)])
    await window.load()
    window.show()


def test_preview_shows_fields_rules_warnings_and_raw_json(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.previews["INC0000001"] = make_preview("INC0000001", warning="title: shortened to 255 characters")

    async def scenario() -> None:
        await _loaded(window, engine)
        pane = window.queue_tab.preview
        assert window.queue_tab.select_number("INC0000001")
        await wait_until(lambda: pane.preview is not None)
        table = pane.table
        assert table.rowCount() == 3
        assert table.item(0, COL_TARGET).text() == "title"
        assert table.item(0, COL_VALUE).text() == "Printer jams"
        assert table.item(0, COL_FROM).text() == "short_description = Printer jams"
        assert "template" in table.item(0, COL_RULE).text()
        assert "⚠ title: shortened to 255 characters" in table.item(0, COL_RULE).text()
        assert not table.item(0, COL_TARGET).icon().isNull()  # warning icon
        assert table.item(0, COL_VALUE).background().color() != table.item(1, COL_VALUE).background().color()
        assert pane.warning_banner.isVisible()
        assert not pane.error_banner.isVisible()
        assert pane.approve_button.isEnabled()
        # raw JSON, exactly the body that is sent
        pane.raw_button.setChecked(True)
        assert pane.pages.currentWidget() is pane.raw
        assert pane.raw.toPlainText() == engine.previews["INC0000001"].to_json()
        assert pane.raw.isReadOnly()
        pane.copy_button.click()
        assert QGuiApplication.clipboard().text() == pane.raw.toPlainText()

    loop.run_until_complete(scenario())


def test_errors_show_red_banner_and_disable_approve(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.previews["INC0000002"] = make_preview("INC0000002", error="no Autotask queue named 'Desk'")

    async def scenario() -> None:
        await _loaded(window, engine)
        pane = window.queue_tab.preview
        window.queue_tab.select_number("INC0000002")
        await wait_until(lambda: pane.preview is not None)
        assert pane.error_banner.isVisible()
        assert pane.error_banner.text().startswith("Cannot be pushed: ")
        assert "no Autotask queue named 'Desk'" in pane.error_banner.text()
        assert not pane.approve_button.isEnabled()
        pane.approve_selected()  # the shortcut path must respect the disabled button
        assert ("approve", ["INC0000002"]) not in engine.calls

    loop.run_until_complete(scenario())


def test_approve_calls_engine_and_row_leaves_when_pushed(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await _loaded(window, engine)
        pane = window.queue_tab.preview
        window.queue_tab.select_number("INC0000002")
        await wait_until(lambda: pane.preview is not None)
        pane.approve_button.click()
        await wait_until(lambda: ("approve", ["INC0000002"]) in engine.calls)
        engine.publish(ItemUpdated(replace(make_row(2), state="pushed")))
        await wait_until(lambda: window.queue_tab.model.row_for("sys000002") is None)
        engine.publish(ItemRemoved("sys000003", "INC0000003", "pushed"))
        await wait_until(lambda: window.queue_tab.model.row_for("sys000003") is None)
        assert len(window.queue_tab.model) == 1

    loop.run_until_complete(scenario())


def test_reject_with_delete_shortcut_waits_for_its_undo_window(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    async def scenario() -> None:
        await _loaded(window, engine)
        pane = window.queue_tab.preview
        window.queue_tab.select_number("INC0000001")
        await wait_until(lambda: pane.preview is not None)
        window.queue_tab.view.setFocus()
        QTest.keyClick(window.queue_tab.view, Qt.Key.Key_Delete)
        # gone from the list at once, but nothing is sent yet: the toast offers Undo
        assert not window.queue_tab.select_number("INC0000001")
        assert not any(call[0] == "reject" for call in engine.calls)
        assert window.toast.isVisible() and window.toast.button.isVisible()
        assert window.toast.text().startswith("Rejected INC0000001")
        window.toast.button.click()  # Undo
        assert window.queue_tab.select_number("INC0000001")
        assert not any(call[0] == "reject" for call in engine.calls)
        await wait_until(lambda: pane.preview is not None and pane.preview.number == "INC0000001")
        window.queue_tab.view.setFocus()
        QTest.keyClick(window.queue_tab.view, Qt.Key.Key_Delete)
        window.toast.flush()  # the Undo window passes
        await wait_until(lambda: ("reject", ["INC0000001"]) in engine.calls)
        # rejected rows leave the default "active" filter
        await wait_until(lambda: not window.queue_tab.select_number("INC0000001"))

    loop.run_until_complete(scenario())


def test_bulk_approve_confirms_exact_count(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def question(_parent: Any, _title: str, text: str, *_args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)

    async def scenario() -> None:
        await _loaded(window, engine, count=3)
        window.queue_tab.view.selectAll()
        pane = window.queue_tab.preview
        assert len(pane.rows) == 3
        assert pane.approve_button.text() == "&Approve 3"
        pane.approve_button.click()
        await wait_until(lambda: any(call[0] == "approve" for call in engine.calls))
        assert asked == ["Create 3 Autotask tickets?"]
        approved = next(call[1] for call in engine.calls if call[0] == "approve")
        assert sorted(approved) == ["INC0000001", "INC0000002", "INC0000003"]

    loop.run_until_complete(scenario())


def test_bulk_approve_cancel_sends_nothing(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Cancel)

    async def scenario() -> None:
        await _loaded(window, engine, count=2)
        window.queue_tab.view.selectAll()
        window.queue_tab.preview.approve_button.click()
        await asyncio.sleep(0.05)
        assert not any(call[0] == "approve" for call in engine.calls)

    loop.run_until_complete(scenario())


def test_stale_preview_result_is_ignored(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    gate = asyncio.Event()
    engine.preview_gate["INC0000001"] = gate

    async def scenario() -> None:
        await _loaded(window, engine)
        pane = window.queue_tab.preview
        window.queue_tab.select_number("INC0000001")
        await wait_until(lambda: ("preview", "INC0000001") in engine.calls)
        window.queue_tab.select_number("INC0000002")
        await wait_until(lambda: pane.preview is not None)
        gate.set()
        await asyncio.sleep(0.05)
        assert pane.preview is not None and pane.preview.number == "INC0000002"
        assert pane.title.text().startswith("INC0000002")

    loop.run_until_complete(scenario())


def test_a_reject_waiting_for_undo_counts_as_rejected_and_ctrl_z_undoes_it(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """The filter said "Active (3) · Waiting 3" over two visible rows while the Undo window ran; and
    the keyboard had no way to the Undo button."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    async def scenario() -> None:
        await _loaded(window, engine)
        tab = window.queue_tab
        assert tab.count_label.text().startswith("Waiting 3")
        tab.select_number("INC0000001")
        await wait_until(lambda: tab.preview.preview is not None)
        tab.view.setFocus()
        QTest.keyClick(tab.view, Qt.Key.Key_Delete)
        await wait_until(lambda: tab.count_label.text().startswith("Waiting 2"))
        assert tab.state_filter.currentText() == f"Active ({tab.model.rowCount()})"
        QTest.keyClick(tab.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert window.toast.text() == "Kept INC0000001 in the queue"
        assert tab.select_number("INC0000001")
        await wait_until(lambda: tab.count_label.text().startswith("Waiting 3"))
        assert not any(call[0] == "reject" for call in engine.calls)
        assert [row.number for row in tab.selected_rows()] == ["INC0000001"]  # that one, not added
        await wait_until(
            lambda: tab.preview.preview is not None and tab.preview.preview.number == "INC0000001"
        )

    loop.run_until_complete(scenario())
