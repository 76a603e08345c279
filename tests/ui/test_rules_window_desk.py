"""The Rules window at the desk (fake engine): opened from the menu and Settings, every part reached
from the keyboard with no clashing Alt letters, live labels (children under their parent) and
remote text shown as plain text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QTabWidget, QWidget
from ui_fakes import FakeEngine, make_row, wait_until

from app.domain.metadata import FieldInfo, PicklistValue
from app.domain.records import Incident, TicketMetadata
from app.ui.main_window import MainWindow
from app.ui.rules_editors import LabelCombo, TemplateEdit, label_choices
from app.ui.rules_window import RulesWindow
from app.ui.settings_dialog import SettingsDialog

HOSTILE = "<b>Urgent</b><img src=x>"


def values(labels: dict[str, int], parent: int | None = None) -> tuple[PicklistValue, ...]:
    return tuple(PicklistValue(value=v, label=label, parent_value=parent) for label, v in labels.items())


def tenant() -> TicketMetadata:
    return TicketMetadata(
        fields={
            "priority": FieldInfo(
                name="priority", is_picklist=True, picklist=values({"Critical": 4, "High": 1, HOSTILE: 9})
            ),
            "status": FieldInfo(name="status", is_picklist=True, picklist=values({"New": 1, "Complete": 5})),
            "queueID": FieldInfo(name="queueID", is_picklist=True, picklist=values({"Level I Support": 3})),
            "issueType": FieldInfo(
                name="issueType", is_picklist=True, picklist=values({"Hardware": 1, "Software": 2})
            ),
            "subIssueType": FieldInfo(
                name="subIssueType",
                is_picklist=True,
                parent_field="issueType",
                picklist=values({"Other": 11, "Laptop": 12}, parent=1) + values({"Other": 21}, parent=2),
            ),
        }
    )


@pytest.fixture
def desk(engine: FakeEngine) -> FakeEngine:
    engine.metadata = tenant()
    row = make_row(1, short_description="Printer <script>alert(1)</script>")
    engine.add_rows([row])
    engine.incidents[row.number] = Incident(
        sys_id="a" * 32,
        number=row.number,
        short_description=row.short_description,
        category="hardware",
        priority=2,
        sys_updated_on=datetime(2026, 5, 4, 9, 0, tzinfo=UTC),
    )
    return engine


@pytest.fixture(autouse=True)
def _no_quit_on_close(qapp: QApplication) -> Iterator[None]:
    before = qapp.quitOnLastWindowClosed()
    qapp.setQuitOnLastWindowClosed(False)
    yield
    qapp.setQuitOnLastWindowClosed(before)


def test_children_are_listed_under_their_parent() -> None:
    assert label_choices(tenant(), "subIssueType") == [
        ("Hardware", "", False),
        ("    Other", "Other", True),
        ("    Laptop", "Laptop", True),
        ("Software", "", False),
        ("    Other", "Other", True),
    ]
    combo = LabelCombo(tenant(), "subIssueType")
    assert not combo.model().flags(combo.model().index(0, 0)) & Qt.ItemFlag.ItemIsEnabled  # a heading
    combo.activated.emit(1)
    assert combo.value() == "Other"  # the label itself, not the indented display


def _mnemonics(root: QWidget) -> list[str]:
    """The Alt letters of every visible button and label buddy (tab titles included)."""
    letters: list[str] = []
    texts = [w.text() for w in root.findChildren(QAbstractButton) if w.isVisible()]
    texts += [w.text() for w in root.findChildren(QLabel) if w.isVisible() and w.buddy() is not None]
    for tabs in root.findChildren(QTabWidget):
        texts += [tabs.tabText(i) for i in range(tabs.count())]
    for text in texts:
        index = text.replace("&&", "").find("&")
        if index >= 0:
            letters.append(text.replace("&&", "")[index + 1].lower())
    return letters


def test_menu_opens_the_window_and_every_part_is_reachable_by_keyboard(
    window: MainWindow, desk: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        assert window.rules_action.shortcut().toString() == "Ctrl+Shift+R"
        # No other action or shortcut of the window claims the same keys (an ambiguous key does nothing).
        from PySide6.QtGui import QAction, QShortcut

        keys = [seq.toString() for action in window.findChildren(QAction) for seq in action.shortcuts()]
        keys += [shortcut.key().toString() for shortcut in window.findChildren(QShortcut)]
        assert keys.count(window.rules_action.shortcut().toString()) == 1, keys
        window.rules_action.trigger()
        rules = window.rules_window
        assert isinstance(rules, RulesWindow)
        await wait_until(lambda: hasattr(rules, "outbound") and rules.incident is not None)
        for index in range(rules.tabs.count()):
            rules.tabs.setCurrentIndex(index)
            rules.outbound.select("priority")
            QApplication.processEvents()
            letters = _mnemonics(rules)
            assert len(letters) == len(set(letters)), (
                f"clashing Alt letters on tab {index}: {sorted(letters)}"
            )
        rules.activateWindow()
        qtbot.waitActive(rules)
        QTest.keyClick(rules, Qt.Key.Key_O, Qt.KeyboardModifier.AltModifier)
        assert rules.tabs.currentWidget() is rules.outbound
        QTest.keyClick(rules, Qt.Key.Key_F, Qt.KeyboardModifier.AltModifier)
        assert QApplication.focusWidget() is rules.outbound.fields
        QTest.keyClick(rules, Qt.Key.Key_R, Qt.KeyboardModifier.AltModifier)
        assert rules.tabs.currentWidget() is rules.returns
        QTest.keyClick(rules, Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier)
        assert rules.tabs.currentWidget() is rules.trigger
        QTest.keyRelease(rules, Qt.Key.Key_Alt)  # leave no modifier held for the next test
        # Every interactive widget takes focus from the keyboard.
        for widget in rules.findChildren(QAbstractButton):
            if widget.isVisible():
                assert widget.focusPolicy() & Qt.FocusPolicy.TabFocus, widget.text()

        # Remote text is shown as it is, never rendered.
        assert rules.verdict.textFormat() == Qt.TextFormat.PlainText
        assert rules.edited_cell("title") == "Printer <script>alert(1)</script>"
        rules.outbound.select("priority")
        editor = rules.outbound.editor("priority")
        cell = editor.cell("2")  # type: ignore[attr-defined]
        assert isinstance(cell, LabelCombo)
        assert HOSTILE in [cell.itemText(i) for i in range(cell.count())]
        rules.close()

    loop.run_until_complete(scenario())


def test_settings_edit_rules_opens_the_rules_window(
    window: MainWindow, desk: FakeEngine, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        window.open_settings()
        dialog = next(
            w for w in QApplication.topLevelWidgets() if isinstance(w, SettingsDialog) and w.isVisible()
        )
        dialog.tabs.setCurrentIndex(dialog.tabs.count() - 1)
        dialog.edit_rules.click()
        assert isinstance(window.rules_window, RulesWindow) and window.rules_window.isVisible()
        await wait_until(lambda: window.rules_window is not None and hasattr(window.rules_window, "trigger"))
        # Asking again raises the same window instead of opening a second one.
        assert window.open_rules() is window.rules_window
        window.rules_window.close()
        dialog.close()

    loop.run_until_complete(scenario())


def test_template_completes_incident_fields(qtbot: Any) -> None:
    edit = TemplateEdit("Ticket: ")
    qtbot.addWidget(edit)
    edit.show()
    edit.setFocus()
    edit.moveCursor(QTextCursor.MoveOperation.End)
    QTest.keyClicks(edit, "{sho")
    popup = edit.completer.popup()
    assert popup is not None and popup.isVisible()
    assert edit.completer.completionPrefix() == "{sho"
    assert edit.completer.currentCompletion() == "{short_description}"
    QTest.keyClick(popup, Qt.Key.Key_Return)
    assert edit.toPlainText() == "Ticket: {short_description}"
    QTest.keyClicks(edit, " by {caller_name} ")
    assert not popup.isVisible()  # a closed placeholder offers nothing
    assert edit.toPlainText() == "Ticket: {short_description} by {caller_name} "


def test_reading_an_incident_that_cannot_be_read_says_so(
    desk: FakeEngine, loop: qasync.QEventLoop, qtbot: Any, tmp_path: Path
) -> None:
    async def unreachable(key: str, *, fresh: bool) -> Incident | None:
        if fresh:
            raise RuntimeError("ServiceNow could not be read (connection refused)")
        return desk.incidents.get(key)

    async def scenario() -> None:
        window = RulesWindow(desk, tmp_path / "config.toml")
        qtbot.addWidget(window)
        await window.load()
        shown = window.incident
        desk.sample_incident = unreachable  # type: ignore[method-assign]
        window.number.setText("10042")
        window.number.returnPressed.emit()
        await wait_until(lambda: "could not be read" in window.status.text())
        assert window.status.text() == (
            "ServiceNow could not be read (connection refused). The preview keeps the incident it shows."
        )
        assert window.incident is shown
        desk.sample_incident = FakeEngine.sample_incident.__get__(desk)  # type: ignore[method-assign]
        window.number.setText("INC0000404")
        window.number.returnPressed.emit()
        await wait_until(lambda: "has no incident INC0000404" in window.status.text())

    loop.run_until_complete(scenario())


def test_every_editor_gives_back_the_rule_it_was_given(qtbot: Any) -> None:
    """Opening the window and saving without an edit changes nothing: each kind's editor returns
    its rule unchanged, fractional due hours included."""
    from app.config import parse_config
    from app.ui.rules_editors import RuleContext, make_editor

    config = parse_config(
        {
            "outbound": {
                "fields": {
                    "dueDateTime": {"rule": "due_in_hours", "by": "priority", "hours": {"Critical": 2.5}},
                    "contactID": {"rule": "constant", "value": 29682885},
                    "ticketCategory": {"rule": "copy", "source": "category", "max_length": 20},
                }
            }
        },
        "test.toml",
    )
    context = RuleContext(tenant(), ())
    for target, rule in config.outbound.fields.items():
        given = rule.model_dump(mode="json", exclude_none=True)
        editor = make_editor(target, given, context)
        qtbot.addWidget(editor)
        assert editor.data() == given, target


def test_remove_condition_acts_on_the_condition_in_focus(qtbot: Any) -> None:
    from PySide6.QtWidgets import QComboBox, QLineEdit

    from app.config import parse_config
    from app.ui.rules_editors import RuleContext
    from app.ui.rules_sections import TriggerSection

    section = TriggerSection(parse_config({}, "test.toml"), RuleContext(tenant(), ()))
    qtbot.addWidget(section)
    section.show()

    def fields() -> list[str]:
        combos = [section.table.cellWidget(row, 0) for row in range(section.table.rowCount())]
        return [combo.currentText() for combo in combos if isinstance(combo, QComboBox)]

    assert fields() == ["active", "state", "category"]
    section.remove_selected()  # nothing pointed at: nothing removed
    assert fields() == ["active", "state", "category"]
    state_values = section.table.cellWidget(1, 2)
    assert isinstance(state_values, QLineEdit)
    state_values.setFocus()
    QApplication.processEvents()
    section.remove_selected()
    assert fields() == ["active", "category"]
    op = section.table.cellWidget(0, 1)
    values = section.table.cellWidget(0, 2)
    assert isinstance(op, QComboBox) and isinstance(values, QLineEdit)
    op.setCurrentIndex(op.findData("not_empty"))
    assert not values.isEnabled()  # "is not empty" takes no value
    assert section.data()["conditions"][0] == {"field": "active", "op": "not_empty"}


def test_an_attached_desk_previews_but_does_not_save(
    desk: FakeEngine, loop: qasync.QEventLoop, qtbot: Any, tmp_path: Path
) -> None:
    desk.rules_locked = (
        "The rules live in the configuration file of the machine that runs the engine (host-a)."
    )

    async def scenario() -> None:
        window = RulesWindow(desk, tmp_path / "config.toml")
        qtbot.addWidget(window)
        await window.load()
        window.outbound.select("priority")
        editor = window.outbound.editor("priority")
        editor.set_label("2", "Critical")  # type: ignore[attr-defined]
        await wait_until(lambda: window.edited_cell("priority") == "Critical")
        assert "priority" in window.differences()  # the preview works on a desk
        assert not window.save_button.isEnabled()
        window.save()
        assert window.status.text() == desk.rules_locked
        assert not any(call[0] == "apply_rules" for call in desk.calls)
        assert not (tmp_path / "config.toml").exists()

    loop.run_until_complete(scenario())
