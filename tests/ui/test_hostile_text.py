"""Remote text is shown as plain text in every view: never interpreted as Qt rich text.

Incident and ticket text comes from anyone who can file an incident or write a resolution. Qt's
``AutoText`` (the default for labels, tooltips and message boxes) renders anything that looks like
HTML, so ``<img src=...>`` would make Qt load a file or a UNC path (``/dev/zero`` aborts the app with
``std::bad_alloc``). Each view below is filled with hostile text; every label, widget tooltip, item
tooltip, message box and tray notification that shows it must render it literally. The ``<img>`` names
a real 400x400 image: a label or tooltip that loaded it would grow past that height, so the size
check proves no file was read.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtGui import QColor, QImage, QTextDocument
from PySide6.QtGui import Qt as QtGuiQt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QLabel,
    QMessageBox,
    QSystemTrayIcon,
    QToolTip,
    QWidget,
)
from ui_fakes import NOW, FakeEngine, make_preview, make_row, wait_until

from app.domain.outbound import FieldPreview
from app.engine.events import AuditRecorded, HealthChanged, ItemQueued, LinkChanged, PushFailed
from app.engine.views import AuditRow, DryRunEntry, DryRunReport, HealthState, LinkRow
from app.ui.dialogs import AutoPushDialog
from app.ui.main_window import MainWindow
from app.ui.tray import TrayIcon

PROBE_SIZE = 400
MARK = "VPN down"  # survives escaping: finds every place the hostile text went


@pytest.fixture
def hostile(tmp_path: Path) -> str:
    probe = tmp_path / "probe.png"
    image = QImage(PROBE_SIZE, PROBE_SIZE, QImage.Format.Format_RGB32)
    image.fill(QColor("red"))
    assert image.save(str(probe))
    return f'{MARK} <img src="{probe}"> <a href="https://evil.example/x">click</a> <b>bold</b> &amp; done'


def rendered(text: str, text_format: Qt.TextFormat) -> str:
    """What the user sees: the text itself when Qt treats it as plain, else the HTML's plain text."""
    if text_format == Qt.TextFormat.PlainText:
        return text
    if text_format == Qt.TextFormat.AutoText and not QtGuiQt.mightBeRichText(text):
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def literal(text: str, text_format: Qt.TextFormat, hostile: str) -> bool:
    if text_format == Qt.TextFormat.PlainText:
        return True  # shown as is, also when the view shortened it
    core = hostile.removeprefix(MARK)  # the tags and entity, exactly as the remote system sent them
    return core.strip() in " ".join(rendered(text, text_format).split())


def _indexes(model: Any, parent: QModelIndex | None = None) -> Iterator[QModelIndex]:
    parent = parent or QModelIndex()
    for row in range(model.rowCount(parent)):
        for column in range(model.columnCount(parent)):
            index = model.index(row, column, parent)
            yield index
            if column == 0 and model.rowCount(index):
                yield from _indexes(model, index)


def tooltip_label_height(text: str) -> int:
    """Show ``text`` as a real tooltip and measure the label Qt builds for it."""
    QToolTip.showText(QPoint(10, 10), text)
    tips = [w for w in QApplication.topLevelWidgets() if w.metaObject().className() == "QTipLabel"]
    assert tips, "no tooltip shown"
    height = max(tip.sizeHint().height() for tip in tips)
    QToolTip.hideText()
    return height


def check_widget_tree(root: QWidget, hostile: str) -> int:
    """Every label, tooltip and item tooltip under ``root`` that carries the hostile text shows it
    literally; returns how many places were checked (so a test knows the text got there)."""
    checked = 0
    for label in root.findChildren(QLabel):
        if MARK in label.text():
            assert label.sizeHint().height() < PROBE_SIZE
            assert literal(label.text(), label.textFormat(), hostile), (label.objectName(), label.text())
            checked += 1
    for widget in [root, *root.findChildren(QWidget)]:
        if MARK in widget.toolTip():
            assert tooltip_label_height(widget.toolTip()) < PROBE_SIZE
            assert literal(widget.toolTip(), Qt.TextFormat.AutoText, hostile), widget.toolTip()
            checked += 1
    for view in root.findChildren(QAbstractItemView):
        model = view.model()
        if model is None:
            continue
        # The queue paints from cells Qt holds (app/ui/queue_cells.py); its tooltips come from
        # the queue model behind them.
        model = getattr(model, "source", model)
        for index in _indexes(model):
            tip = index.data(Qt.ItemDataRole.ToolTipRole)
            if isinstance(tip, str) and MARK in tip:
                assert literal(tip, Qt.TextFormat.AutoText, hostile), tip
                assert tooltip_label_height(tip) < PROBE_SIZE
                checked += 1
    return checked


class FailingPreviewEngine(FakeEngine):
    async def preview(self, key: str) -> Any:
        if key == "INC0000009":
            raise RuntimeError(self.failure)
        return await super().preview(key)

    async def approve(self, keys: Any, by: str = "user", *, seen: Any = None) -> Any:
        raise RuntimeError(self.failure)

    failure = ""


@pytest.fixture
def engine(hostile: str) -> FakeEngine:
    engine = FailingPreviewEngine()
    engine.failure = hostile
    return engine


def test_hostile_text_is_plain_in_every_view(
    window: MainWindow,
    engine: FakeEngine,
    loop: qasync.QEventLoop,
    hostile: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    row = make_row(1, short_description=hostile, caller=hostile, state="failed", last_error=hostile)
    other = make_row(2, number="INC0000002", short_description=hostile)
    failing = make_row(9)
    engine.add_rows([row, other, failing])
    preview = make_preview(row.number, warning=hostile, error=hostile)
    preview = replace(
        preview,
        fields=(
            *preview.fields,
            FieldPreview(
                target="description",
                value=hostile,
                display=hostile,
                sources=(("description", hostile),),
                rule=hostile,
                warnings=(hostile,),
            ),
        ),
    )
    engine.previews[row.number] = preview
    link = LinkRow(1, "sys000001", hostile, 7001, hostile, NOW, "failed", hostile, NOW, None)
    engine.links = [link]
    audit = AuditRow(
        1, NOW, "outbound", "create", "failed", "sys000001", row.number, 7001, "T1", hostile, hostile, hostile
    )
    engine.audit = [audit]
    boxes: list[QMessageBox] = []

    def capture(box: QMessageBox) -> int:
        boxes.append(box)
        return int(QMessageBox.StandardButton.Ok)

    monkeypatch.setattr(QMessageBox, "exec", capture)

    async def scenario() -> None:
        await window.load()
        window.show()
        tab = window.queue_tab
        # queue: cell tooltips; preview: header, banners, cells, cell tooltips
        assert tab.select_number(row.number)
        await wait_until(lambda: tab.preview.preview is not None)
        assert check_widget_tree(window, hostile) >= 8
        # several selected: the numbers list
        engine.publish(ItemQueued(replace(make_row(3), number=f"INC3 {hostile}")))
        await wait_until(lambda: tab.model.rowCount() == 4)
        tab.view.selectAll()
        await wait_until(lambda: tab.preview.pages.currentWidget() is tab.preview.multi)
        assert check_widget_tree(tab.preview.multi, hostile) >= 1
        # a preview that fails with remote text in the error
        assert tab.select_number(failing.number)
        await wait_until(lambda: "could not be built" in tab.preview.placeholder.body.text())
        assert check_widget_tree(tab.preview.placeholder, hostile) >= 1
        # an action that fails: the message box
        assert tab.select_number(other.number)
        await wait_until(lambda: tab.preview.preview is not None and tab.preview.approve_button.isEnabled())
        tab.preview.approve_selected()
        await wait_until(lambda: bool(boxes))
        assert boxes[0].textFormat() == Qt.TextFormat.PlainText
        assert MARK in boxes[0].text()
        # activity: the list and the detail of the selected row
        window.tabs.setCurrentWidget(window.activity_tab)
        engine.publish(PushFailed("sys000002", "INC0000002", hostile, permanent=True))
        engine.publish(AuditRecorded(audit))
        await wait_until(lambda: window.activity_tab.model.rowCount() >= 2)
        window.activity_tab.view.selectRow(0)
        assert check_widget_tree(window.activity_tab, hostile) >= 2
        window.activity_tab.view.selectRow(1)
        assert check_widget_tree(window.activity_tab, hostile) >= 2
        # links: the table, its tooltips, the history and its title
        window.tabs.setCurrentWidget(window.links_tab)
        engine.publish(LinkChanged(link))
        window.links_tab.select_row(0)
        await wait_until(lambda: window.links_tab.history.rowCount() == 1)
        assert check_widget_tree(window.links_tab, hostile) >= 3
        # health: the auth banner and the status strip tooltip
        engine.publish(HealthChanged("autotask", HealthState("auth_failed", hostile)))
        await wait_until(window.auth_banner.isVisible)
        assert check_widget_tree(window.auth_banner, hostile) >= 1
        assert check_widget_tree(window.status_strip, hostile) >= 1

    loop.run_until_complete(scenario())


def test_auto_push_dialog_shows_problems_plainly(qtbot: Any, hostile: str) -> None:
    good = DryRunEntry("sys1", "INC0000001", hostile, True, (), {"title": hostile})
    bad = DryRunEntry("sys2", "INC0000002", hostile, False, (hostile,), {})
    dialog = AutoPushDialog(DryRunReport(would_create=(good,), would_fail=(bad,)))
    qtbot.addWidget(dialog)
    assert check_widget_tree(dialog, hostile) >= 1


def test_settings_test_result_is_plain(qtbot: Any, tmp_path: Path, hostile: str) -> None:
    from app.config import parse_config
    from app.ui.settings_dialog import SettingsDialog

    path = tmp_path / "config.toml"
    dialog = SettingsDialog(parse_config({}, str(path)), path)
    qtbot.addWidget(dialog)
    dialog._show_test("autotask", False, hostile)
    assert check_widget_tree(dialog, hostile) >= 1


def test_tray_notification_carries_no_markup(
    qtbot: Any, hostile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Desktop notification servers may interpret a subset of HTML in the body (freedesktop
    ``body-markup``, including ``<img>`` and ``<a>``): the tray sends no markup characters at all."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda _self, title, body, *_args: shown.append((title, body))
    )
    tray = TrayIcon(QApplication.style().standardIcon(QApplication.style().StandardPixmap.SP_ComputerIcon))
    tray.notify_failure(f"INC1: {hostile}")
    [(title, body)] = shown
    assert MARK in body and "click" in body
    assert not set("<>&") & set(body + title)
