"""The real MainWindow driving a real SyncEngine against both simulators over loopback HTTP.

The other UI tests use a FakeEngine; these prove the window and the engine agree on the protocol:
a poll fills the queue, the preview maps the real incident, Approve creates exactly one ticket,
Reject sends nothing, auto-push drains the queue, a technician's change shows in the activity view,
and refused credentials raise the auth banner. Cycles are driven with ``run_once`` (or the window's
own "Poll now") so each step is deterministic; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QCoreApplication, QEvent, QSettings, QTimer
from real_engine_helpers import RealRig, run
from ui_fakes import wait_until

from app.engine.engine import SyncEngine
from app.simulators.autotask import AutotaskSimulator
from app.ui.activity_view import COL_DIRECTION, COL_INCIDENT, COL_TICKET, COL_WHAT, DIRECTION_LABELS
from app.ui.main_window import AUTO_PUSH_BANNER, MainWindow
from app.ui.preview_pane import COL_TARGET, COL_VALUE
from app.ui.queue_model import COL_NUMBER, COL_STATE

# 2,000 stored upserts (synchronous=FULL) take 10 s on a loaded 2-core machine: a bound, not a timing.
BULK_TIMEOUT = 90.0
WAIT = 5.0  # generous: real HTTP and SQLite in worker threads on a busy 2-core machine


# ---- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def open_window(
    rig: RealRig, settings: QSettings, loop: qasync.QEventLoop
) -> Iterator[Callable[[SyncEngine], MainWindow]]:
    windows: list[MainWindow] = []

    def make(engine: SyncEngine) -> MainWindow:
        window = MainWindow(engine, config_path=rig.tmp / "config.toml", use_tray=False, settings=settings)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.detach()  # unsubscribes the bridge; _quitting skips the "pushes in progress" prompt
    # Delete the widgets now, on the GUI thread, not in some later test's loop.
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


async def shown(window: MainWindow) -> None:
    await window.load()
    window.show()


def visible_numbers(window: MainWindow) -> set[str]:
    model = window.queue_tab.model
    return {model.index(row, COL_NUMBER).data() for row in range(model.rowCount())}


async def select_and_preview(window: MainWindow, number: str) -> None:
    tab = window.queue_tab
    assert tab.select_number(number), f"{number} is not shown in the queue"
    await wait_until(
        lambda: tab.preview.preview is not None and tab.preview.preview.number == number, timeout=WAIT
    )


def ticket_creates(at: AutotaskSimulator) -> int:
    return sum(1 for entry in at.requests.entries("POST") if entry.path.lower().endswith("/tickets"))


# ---- tests -----------------------------------------------------------------------------------------


def test_poll_fills_queue_and_preview_shows_the_mapped_ticket(
    rig: RealRig, open_window: Callable[[SyncEngine], MainWindow], loop: qasync.QEventLoop
) -> None:
    laptop = rig.incident(short_description="Laptop will not boot", impact="2", urgency="2")
    monitor = rig.incident(short_description="Monitor flickers")
    rig.incident(short_description="How do I order a mouse?", category="inquiry")  # not triggered
    window = open_window(rig.engine())

    async def scenario() -> None:
        await shown(window)
        tab = window.queue_tab
        assert len(tab.model) == 0
        assert tab.stack.currentWidget() is tab.empty
        window.poll_action.trigger()  # the toolbar's "Poll now": one real cycle of both systems
        await wait_until(lambda: tab.model.rowCount() == 2, timeout=WAIT)
        assert visible_numbers(window) == {laptop["number"], monitor["number"]}
        await wait_until(lambda: window.tabs.tabText(0) == "Queue (2)")
        assert tab.stack.currentWidget() is tab.view

        await select_and_preview(window, laptop["number"])
        pane = tab.preview
        assert pane.preview is not None
        fields = {field.target: field for field in pane.preview.fields}
        assert fields["title"].value == laptop["short_description"]
        assert pane.preview.payload["title"] == laptop["short_description"]
        assert pane.preview.payload["externalID"] == laptop["sys_id"]
        # the queue picklist label was resolved against the simulator's real metadata
        queue_id = rig.at.picklist_id("queueID", "Level I Support")
        assert fields["queueID"].value == queue_id
        assert "Level I Support" in fields["queueID"].display

        # ... and the table the user reads shows the same
        def cell(row: int, column: int) -> str:
            item = pane.table.item(row, column)
            assert item is not None
            return item.text()

        cells = {cell(row, COL_TARGET): cell(row, COL_VALUE) for row in range(pane.table.rowCount())}
        assert cells["title"] == laptop["short_description"]
        assert "Level I Support" in cells["queueID"]
        assert laptop["number"] in pane.title.text()
        assert laptop["short_description"] in pane.subtitle.text()
        assert pane.preview.ok and not pane.error_banner.isVisible()
        assert pane.approve_button.isEnabled()
        assert rig.at.tickets() == []  # nothing goes out without approval

        await select_and_preview(window, monitor["number"])  # the preview follows the selection
        assert pane.preview is not None
        assert pane.preview.payload["title"] == "Monitor flickers"

    run(loop, rig, scenario())


def test_approve_button_creates_exactly_one_ticket_and_row_leaves(
    rig: RealRig, open_window: Callable[[SyncEngine], MainWindow], loop: qasync.QEventLoop
) -> None:
    incident = rig.incident(short_description="Disk full on file server")
    other = rig.incident(short_description="Keyboard missing keys")
    engine = rig.engine()
    window = open_window(engine)

    async def scenario() -> None:
        await shown(window)
        report = await engine.run_once()
        assert report.ok, report.failures
        tab = window.queue_tab
        await wait_until(lambda: tab.model.rowCount() == 2, timeout=WAIT)
        await select_and_preview(window, incident["number"])
        finished: list[tuple[str, Any]] = []
        tab.preview.actionFinished.connect(lambda action, results: finished.append((action, results)))
        tab.preview.approve_button.click()
        await wait_until(lambda: bool(finished), timeout=WAIT)
        [(action, results)] = finished
        assert action == "approve" and [r.ok for r in results] == [True]

        def state() -> str | None:
            position = tab.model.position_of(incident["sys_id"])
            return None if position is None else tab.model.row_at(position).state

        await wait_until(lambda: state() == "approved", timeout=WAIT)
        assert rig.at.tickets() == []  # approval is recorded; the push runs on the next cycle

        report = await engine.run_once()
        assert report.ok and report.pushed == 1, report.failures
        await wait_until(lambda: visible_numbers(window) == {other["number"]}, timeout=WAIT)
        assert tab.model.position_of(incident["sys_id"]) is None  # pushed rows leave the model
        [ticket] = rig.tickets_for(incident["sys_id"])
        assert ticket["title"] == incident["short_description"]
        assert ticket_creates(rig.at) == 1
        # the activity view says so
        activity = window.activity_tab.model
        await wait_until(
            lambda: any(
                activity.index(r, COL_INCIDENT).data() == incident["number"]
                and "Created ticket" in activity.index(r, COL_WHAT).data()
                for r in range(activity.rowCount())
            ),
            timeout=WAIT,
        )
        # a further cycle creates nothing more
        report = await engine.run_once()
        assert report.ok and report.pushed == 0, report.failures
        assert len(rig.tickets_for(incident["sys_id"])) == 1
        assert rig.tickets_for(other["sys_id"]) == []
        assert ticket_creates(rig.at) == 1

    run(loop, rig, scenario())


def test_reject_removes_row_without_pushing(
    rig: RealRig, open_window: Callable[[SyncEngine], MainWindow], loop: qasync.QEventLoop
) -> None:
    incident = rig.incident(short_description="Printer toner low")
    engine = rig.engine()
    window = open_window(engine)

    async def scenario() -> None:
        await shown(window)
        await engine.run_once()
        tab = window.queue_tab
        await wait_until(lambda: tab.model.rowCount() == 1, timeout=WAIT)
        await select_and_preview(window, incident["number"])
        tab.preview.reject_button.click()
        await wait_until(lambda: tab.model.rowCount() == 0, timeout=WAIT)  # the Active view hides it
        window.toast.flush()  # the Undo window passes: now the reject is sent
        await wait_until(lambda: tab.model.rows()[0].state == "rejected", timeout=WAIT)
        report = await engine.run_once()
        assert report.ok and report.pushed == 0, report.failures
        assert rig.at.tickets() == []
        assert ticket_creates(rig.at) == 0
        # still recoverable: the Rejected filter shows it with its state
        tab.select_state_filter("Rejected")
        await wait_until(lambda: tab.model.rowCount() == 1)
        assert tab.model.index(0, COL_NUMBER).data() == incident["number"]
        assert tab.model.index(0, COL_STATE).data() == "Rejected"
        assert (await engine.explain(incident["number"])).state == "rejected"

    run(loop, rig, scenario())


def test_auto_push_toggle_with_dry_run_drains_the_queue(
    rig: RealRig, open_window: Callable[[SyncEngine], MainWindow], loop: qasync.QEventLoop
) -> None:
    incidents = [rig.incident(short_description=f"Docking station {n} dead") for n in range(3)]
    engine = rig.engine()
    window = open_window(engine)

    async def scenario() -> None:
        await shown(window)
        await engine.start()  # the running engine: accepting auto-push wakes its push loop
        tab = window.queue_tab
        await wait_until(lambda: tab.model.rowCount() == 3, timeout=WAIT)
        assert rig.at.tickets() == []
        window.auto_push_action.trigger()
        await wait_until(lambda: window.autopush_dialog is not None, timeout=WAIT)
        dialog = window.autopush_dialog
        assert dialog is not None
        assert dialog.intro_counts() == (3, 0)  # the real dry run: all three would be created
        assert ticket_creates(rig.at) == 0  # a dry run writes nothing
        dialog.accept()
        await wait_until(lambda: engine.auto_push, timeout=WAIT)
        assert window.auto_push_banner.isVisible()
        assert window.auto_push_banner.text() == AUTO_PUSH_BANNER
        await wait_until(lambda: len(tab.model) == 0, timeout=WAIT)
        await wait_until(lambda: window.tabs.tabText(0) == "Queue")
        for incident in incidents:
            assert len(rig.tickets_for(incident["sys_id"])) == 1
        assert ticket_creates(rig.at) == 3
        # switching off is immediate
        window.auto_push_action.trigger()
        assert not engine.auto_push
        assert not window.auto_push_banner.isVisible()

    run(loop, rig, scenario())


def test_return_trip_change_shows_in_activity(
    rig: RealRig, open_window: Callable[[SyncEngine], MainWindow], loop: qasync.QEventLoop
) -> None:
    incident = rig.incident(short_description="Server room too warm")
    engine = rig.engine(rig.config(outbound={"auto_push": True}))
    window = open_window(engine)

    async def scenario() -> None:
        await shown(window)
        report = await engine.run_once()
        assert report.ok and report.pushed == 1, report.failures
        [ticket] = rig.tickets_for(incident["sys_id"])
        rig.at.technician_update(ticket["id"], status="In Progress")
        report = await engine.run_once()
        assert report.ok and report.applied == 1, report.failures
        assert rig.sn.get_record(incident["sys_id"])["state"] == "2"
        model = window.activity_tab.model

        def return_rows() -> list[int]:
            label = DIRECTION_LABELS["return"]
            return [r for r in range(model.rowCount()) if model.index(r, COL_DIRECTION).data() == label]

        await wait_until(lambda: bool(return_rows()), timeout=WAIT)
        [row] = return_rows()
        assert model.index(row, COL_INCIDENT).data() == incident["number"]
        assert model.index(row, COL_TICKET).data() == ticket["ticketNumber"]
        what = model.index(row, COL_WHAT).data()
        # one sentence, labels not codes, said once (issue 14); the old value is read first
        assert what == f"{ticket['ticketNumber']} moved to In Progress → incident In Progress", what

    run(loop, rig, scenario())


def test_wrong_password_shows_auth_banner_until_fixed(
    rig: RealRig, open_window: Callable[[SyncEngine], MainWindow], loop: qasync.QEventLoop
) -> None:
    rig.incident()
    engine = rig.engine(password="not-the-password")
    window = open_window(engine)

    async def scenario() -> None:
        await shown(window)
        assert not window.auth_banner.isVisible()
        report = await engine.run_once()
        assert report.failures
        await wait_until(window.auth_banner.isVisible, timeout=WAIT)
        text = window.auth_banner.text()
        assert text == (
            "ServiceNow: the credentials were refused; check servicenow.url, servicenow.username "
            "and the password in Settings (or SERVICENOW_PASSWORD)"
        )
        assert "not-the-password" not in text
        assert window.auth_banner.button is not None
        assert window.auth_banner.button.text() == "Fix in Settings"
        assert "credentials refused" in window.status_strip.labels["servicenow"].text.text()
        assert len(window.queue_tab.model) == 0
        # The administrator changes the password to what the app holds; "Poll now" lifts the pause.
        rig.sn.settings.password = "not-the-password"
        window.poll_action.trigger()
        await wait_until(lambda: not window.auth_banner.isVisible(), timeout=WAIT)
        await wait_until(lambda: window.queue_tab.model.rowCount() == 1, timeout=WAIT)

    run(loop, rig, scenario())


def test_event_loop_stays_responsive_during_a_2000_incident_poll(
    rig: RealRig, open_window: Callable[[SyncEngine], MainWindow], loop: qasync.QEventLoop
) -> None:
    count = 2_000
    for n in range(count):
        rig.incident(short_description=f"Bulk incident {n}")
    engine = rig.engine()
    window = open_window(engine)
    ticks: list[float] = []

    async def scenario() -> None:
        await shown(window)
        timer = QTimer()
        timer.setInterval(10)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        timer.start()
        try:
            await wait_until(lambda: len(ticks) > 3)
            cycle = asyncio.ensure_future(engine.run_once())
            await wait_until(lambda: len(window.queue_tab.model) == count, timeout=BULK_TIMEOUT - 3)
            report = await cycle
            assert report.ok and report.queued == count, report.failures
            start = len(ticks)
            await wait_until(lambda: len(ticks) > start + 5)
        finally:
            timer.stop()

    run(loop, rig, scenario(), timeout=BULK_TIMEOUT)
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    # Loose on purpose: exact timings belong in benchmarks/, this only catches a frozen loop.
    assert max(gaps) < 1.5, f"longest gap between 10 ms timer ticks: {max(gaps) * 1000:.0f} ms"
    assert window.queue_tab.model.rowCount() == count


def test_simulator_menu_drill_raises_the_outage_banner_and_back_to_normal_clears_it(
    rig: RealRig,
    open_window: Callable[[SyncEngine], MainWindow],
    loop: qasync.QEventLoop,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The demo's Simulator menu (the real drills on the real simulators): an outage on ServiceNow
    shows the drill banner at once and, once two poll intervals have passed without an answer,
    the red outage banner; "Back to normal" clears both."""
    from datetime import timedelta

    from app.simulators.drills import DrillBoard
    from app.ui.format import now_utc
    from app.ui.simulator_menu import install_simulator_menu

    rig.incident()
    engine = rig.engine()
    window = open_window(engine)
    menu = install_simulator_menu(
        window, DrillBoard({"servicenow": rig.sn.faults, "autotask": rig.at.faults})
    )

    async def scenario() -> None:
        await shown(window)
        assert "Simulator" in [action.text().replace("&", "") for action in window.menuBar().actions()]
        assert (await engine.run_once()).ok
        assert window.outage_banner.isHidden() and menu.banner.isHidden()
        # The desk's clock is two poll intervals past the last good poll (no sleeping in a test).
        later = now_utc() + timedelta(seconds=2 * engine.config.servicenow.poll_seconds + 1)
        monkeypatch.setattr("app.ui.main_window.now_utc", lambda: later)

        menu.actions_by_key[("servicenow", "outage")].trigger()
        assert not menu.banner.isHidden()
        assert menu.banner.text() == "Drill running — ServiceNow: Outage (503 Service Unavailable)"
        assert window.toast.text().startswith("Drill: ServiceNow — every request fails with 503")
        await wait_until(lambda: not window.outage_banner.isHidden(), timeout=WAIT)
        # It answers, with 503s: failing, not unreachable, and the banner says why.
        assert window.outage_banner.text().startswith("ServiceNow failing since")
        assert window.outage_banner.text().count("ServiceNow") == 1  # not "(ServiceNow: Service ...)"
        assert "503" in window.outage_banner.text() or "navailable" in window.outage_banner.text()
        assert rig.sn.requests.entries()[-1].status == 503

        menu.actions_by_key[("servicenow", "normal")].trigger()
        assert menu.banner.isHidden()
        await wait_until(lambda: window.outage_banner.isHidden(), timeout=WAIT)
        assert window.toast.text() == "Drill over: ServiceNow answers normally again"
        assert rig.sn.faults.active() == []

    run(loop, rig, scenario())
