"""Main window wiring: auto-push with dry run, activity, auth banner, "Why not?", links, empty state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import qasync
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication
from ui_fakes import FakeEngine, make_row, wait_until

from app.engine.events import (
    AuditRecorded,
    AutoPushChanged,
    BudgetChanged,
    FieldChangeView,
    HealthChanged,
    ItemQueued,
    LinkChanged,
    PushSucceeded,
    ReturnApplied,
    ReturnFailed,
)
from app.engine.views import (
    AuditRow,
    BudgetState,
    DryRunEntry,
    DryRunReport,
    Explanation,
    HealthState,
    HoldView,
    LinkRow,
)
from app.ui.activity_view import COL_INCIDENT, COL_TICKET, COL_WHAT
from app.ui.main_window import AUTO_PUSH_BANNER, MainWindow

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def _report() -> DryRunReport:
    return DryRunReport(
        would_create=(
            DryRunEntry("s1", "INC0000001", "Printer", True, (), {"title": "Printer jams"}),
            DryRunEntry("s2", "INC0000002", "VPN", True, (), {"title": "VPN down"}),
        ),
        would_fail=(DryRunEntry("s3", "INC0000003", "Disk", False, ("queueID: no queue 'Storage'",), {}),),
    )


def test_auto_push_shows_dry_run_and_sets_flag_only_on_confirm(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.report = _report()

    async def scenario() -> None:
        await window.load()
        window.show()
        # 1) cancel: nothing changes
        window.auto_push_action.trigger()
        assert not window.auto_push_action.isChecked()  # the switch waits for the decision
        await wait_until(lambda: window.autopush_dialog is not None)
        dialog = window.autopush_dialog
        assert dialog is not None
        assert ("dry_run", None) in engine.calls
        assert dialog.intro_counts() == (2, 1)
        fail_root = dialog.tree.topLevelItem(1)
        assert fail_root.child(0).text(1) == "queueID: no queue 'Storage'"
        dialog.reject()
        await wait_until(lambda: window.autopush_dialog is None)
        assert ("set_auto_push", True) not in engine.calls
        assert not engine.auto_push
        assert not window.auto_push_action.isChecked()
        assert not window.auto_push_banner.isVisible()
        # 2) confirm: the engine flag is set and the banner shows
        window.auto_push_action.trigger()
        await wait_until(lambda: window.autopush_dialog is not None)
        window.autopush_dialog.accept()
        await wait_until(lambda: engine.auto_push)
        assert window.auto_push_action.isChecked()
        assert window.auto_push_banner.isVisible()
        assert window.auto_push_banner.text() == AUTO_PUSH_BANNER
        # 3) off is immediate
        window.auto_push_action.trigger()
        assert not engine.auto_push
        assert not window.auto_push_banner.isVisible()

    loop.run_until_complete(scenario())


def test_auto_push_changed_event_updates_switch(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        engine._auto_push = True
        engine.publish(AutoPushChanged(True))
        await wait_until(window.auto_push_banner.isVisible)
        assert window.auto_push_action.text() == "Auto-push: ON"

    loop.run_until_complete(scenario())


def test_activity_shows_return_change_and_retry(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        engine.publish(
            ReturnApplied(
                ticket_id=7001,
                ticket_number="T20260504.0001",
                sys_id="sys000001",
                number="INC0000001",
                changes=(FieldChangeView("state", "2", "3", "Autotask status 'Waiting Customer'"),),
            )
        )
        engine.publish(PushSucceeded("sys000002", "INC0000002", 7002, "T20260504.0002"))
        engine.publish(
            ReturnFailed(
                7003, "T20260504.0003", "sys000003", "INC0000003", "ServiceNow: ACL denies write (HTTP 403)"
            )
        )
        model = window.activity_tab.model
        await wait_until(lambda: model.rowCount() == 3)
        texts = [model.index(r, COL_WHAT).data() for r in range(3)]
        assert "state: 2 -> 3 (Autotask status 'Waiting Customer')" in texts
        failed_row = next(r for r in range(3) if model.index(r, COL_INCIDENT).data() == "INC0000003")
        assert "ACL denies write" in model.index(failed_row, COL_WHAT).data()
        assert model.index(failed_row, COL_TICKET).data() == "T20260504.0003"
        assert model.index(failed_row, COL_WHAT).data(Qt.ItemDataRole.BackgroundRole) is not None
        window.activity_tab.view.selectRow(failed_row)
        assert window.activity_tab.retry_button.isEnabled()
        window.activity_tab.retry_button.click()
        await wait_until(lambda: ("retry_return", 7003) in engine.calls)

    loop.run_until_complete(scenario())


def test_activity_seeded_from_audit(window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop) -> None:
    engine.audit = [
        AuditRow(
            1, NOW, "outbound", "create", "ok", "sys1", "INC0000001", 1, "T1", "Created ticket T1", "{}", "{}"
        )
    ]

    async def scenario() -> None:
        await window.load()
        assert window.activity_tab.model.rowCount() == 1
        assert window.activity_tab.model.index(0, COL_WHAT).data() == "Created ticket T1"

    loop.run_until_complete(scenario())


def test_auth_failure_shows_one_banner(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        assert not window.auth_banner.isVisible()
        engine.publish(
            HealthChanged(
                "servicenow", HealthState("auth_failed", "the credentials were refused; check the password")
            )
        )
        await wait_until(window.auth_banner.isVisible)
        # One clear sentence: who, what happened, what to do (the engine's message is not repeated).
        assert window.auth_banner.text() == "ServiceNow: the credentials were refused; check the password"
        assert window.auth_banner.button is not None
        assert window.auth_banner.button.text() == "Fix in Settings"
        assert "credentials refused" in window.status_strip.labels["servicenow"].text.text()
        engine.publish(HealthChanged("servicenow", HealthState("ok")))
        await wait_until(lambda: not window.auth_banner.isVisible())

    loop.run_until_complete(scenario())


def test_status_tooltip_says_when_reconciliation_ran_and_what_it_found(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        label = window.status_strip.labels["servicenow"]
        assert "reconciliation" not in label.toolTip()
        at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        engine.publish(HealthChanged("servicenow", HealthState("ok", last_reconciled=at)))
        await wait_until(lambda: "nothing missed" in label.toolTip())
        found = HealthState("ok", last_reconciled=at, reconcile_found=("INC0010042",))
        engine.publish(HealthChanged("servicenow", found))
        await wait_until(lambda: "found 1 missed by the poll (INC0010042)" in label.toolTip())

    loop.run_until_complete(scenario())


def test_budget_label(window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop) -> None:
    async def scenario() -> None:
        await window.load()
        assert window.status_strip.budget.full_text() == "budget: 9,870 / 10,000 left this hour"
        engine.publish(BudgetChanged(used=200, limit=10_000, remaining=9_800))
        await wait_until(lambda: "9,800" in window.status_strip.budget.full_text())
        window.status_strip.poll_button.click()
        await wait_until(lambda: ("poll_now", None) in engine.calls)

    loop.run_until_complete(scenario())


def test_budget_label_speaks_plainly_on_a_busy_tenant(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        now = datetime.now(UTC)
        hold = HoldView("servicenow", "return", now + timedelta(minutes=2), "Retry-After 120 s")
        state = BudgetState(
            used=120,
            limit=10_000,
            remaining=9_880,
            tenant_count=9_720,
            tenant_limit=10_000,
            delay_seconds=40,
            holds=(hold,),
            as_of=now,
        )
        engine.publish(BudgetChanged(used=120, limit=10_000, remaining=9_880, state=state))
        await wait_until(lambda: "busy" in window.status_strip.budget.full_text())
        text = window.status_strip.budget.full_text()
        assert text.startswith(
            "Autotask is 97 % busy this hour (others 9,600, us 120): pushes are paced, next in "
        )
        assert "ServiceNow return-trip updates held until" in text and "Retry-After 120 s" in text

    loop.run_until_complete(scenario())


def test_why_not_shows_summary_and_reasons(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.explanations["INC0000042"] = Explanation(
        key="INC0000042",
        found=True,
        in_queue=False,
        state=None,
        summary="not queued: it does not meet the trigger",
        reasons=("category is 'inquiry', not one of hardware, software, network, database",),
    )

    async def scenario() -> None:
        await window.load()
        window.show()
        window.why_not.setText("INC0000042")
        window.why_not.returnPressed.emit()
        await wait_until(
            lambda: ("explain", "INC0000042") in engine.calls and "inquiry" in window.explain_panel.text()
        )
        assert window.explain_panel.isVisible()
        assert "not queued: it does not meet the trigger" in window.explain_panel.text()

    loop.run_until_complete(scenario())


def test_empty_queue_explains_the_trigger(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        tab = window.queue_tab
        await wait_until(lambda: tab.stack.currentWidget() is tab.empty)
        assert tab.empty.title.text() == "No incidents waiting."
        assert "The trigger:" in tab.empty.body.text()
        assert "category is one of hardware, software, network, database" in tab.empty.body.text()
        engine.publish(ItemQueued(make_row(1)))
        await wait_until(lambda: tab.stack.currentWidget() is tab.view)
        assert window.tabs.tabText(0) == "Queue (1)"

    loop.run_until_complete(scenario())


def test_links_history_shows_body_and_opens_records(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = LinkRow(1, "sys000001", "INC0000001", 7001, "T20260504.0001", NOW, "done", None, NOW, None)
    engine.links = [link]
    body = '{\n  "title": "Printer jams",\n  "externalID": "sys000001"\n}'
    engine.audit = [
        AuditRow(1, NOW, "outbound", "create", "ok", "sys000001", "INC0000001", 7001, "T20260504.0001",
                 "Created ticket T20260504.0001", body, '{"itemId": 7001}'),
    ]  # fmt: skip
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(QUrl(url).toString()) or True)

    async def scenario() -> None:
        await window.load()
        window.show()
        tab = window.links_tab
        assert tab.model.rowCount() == 1
        tab.select_row(0)
        await wait_until(lambda: tab.history.rowCount() == 1)
        assert body in tab.body.toPlainText()
        tab.open_ticket.click()
        tab.open_incident.click()
        assert opened == ["https://example.test/autotask/7001", "https://example.test/servicenow/sys000001"]
        engine.publish(
            LinkChanged(LinkRow(2, "sys2", "INC0000002", 7002, "T2", NOW, "failed", "403", None, None))
        )
        # The user is working on a selected link: the new one waits behind "1 new", nothing moves.
        window.tabs.setCurrentWidget(tab)
        await wait_until(tab.new_rows.isVisible)
        assert tab.new_rows.text() == "1 new — show"
        assert tab.model.rowCount() == 1
        assert tab.selected_link() == link
        tab.new_rows.click()
        await wait_until(lambda: tab.model.rowCount() == 2)
        assert not tab.new_rows.isVisible()
        engine.audit.append(
            AuditRow(
                2,
                NOW,
                "return",
                "update",
                "ok",
                "sys000001",
                "INC0000001",
                7001,
                "T1",
                "state 2 -> 3",
                "{}",
                None,
            )
        )
        engine.publish(AuditRecorded(engine.audit[-1]))
        await wait_until(lambda: tab.history.rowCount() == 2)

    loop.run_until_complete(scenario())


def test_links_show_adopted_links_and_their_note(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    from app.ui.links_view import COL_NOTE

    adopted = LinkRow(1, "sys1", "INC0000001", 7001, "T1", NOW, "done", None, NOW, None, adopted=True)
    foreign = LinkRow(
        2, "sys2", "INC0000002", 7002, "T2", NOW, "done", None, NOW, None,
        note="correlation_id holds 'JIRA-1' (another integration's); left unchanged",
    )  # fmt: skip
    engine.links = [adopted, foreign]

    async def scenario() -> None:
        await window.load()
        model = window.links_tab.model
        assert model.rowCount() == 2
        notes = {model.index(r, 0).data(): model.index(r, COL_NOTE).data() for r in range(2)}
        assert notes["INC0000001"].startswith("Adopted")
        assert "JIRA-1" in notes["INC0000002"] and not notes["INC0000002"].startswith("Adopted")

    loop.run_until_complete(scenario())


def test_state_is_restored(window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop) -> None:
    window.tabs.setCurrentIndex(2)
    window.save_state()
    again = MainWindow(engine, use_tray=False, settings=window.settings)
    try:
        assert again.tabs.currentIndex() == 2
    finally:
        again.detach()


def test_a_new_queue_count_repaints_the_tab_bar_not_the_whole_window(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """QTabWidget.setTabText lays out and repaints the whole tab widget (the queue, the preview):
    ~15 ms of painting every second of a burst. A count that still fits changes the bar alone."""
    from PySide6.QtCore import QEvent, QObject

    class Paints(QObject):
        """Names the watched widgets that paint (names, not the objects: nothing kept alive)."""

        def __init__(self, watched: dict[str, QObject]) -> None:
            super().__init__()
            self.names = {id(widget): name for name, widget in watched.items()}
            self.seen: list[str] = []

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
            if event.type() == QEvent.Type.Paint and id(watched) in self.names:
                self.seen.append(self.names[id(watched)])
            return False

    async def scenario() -> None:
        engine.add_rows([make_row(n) for n in range(1, 13)])
        await window.load()
        window.resize(1280, 800)
        window.show()
        tab, bar = window.queue_tab, window.tabs.tabBar()
        await wait_until(lambda: window.tabs.tabText(0) == "Queue (12)")
        await wait_until(lambda: tab.stack.currentWidget() is tab.view)
        await wait_until(lambda: tab.preview.pages.currentWidget() is tab.preview.ticket)  # settled
        handle = window.windowHandle()
        await wait_until(lambda: handle is not None and handle.isExposed())
        paints = Paints({"bar": bar, "preview": tab.preview, "queue": tab.view.viewport()})
        QApplication.instance().installEventFilter(paints)  # type: ignore[union-attr]
        try:
            window.repaint()  # whatever was waiting to be painted is, now
            tab.view.viewport().repaint()
            assert paints.seen[-1] == "queue"  # the filter sees the queue's paints
            paints.seen.clear()
            window._queue_count(13)  # same width in digits
            await wait_until(lambda: "bar" in paints.seen)  # one flush paints every dirty widget
            assert window.tabs.tabText(0) == "Queue (13)"
            assert paints.seen == ["bar"]
            window._queue_count(100_000)  # wider: the tab widget makes room for it
            assert window.tabs.tabText(0) == "Queue (100,000)"
            assert bar.width() >= bar.sizeHint().width()
            assert bar.tabRect(3).right() <= bar.width()  # the last tab is not pushed out
        finally:
            QApplication.instance().removeEventFilter(paints)  # type: ignore[union-attr]

    loop.run_until_complete(scenario())
