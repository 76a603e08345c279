"""Issue 14, "Broken today": feedback is visible, the preview moves on, live lists hold still,
banners do not push the tabs, settings work without a keyring, first-run Cancel keeps the input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import keyring
import pytest
import qasync
from keyring.backends import fail
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from ui_fakes import FakeEngine, fill_settings, make_row, wait_until

from app.config import parse_config
from app.engine.events import HealthChanged, ItemRemoved, PushSucceeded
from app.engine.views import DryRunEntry, DryRunReport, Explanation, HealthState
from app.secrets import clear_session_secrets, get_secret
from app.ui.dialogs import AutoPushDialog
from app.ui.main_window import MainWindow, window_title
from app.ui.settings_dialog import SettingsDialog
from app.ui.theme import contrast_ratio, hint_color

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


async def _loaded(window: MainWindow, engine: FakeEngine, count: int = 4) -> None:
    engine.add_rows([make_row(n) for n in range(1, count + 1)])
    await window.load()
    window.show()


def _numbers(window: MainWindow) -> list[str]:
    model = window.queue_tab.model
    return [model.index(r, 0).data() for r in range(model.rowCount())]


# ---- visible feedback ---------------------------------------------------------------------------
def test_every_action_gives_visible_feedback(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await _loaded(window, engine)
        first = _numbers(window)[0]
        window.queue_tab.select_number(first)
        pane = window.queue_tab.preview
        await wait_until(lambda: pane.preview is not None)
        pane.approve_button.click()
        await wait_until(lambda: window.toast.isVisible() and window.toast.text().startswith("Approved"))
        assert window.toast.text() == "Approved 1 incident"

        async def refused() -> None:
            raise RuntimeError("ServiceNow answered 503")

        engine.poll_now = refused  # type: ignore[method-assign]
        window.poll_now()
        await wait_until(lambda: window.toast.text().startswith("Poll failed"))
        assert window.toast.isVisible()
        assert "503" in window.toast.text()
        window._settings_saved(Path("/tmp/x.toml"))
        assert window.toast.isVisible() and "Settings saved" in window.toast.text()

    loop.run_until_complete(scenario())


# ---- the preview moves on after a decision ------------------------------------------------------
def test_after_approve_or_reject_the_next_item_is_shown(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    shown: list[str] = []

    async def scenario() -> None:
        await _loaded(window, engine)
        pane = window.queue_tab.preview
        pane.previewShown.connect(shown.append)
        numbers = _numbers(window)
        window.queue_tab.select_number(numbers[0])
        await wait_until(lambda: shown[-1:] == [numbers[0]])
        pane.approve_button.click()
        await wait_until(lambda: shown[-1:] == [numbers[1]])
        assert [row.number for row in window.queue_tab.selected_rows()] == [numbers[1]]
        assert pane.pages.currentWidget() is pane.ticket
        pane.reject_button.click()
        await wait_until(lambda: shown[-1:] == [numbers[2]])
        assert [row.number for row in window.queue_tab.selected_rows()] == [numbers[2]]
        # auto-push (or anyone) takes the selected incident away: the one in its place is shown
        selected = window.queue_tab.selected_rows()[0]
        engine.publish(ItemRemoved(selected.sys_id, selected.number, "pushed"))
        await wait_until(lambda: shown[-1:] == [numbers[3]])
        assert pane.pages.currentWidget() is pane.ticket

    loop.run_until_complete(scenario())


def test_last_item_decided_leaves_a_calm_placeholder(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await _loaded(window, engine, count=1)
        pane = window.queue_tab.preview
        window.queue_tab.select_number("INC0000001")
        await wait_until(lambda: pane.preview is not None)
        engine.publish(ItemRemoved("sys000001", "INC0000001", "pushed"))
        await wait_until(lambda: pane.pages.currentWidget() is pane.placeholder)
        assert pane.placeholder.title.text() == "Select an incident"

    loop.run_until_complete(scenario())


# ---- live lists hold still ----------------------------------------------------------------------
def test_activity_keeps_the_users_row_and_shows_n_new(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        window.tabs.setCurrentWidget(window.activity_tab)
        tab = window.activity_tab
        engine.publish(PushSucceeded("sys1", "INC0000001", 7001, "T1"))
        await wait_until(lambda: tab.model.rowCount() == 1)  # idle list: shown at once
        tab.view.selectRow(0)
        engine.publish(PushSucceeded("sys2", "INC0000002", 7002, "T2"))
        engine.publish(PushSucceeded("sys3", "INC0000003", 7003, "T3"))
        await wait_until(lambda: tab.new_rows.text() == "2 new — show")
        assert tab.new_rows.isVisible()
        assert tab.model.rowCount() == 1
        assert tab.selected_entry() is not None and tab.selected_entry().incident == "INC0000001"
        tab.new_rows.click()
        assert tab.model.rowCount() == 3
        assert not tab.new_rows.isVisible()
        assert tab.selected_entry() is not None and tab.selected_entry().incident == "INC0000001"

    loop.run_until_complete(scenario())


def test_banners_do_not_push_the_tabs(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        top = window.tabs.mapTo(window, window.tabs.rect().topLeft()).y()
        engine.publish(HealthChanged("autotask", HealthState("auth_failed", message="HTTP 401")))
        await wait_until(window.auth_banner.isVisible)
        assert window.tabs.mapTo(window, window.tabs.rect().topLeft()).y() == top
        engine.set_auto_push(True)
        window._set_auto_push_ui(True)
        await wait_until(window.auto_push_banner.isVisible)
        assert window.tabs.mapTo(window, window.tabs.rect().topLeft()).y() == top
        engine.publish(HealthChanged("autotask", HealthState("ok")))
        await wait_until(lambda: not window.auth_banner.isVisible())
        window._set_auto_push_ui(False)
        await wait_until(window.banner_area.quiet.isVisible)
        assert window.tabs.mapTo(window, window.tabs.rect().topLeft()).y() == top
        assert window.banner_area.quiet.isVisible()

    loop.run_until_complete(scenario())


# ---- settings: demo test, no keyring, first run -------------------------------------------------
def test_test_connection_in_the_demo_uses_the_running_engine(
    qtbot: Any, tmp_path: Path, loop: qasync.QEventLoop
) -> None:
    config = parse_config(
        {"servicenow": {"url": "http://127.0.0.1:9", "username": "demo"}}, str(tmp_path / "c.toml")
    )
    asked: list[str] = []

    async def engine_test(system: str) -> str:
        asked.append(system)
        return "Connected as demo"

    dialog = SettingsDialog(config, tmp_path / "c.toml", demo=True, engine_test=engine_test)
    qtbot.addWidget(dialog)

    async def scenario() -> None:
        dialog.test_connection("servicenow")
        await wait_until(lambda: dialog.test_results["servicenow"].text().startswith("✔"))
        assert asked == ["servicenow"]
        assert "no password" not in dialog.test_results["servicenow"].text()

    loop.run_until_complete(scenario())


@pytest.fixture
def no_keyring() -> Any:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)
    clear_session_secrets()


def test_missing_keyring_is_said_up_front_and_session_secrets_work(
    qtbot: Any, tmp_path: Path, no_keyring: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SERVICENOW_PASSWORD", "AUTOTASK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "config.toml"
    dialog = SettingsDialog(parse_config({}, str(path)), path)
    qtbot.addWidget(dialog)
    assert not dialog.keyring_notice.isHidden()
    assert "no password store" in dialog.keyring_notice.text()
    assert "SERVICENOW_PASSWORD" in dialog.keyring_notice.text()
    assert dialog.session_only.isChecked()
    fill_settings(dialog)
    saved: list[Path] = []
    dialog.saved.connect(saved.append)
    dialog.save()
    assert saved == [path]
    secret = get_secret("servicenow_password", "svc.triage")
    assert secret is not None and secret.reveal() == "sn-pass-123"
    assert "sn-pass-123" not in path.read_text(encoding="utf-8")


def test_first_run_cancel_returns_to_welcome_and_keeps_the_input(
    qapp: QApplication, loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    from app.ui.app import Controller
    from app.ui.first_run import FirstRunDialog

    controller = Controller(qapp, str(tmp_path / "missing.toml"), demo=False)
    qapp.setQuitOnLastWindowClosed(False)  # as create_application does

    def welcome() -> FirstRunDialog | None:
        found = [w for w in qapp.topLevelWidgets() if isinstance(w, FirstRunDialog) and w.isVisible()]
        return found[0] if found else None

    async def scenario() -> None:
        task = loop.create_task(controller.obtain_config())
        await wait_until(lambda: welcome() is not None)
        first = welcome()
        assert first is not None
        first.connect_button.click()
        await wait_until(lambda: controller.first_run_settings is not None)
        dialog = controller.first_run_settings
        await wait_until(dialog.isVisible)
        dialog.sn_url.setText("https://acme.service-now.com")
        dialog.reject()
        await wait_until(lambda: welcome() is not None)
        assert not task.done()  # Cancel did not quit
        second = welcome()
        assert second is not None
        second.connect_button.click()
        await wait_until(dialog.isVisible)
        assert controller.first_run_settings is dialog
        assert dialog.sn_url.text() == "https://acme.service-now.com"  # what was typed is kept
        dialog.reject()
        await wait_until(lambda: welcome() is not None)
        third = welcome()
        assert third is not None
        third.reject()  # Quit on the welcome screen ends it
        assert await task is None

    loop.run_until_complete(scenario())


# ---- polish -------------------------------------------------------------------------------------
def test_window_title_ends_with_the_app_name_once() -> None:
    # Qt appends the display name to any title that does not end with it.
    assert window_title("Demo") == "Demo — Triage Sync"
    assert window_title("") == "Triage Sync"
    assert window_title("Demo").count("Triage Sync") == 1


def test_one_incident_is_singular(window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop) -> None:
    async def scenario() -> None:
        await _loaded(window, engine, count=1)
        window.queue_tab._update_counts()
        assert window.queue_tab.count_label.toolTip().startswith("1 incident;")

    loop.run_until_complete(scenario())


def test_auto_push_dialog_no_red_mark_for_zero_and_room_for_list(qtbot: Any) -> None:
    report = DryRunReport(
        would_create=(DryRunEntry("s1", "INC0000001", "Printer", True, (), {"title": "Printer jams"}),),
        would_fail=(),
    )
    dialog = AutoPushDialog(report)
    qtbot.addWidget(dialog)
    assert dialog.tree.topLevelItem(1).icon(0).isNull()
    assert dialog.width() >= 860 and dialog.height() >= 560


def test_why_not_panel_does_not_darken_with_each_lookup(window: MainWindow) -> None:
    explanation = Explanation(key="INC1", found=True, in_queue=False, state=None, summary="not triggered")
    window.explain_panel.show_explanation(explanation)
    first = window.explain_panel.styleSheet()
    for _ in range(3):
        window.explain_panel.show_explanation(explanation)
    assert window.explain_panel.styleSheet() == first


def test_why_not_names_the_incident_once(window: MainWindow) -> None:
    """It read "INC0010002: INC0010002 does not match the trigger"."""
    window.explain_panel.show_explanation(
        Explanation(
            key="INC0010002",
            found=True,
            in_queue=False,
            state=None,
            summary="INC0010002 does not match the trigger",
            reasons=("category is 'hr', not one of hardware, software",),
        )
    )
    assert window.explain_panel.text().count("INC0010002") == 1
    assert window.explain_panel.text().startswith("<b>INC0010002</b> does not match the trigger")
    window.explain_panel.show_explanation(
        Explanation(key="INC0010003", found=False, in_queue=False, state=None, summary="Not found")
    )
    assert window.explain_panel.text().startswith("<b>INC0010003</b>: Not found")


def test_config_path_is_shown_whole(qtbot: Any, tmp_path: Path) -> None:
    path = tmp_path / "deep" / "folder" / "triage-sync" / "config.toml"
    dialog = SettingsDialog(parse_config({}, str(path)), path)
    qtbot.addWidget(dialog)
    assert dialog.path_field.text() == str(path)
    assert dialog.path_field.isReadOnly()


@pytest.mark.parametrize(
    ("window_color", "placeholder"),
    [(QColor("#efefef"), QColor("#a0a0a0")), (QColor("#2b2b2b"), QColor("#6a6a6a"))],
    ids=["light", "dark"],
)
def test_hint_text_contrast_is_at_least_4_5(window_color: QColor, placeholder: QColor) -> None:
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, window_color)
    pal.setColor(QPalette.ColorRole.PlaceholderText, placeholder)
    assert contrast_ratio(placeholder, window_color) < 4.5  # the palette's own hint colour fails
    assert contrast_ratio(hint_color(pal), window_color) >= 4.5


def test_shutdown_lets_a_pending_reject_finish(loop: qasync.QEventLoop) -> None:
    """A reject sent when the window closes inside its Undo window is awaited, not cancelled."""
    import asyncio

    from app.ui.tasks import cancel_all, drain, spawn

    done: list[str] = []

    async def slow_reject() -> None:
        for _ in range(50):  # a store write takes a while: yield to the loop, no timed sleep
            await asyncio.sleep(0)
        done.append("reject")

    async def scenario() -> None:
        spawn(slow_reject(), name="reject-1")
        await drain("reject-")
        await cancel_all()  # what shutdown does next

    loop.run_until_complete(scenario())
    assert done == ["reject"]


def test_the_toast_follows_the_window_while_it_shows_and_watches_nothing_when_hidden(
    window: MainWindow, qapp: Any
) -> None:
    """The toast keeps its place at the bottom when the window is resized; hidden, it does not
    watch the window's events (each would be a Python call, every paint included)."""
    window.resize(1000, 700)
    window.show()
    toast = window.toast
    parent = toast.parentWidget()
    toast.show_message("Approved 1 incident")
    qapp.processEvents()
    window.resize(1280, 800)
    qapp.processEvents()
    assert toast.geometry().bottom() > parent.height() - 60
    assert abs(toast.geometry().center().x() - parent.width() // 2) <= 2
    toast.dismiss()
    seen: list[int] = []
    original = toast.eventFilter
    toast.eventFilter = lambda watched, event: seen.append(int(event.type())) or original(watched, event)  # type: ignore[method-assign]
    parent.update()
    window.resize(1100, 760)
    qapp.processEvents()
    assert seen == []
