"""The Rules window against a real engine and both simulators: edit a value map, watch the preview
and the impact change, save with Ctrl+S, and the running engine pushes with the new rule."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import qasync
import tomlkit
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QLabel, QLineEdit
from pytestqt.qtbot import QtBot
from real_engine_helpers import RealRig, run
from ui_fakes import wait_until

from app.config import load_config
from app.store import QueueState
from app.ui.rules_editors import LabelCombo, TemplateEditor, ValueMapEditor
from app.ui.rules_window import RulesWindow

WAIT = 8.0


@pytest.fixture(autouse=True)
def _no_quit_on_close(qapp: QApplication) -> Iterator[None]:
    """As the app runs (create_application): closing the Rules window must not end the event loop
    the next test runs on."""
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)


def test_edit_value_map_preview_save_and_the_engine_pushes_with_it(
    rig: RealRig, loop: qasync.QEventLoop, qtbot: QtBot
) -> None:
    path = rig.tmp / "config.toml"
    data = rig.config_data(desk={"name": "lead"})  # the audit names the desk, never the OS user
    path.write_text("# kept by the desk lead\n" + tomlkit.dumps(data), encoding="utf-8")
    engine = rig.engine(load_config(path))
    incident = rig.incident(short_description="VPN <b>down</b>", priority="2", impact="1", urgency="2")

    async def scenario() -> None:
        await engine.run_once()  # queued (pending); the picklists are now kept in the store
        window = RulesWindow(engine, path)
        qtbot.addWidget(window)
        await window.load()
        window.show()
        assert window.incident is not None and window.incident.number == incident["number"]
        assert window.edited_cell("priority") == "High"
        assert window.differences() == []
        assert not window.save_button.isEnabled()

        window.tabs.setCurrentWidget(window.outbound)
        window.outbound.select("priority")
        editor = window.outbound.editor("priority")
        assert isinstance(editor, ValueMapEditor)
        cell = editor.cell("2")
        assert isinstance(cell, LabelCombo)
        # The right-hand column offers the tenant's live labels.
        offered = [cell.itemText(i) for i in range(cell.count())]
        assert {"Critical", "High", "Medium", "Low"} <= set(offered)
        cell.setFocus()
        line = cell.lineEdit()
        assert line is not None
        line.selectAll()
        QTest.keyClicks(line, "Critical")

        await wait_until(lambda: window.edited_cell("priority") == "Critical", timeout=WAIT)
        assert "priority" in window.differences()
        await wait_until(
            lambda: "this change alters 1 queued ticket" in window.impact.toPlainText(), timeout=WAIT
        )
        assert "priority on 1" in window.impact.toPlainText()
        assert window.save_button.isEnabled()

        QTest.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
        # Qt keeps the last key event's modifiers as the application's: leave Ctrl "released",
        # or the next test's list selection would toggle rows as if Ctrl were held.
        QTest.keyRelease(window, Qt.Key.Key_Control)
        await wait_until(lambda: window.status.text().startswith("Saved to"), timeout=WAIT)
        assert "The engine uses the new rules now (outbound.fields.priority)" in window.status.text()
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# kept by the desk lead\n")
        assert path.with_name("config.toml.bak").exists()
        assert load_config(path).outbound.fields == engine.config.outbound.fields

        await engine.approve([incident["sys_id"]], by="tester")
        await engine.run_once()
        [ticket] = rig.tickets_for(incident["sys_id"])
        assert ticket["priority"] == rig.at.picklist_id("priority", "Critical")
        item = engine.store.get_item(incident["sys_id"])
        assert item is not None and item.state == QueueState.PUSHED
        summaries = [event.summary for event in engine.store.list_audit(direction="system")]
        assert "rules changed by lead: outbound.fields.priority" in summaries

        # Remote text is plain text: the tag is shown, not rendered.
        assert isinstance(window.verdict, QLabel)
        assert window.verdict.textFormat() == Qt.TextFormat.PlainText
        assert window.edited_cell("title") == "VPN <b>down</b>"
        window.close()

    run(loop, rig, scenario())


def test_trigger_edit_shows_the_verdict_and_invalid_rules_cannot_be_saved(
    rig: RealRig, loop: qasync.QEventLoop, qtbot: QtBot
) -> None:
    path = rig.tmp / "config.toml"
    path.write_text(tomlkit.dumps(rig.config_data()), encoding="utf-8")
    engine = rig.engine(load_config(path))
    incident = rig.incident(category="hardware")

    async def scenario() -> None:
        await engine.run_once()
        window = RulesWindow(engine, path)
        qtbot.addWidget(window)
        await window.load()
        window.show()
        assert window.verdict.text() == f"{incident['number']}: would be queued by the edited trigger"
        table = window.trigger.table

        def field_of(row: int) -> str:
            combo = table.cellWidget(row, 0)
            assert isinstance(combo, QComboBox)
            return combo.currentText()

        row = next(r for r in range(table.rowCount()) if field_of(r) == "category")
        values = table.cellWidget(row, 2)
        assert isinstance(values, QLineEdit)
        values.setText("network, database")
        await wait_until(lambda: "would not be queued" in window.verdict.text(), timeout=WAIT)
        assert "category is 'hardware', not one of network, database" in window.verdict.text()
        assert "(the saved trigger queues it)" in window.verdict.text()
        await wait_until(lambda: "would no longer match" in window.impact.toPlainText(), timeout=WAIT)

        window.tabs.setCurrentWidget(window.outbound)
        window.outbound.select("title")
        title = window.outbound.editor("title")
        assert isinstance(title, TemplateEditor)
        title.template.setPlainText("{nope}")
        await wait_until(lambda: window.problems.isVisible(), timeout=WAIT)
        assert "outbound.fields.title.template: unknown placeholder {nope}" in window.problems.text()
        assert not window.save_button.isEnabled()
        before = path.read_text(encoding="utf-8")
        window.save()
        assert path.read_text(encoding="utf-8") == before
        assert "Nothing to save" in window.status.text()

        kind = window.outbound.kind
        assert isinstance(kind, QComboBox)

    run(loop, rig, scenario())
