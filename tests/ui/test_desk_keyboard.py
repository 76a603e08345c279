"""Issue 14, keyboard and accessibility: the keyboard map, row menus, names for assistive tech."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import qasync
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractScrollArea,
    QApplication,
    QComboBox,
    QHeaderView,
    QLineEdit,
    QListView,
    QStyleFactory,
    QVBoxLayout,
    QWidget,
)
from ui_fakes import FakeEngine, make_row, wait_until

from app.engine.events import PushSucceeded
from app.engine.views import LinkRow
from app.ui.focus_ring import RINGED, has_focus_ring
from app.ui.main_window import MainWindow
from app.ui.shortcuts import KEYBOARD_MAP

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


async def _ready(window: MainWindow, engine: FakeEngine, qtbot: Any, count: int = 3) -> None:
    engine.add_rows([make_row(n) for n in range(1, count + 1)])
    await window.load()
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    pane = window.queue_tab.preview
    await wait_until(lambda: pane.preview is not None)


def _actions(menu: Any) -> list[str]:
    return [action.text() for action in menu.actions() if not action.isSeparator()]


def test_focus_starts_in_the_queue_on_its_first_row(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    async def scenario() -> None:
        await _ready(window, engine, qtbot)
        assert QApplication.focusWidget() is window.queue_tab.view
        assert len(window.queue_tab.selected_rows()) == 1

    loop.run_until_complete(scenario())


def test_keyboard_map(window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any) -> None:
    async def scenario() -> None:
        await _ready(window, engine, qtbot)
        view = window.queue_tab.view
        pane = window.queue_tab.preview
        # Ctrl+F: the filter of the tab in front
        QTest.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
        assert QApplication.focusWidget() is window.queue_tab.search
        # Tab moves to the next pane, never from cell to cell inside the list
        view.setFocus()
        column = view.currentIndex().column()
        QTest.keyClick(view, Qt.Key.Key_Tab)
        assert QApplication.focusWidget() is not view
        assert view.currentIndex().column() == column
        # Enter opens the preview; Escape comes back
        view.setFocus()
        QTest.keyClick(view, Qt.Key.Key_Return)
        assert QApplication.focusWidget() is pane.ticket
        QTest.keyClick(pane.ticket, Qt.Key.Key_Escape)
        assert QApplication.focusWidget() is view
        # F5 polls
        QTest.keyClick(view, Qt.Key.Key_F5)
        await wait_until(lambda: ("poll_now", None) in engine.calls)
        # Ctrl+Return approves the selected incident
        number = window.queue_tab.selected_rows()[0].number
        QTest.keyClick(view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        await wait_until(lambda: ("approve", [number]) in engine.calls)
        # Ctrl+2 shows Activity with the keyboard in its list; Ctrl+F there filters the activity
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
        assert window.tabs.currentWidget() is window.activity_tab
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
        assert QApplication.focusWidget() is window.activity_tab.search
        # F1: the keyboard shortcuts page lists the whole map
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_F1)
        await wait_until(lambda: window.shortcuts_dialog is not None and window.shortcuts_dialog.isVisible())
        assert window.shortcuts_dialog is not None
        assert window.shortcuts_dialog.table.rowCount() == len(KEYBOARD_MAP)
        assert window.shortcuts_dialog.table.item(0, 0).text() == "Ctrl+F"
        window.shortcuts_dialog.reject()

    loop.run_until_complete(scenario())


def test_mnemonics_and_focus_ring(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    pane = window.queue_tab.preview
    for text in (pane.approve_button.text(), pane.reject_button.text(), window.poll_action.text()):
        assert "&" in text
    assert [menu.title() for menu in (a.menu() for a in window.menuBar().actions())] == [
        "&File",
        "&View",
        "&Sync",
        "&Help",
    ]

    def ring_colour(view: QWidget) -> QColor:
        """The pixel just outside the view's left edge, half-way down, as the window shows it."""
        edge = view.mapTo(window, QPoint(-1, view.height() // 2))
        return window.grab().toImage().pixelColor(edge)

    async def scenario() -> None:
        engine.links.append(LinkRow(1, "sys000001", "INC0000001", 7001, "T1", NOW, "done", None, NOW, None))
        await _ready(window, engine, qtbot)
        engine.publish(PushSucceeded("sys000001", "INC0000001", 7001, "T1"))  # a row in Activity
        await wait_until(lambda: window.activity_tab.model.rowCount() == 1)
        highlight = window.palette().color(QPalette.ColorRole.Highlight)
        # The preview's mapping table (behind "How was this mapped?") is ringed the same way.
        assert pane.table.property(RINGED) and pane.table.styleSheet() == ""
        lists = [
            (window.queue_tab, window.queue_tab.view),
            (window.activity_tab, window.activity_tab.view),
            (window.links_tab, window.links_tab.view),
        ]
        for tab, view in lists:
            assert not view.tabKeyNavigation()
            # No style sheet: one routed every cell's painting through Qt's style-sheet style and
            # repainted the widgets behind the queue with each of its repaints.
            assert view.styleSheet() == ""
            window.tabs.setCurrentWidget(tab)
            view.setFocus()
            await wait_until(lambda view=view: has_focus_ring(view))
            assert ring_colour(view) == highlight
            assert [other for _tab, other in lists if has_focus_ring(other)] == [view]
        window.tabs.setCurrentWidget(window.queue_tab)
        queue = window.queue_tab.view
        queue.setFocus()
        await wait_until(lambda: has_focus_ring(queue))
        for name in QStyleFactory.keys():  # the ring does not depend on the list's style
            queue.setStyle(QStyleFactory.create(name))
            window.queue_tab.search.setFocus()
            queue.setFocus()
            await wait_until(lambda: has_focus_ring(queue))
            assert ring_colour(queue) == highlight, name
        window.queue_tab.search.setFocus()  # not a list: no ring anywhere
        await wait_until(lambda: not any(has_focus_ring(view) for _tab, view in lists))
        assert ring_colour(queue) != highlight

    loop.run_until_complete(scenario())


def test_row_menus_open_copy_explain_and_restore(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    async def scenario() -> None:
        engine.add_rows([replace(make_row(9), state="rejected")])
        await _ready(window, engine, qtbot)
        tab = window.queue_tab
        menu = tab.row_menu(0)
        texts = _actions(menu)
        number = tab.selected_rows()[0].number
        assert texts[:3] == ["Open in &ServiceNow", "Open in &Autotask", f"&Copy {number}"]
        assert "&Why not? / Why?" in texts and "&Reject" in texts
        assert not menu.actions()[1].isEnabled()  # no ticket yet
        menu.actions()[2].trigger()
        assert QGuiApplication.clipboard().text() == number
        next(a for a in menu.actions() if a.text() == "&Why not? / Why?").trigger()
        await wait_until(lambda: ("explain", number) in engine.calls)
        assert window.explain_panel.isVisible()
        # a rejected incident can be restored from its menu
        tab.select_state_filter("Rejected")
        await wait_until(lambda: tab.model.rowCount() == 1)
        menu = tab.row_menu(0)
        next(a for a in menu.actions() if a.text() == "&Restore to the queue").trigger()
        await wait_until(lambda: ("restore", ["INC0000009"]) in engine.calls)
        # activity and links rows open the ticket too
        engine.publish(PushSucceeded("sys000001", "INC0000001", 7001, "T1"))
        await wait_until(lambda: window.activity_tab.model.rowCount() == 1)
        entry = window.activity_tab.model.entry(0)
        activity_menu = window.activity_tab.row_menu(entry)
        assert activity_menu.actions()[1].isEnabled()  # Open in Autotask
        link = LinkRow(1, "sys000001", "INC0000001", 7001, "T1", NOW, "done", None, NOW, None)
        links_menu = window.links_tab.row_menu(link)
        assert _actions(links_menu)[:4] == [
            "Open in &ServiceNow",
            "Open in &Autotask",
            "&Copy INC0000001",
            "Copy &ticket T1",
        ]

    loop.run_until_complete(scenario())


def test_custom_widgets_have_accessible_names(window: MainWindow) -> None:
    assert window.queue_tab.view.accessibleName() == "Queue"
    assert window.queue_tab.preview.table.accessibleName() == "Ticket preview"
    assert window.status_strip.accessibleName() == "Connection status"
    assert window.status_strip.labels["servicenow"].accessibleName() == "ServiceNow connection"
    assert window.toast.accessibleName() == "Notification"
    assert window.auth_banner.accessibleName() == "Problem"
    assert window.explain_panel.accessibleName() == "Why not? answer"
    assert window.why_not.accessibleName() == "Why not? Incident number"
    assert window.banner_area.quiet.accessibleName() == "Status summary"


def _ring_pixels(view: QWidget) -> tuple[str, str]:
    """The colours of the two pixel columns just left of the view, half-way down, as its window
    shows them (the ring is drawn around the list, above the widgets beside it)."""
    window = view.window()
    image = window.grab().toImage()
    left = view.mapTo(window, QPoint(0, view.height() // 2))
    return image.pixelColor(left.x() - 2, left.y()).name(), image.pixelColor(left.x() - 1, left.y()).name()


def test_a_focused_list_shows_a_two_pixel_ring_in_the_highlight_colour(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    """Fusion's own 1 px frame was all that showed: the ring must be seen, not only declared."""

    async def scenario() -> None:
        engine.links.append(LinkRow(1, "sys000001", "INC0000001", 7001, "T1", NOW, "done", None, NOW, None))
        await _ready(window, engine, qtbot)
        engine.publish(PushSucceeded("sys000001", "INC0000001", 7001, "T1"))  # a row in Activity
        await wait_until(lambda: window.activity_tab.model.rowCount() == 1)
        highlight = window.palette().color(QPalette.ColorRole.Highlight).name()
        view = window.queue_tab.view
        view.setFocus()
        await wait_until(view.hasFocus)
        assert _ring_pixels(view) == (highlight, highlight)
        window.queue_tab.search.setFocus()
        await wait_until(lambda: not view.hasFocus())
        assert highlight not in _ring_pixels(view)

    loop.run_until_complete(scenario())


def test_a_list_that_has_the_focus_when_it_is_ringed_shows_the_ring(qtbot: Any) -> None:
    from app.ui.focus_ring import add_focus_ring

    window = QWidget()
    qtbot.addWidget(window)
    layout = QVBoxLayout(window)
    layout.addWidget(QLineEdit())
    listed = QListView()
    layout.addWidget(listed)
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    listed.setFocus()
    qtbot.waitUntil(listed.hasFocus)
    add_focus_ring(listed)  # the focus will not move to it again: ringed at once
    assert has_focus_ring(listed)


def test_every_control_has_a_name_for_screen_readers(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    """Buttons are named by their text; everything else a person can reach needs a name."""

    async def scenario() -> None:
        await _ready(window, engine, qtbot)
        window.tabs.setCurrentWidget(window.links_tab)
        unnamed = []
        reachable = (QAbstractButton, QLineEdit, QAbstractItemView, QComboBox, QAbstractScrollArea)
        for widget in window.findChildren(QWidget):
            if not isinstance(widget, reachable) or isinstance(widget, QHeaderView | QListView):
                continue  # headers and a combo's popup list are named by their owners
            if widget.objectName().startswith("qt_") or isinstance(widget.parent(), QLineEdit):
                continue  # Qt's own corner/extension/clear buttons
            if isinstance(widget, QAbstractButton) and not widget.isVisibleTo(window):
                continue  # e.g. the notification's action button: given its text when it shows
            text = widget.text() if isinstance(widget, QAbstractButton) else ""
            if not (widget.accessibleName() or text.replace("&", "").strip()):
                unnamed.append(f"{type(widget).__name__} in {type(widget.parent()).__name__}")
        assert unnamed == []

    loop.run_until_complete(scenario())


def test_rows_arriving_after_start_put_the_keyboard_on_the_first(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    """The demo opens on an empty queue; its first incidents arrived with nothing selected, so
    Ctrl+Return and Delete silently did nothing."""
    from app.engine.events import ItemQueued
    from app.ui.preview_pane import NOTHING_SELECTED

    async def scenario() -> None:
        await window.load()
        window.show()
        window.activateWindow()
        qtbot.waitActive(window)
        view = window.queue_tab.view
        window.queue_tab.preview.approve_selected()  # Ctrl+Return with nothing to approve
        assert window.toast.text() == NOTHING_SELECTED  # said, not silently ignored
        engine.publish(ItemQueued(make_row(1)))
        engine.publish(ItemQueued(make_row(2, priority=1)))
        await wait_until(lambda: len(window.queue_tab.selected_rows()) == 1)
        assert window.queue_tab.selected_rows()[0].number == "INC0000002"  # the top row
        assert QApplication.focusWidget() is view
        await wait_until(lambda: window.queue_tab.preview.preview is not None)
        QTest.keyClick(view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        await wait_until(lambda: ("approve", ["INC0000002"]) in engine.calls)

    loop.run_until_complete(scenario())


def test_escape_closes_the_why_not_answer_and_returns_to_the_list(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, qtbot: Any
) -> None:
    async def scenario() -> None:
        await _ready(window, engine, qtbot)
        QTest.keyClick(window.queue_tab.view, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
        assert QApplication.focusWidget() is window.why_not
        QTest.keyClicks(window.why_not, "10002")
        QTest.keyClick(window.why_not, Qt.Key.Key_Return)
        await wait_until(lambda: ("explain", "INC0010002") in engine.calls)
        await wait_until(window.explain_panel.isVisible)
        QTest.keyClick(window.why_not, Qt.Key.Key_Escape)
        assert not window.explain_panel.isVisible()
        assert QApplication.focusWidget() is window.queue_tab.view

    loop.run_until_complete(scenario())
