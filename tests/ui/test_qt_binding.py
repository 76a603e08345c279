"""The Qt binding the app runs on must not lose references to None (PySide6 6.12.0 did: on Python
3.11 the desktop died with "deallocating None" after a few minutes of use)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from PySide6.QtGui import QStandardItem
from PySide6.QtWidgets import QApplication

from app.ui import qt_binding


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12")
def test_methods_returning_nothing_keep_none_alive(qapp: QApplication) -> None:
    item = QStandardItem("x")
    before = sys.getrefcount(None)
    for _ in range(1000):
        item.setText("y")  # returns nothing
        qapp.processEvents()
    assert before - sys.getrefcount(None) < 100, "this PySide6 drops a reference to None per call"
    assert qt_binding.binding_problem() is None


def test_a_defective_binding_stops_the_desktop_with_plain_words(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.ui import app as gui

    shown: list[tuple[Any, ...]] = []
    monkeypatch.setattr(qt_binding, "binding_drops_none", lambda: True)
    monkeypatch.setattr(gui, "message_box", lambda *args: shown.append(args))
    monkeypatch.setattr(gui, "Controller", lambda *args: pytest.fail("the app started anyway"))
    assert gui.run_gui(None, demo=False) == 1
    assert shown and shown[0][2] == "Triage Sync cannot start"
    assert "requirements.lock" in shown[0][3] and "triage-sync run" in shown[0][3]
    assert "crash" in capsys.readouterr().err
