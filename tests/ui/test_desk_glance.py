"""Issue 14, what needs a person at a glance: order, badges, width, counts, failed items, outages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from ui_fakes import FakeEngine, make_row, wait_until

from app.engine.events import HealthChanged, PushFailed, PushSucceeded
from app.engine.views import Explanation, HealthState, LinkRow
from app.ui.badges import badge_colors
from app.ui.format import incident_key, now_utc
from app.ui.main_window import MainWindow
from app.ui.queue_model import COL_NUMBER, RowRole
from app.ui.theme import contrast_ratio
from app.ui.tray import TrayIcon

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def _numbers(window: MainWindow) -> list[str]:
    model = window.queue_tab.model
    return [model.index(r, COL_NUMBER).data() for r in range(model.rowCount())]


def test_queue_opens_on_failed_then_priority_then_age(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    rows = [
        make_row(1, priority=4),  # young, low
        make_row(2, priority=1),  # critical
        make_row(3, priority=4),  # older, low
        make_row(4, priority=5, state="failed", last_error="HTTP 500"),
        make_row(5, priority=1, queued_at=NOW - timedelta(hours=5)),  # critical, oldest
    ]
    engine.add_rows(rows)

    async def scenario() -> None:
        await window.load()
        assert _numbers(window) == ["INC0000004", "INC0000005", "INC0000002", "INC0000003", "INC0000001"]

    loop.run_until_complete(scenario())


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_badges_read_at_4_5_to_1_in_light_and_dark(dark: bool) -> None:
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#2b2b2b" if dark else "#efefef"))
    values: list[tuple[str, object]] = [("priority", p) for p in range(1, 6)]
    values += [("state", s) for s in ("failed", "approved", "pushing")]
    seen = set()
    for kind, value in values:
        colors = badge_colors(kind, value, pal)
        assert colors is not None, (kind, value)
        background, text = colors
        assert contrast_ratio(text, background) >= 4.5, (kind, value)
        seen.add(background.name())
    assert len(seen) == len(values)  # the badges differ: colour carries meaning


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_state_colour_is_kept_for_what_needs_attention(dark: bool, loop: qasync.QEventLoop) -> None:
    """The common, calm states are plain text; failed is the one loud (red) badge; approved and
    pushing are soft tints, distinct from each other and from the row, readable at 4.5:1."""
    from app.ui.queue_model import COL_STATE, QueueModel
    from app.ui.theme import relative_luminance

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    saved = app.palette()
    pal = QPalette(saved)
    window, base, text = ("#2b2b2b", "#1e1e1e", "#e8e8e8") if dark else ("#efefef", "#ffffff", "#1a1a1a")
    pal.setColor(QPalette.ColorRole.Window, QColor(window))
    pal.setColor(QPalette.ColorRole.Base, QColor(base))
    pal.setColor(QPalette.ColorRole.Text, QColor(text))
    app.setPalette(pal)
    try:
        model = QueueModel()
        states = ["pending", "failed", "approved", "pushing", "rejected"]
        model.set_rows([make_row(n, state=s) for n, s in enumerate(states, start=1)])
        cells = {}
        for position in range(model.rowCount()):
            index = model.index(position, COL_STATE)
            row = index.data(RowRole)
            cells[row.state] = (
                index.data(Qt.ItemDataRole.BackgroundRole),
                index.data(Qt.ItemDataRole.ForegroundRole),
                index.data(Qt.ItemDataRole.DecorationRole),
            )
        for quiet in ("pending", "rejected"):
            assert cells[quiet] == (None, None, None), quiet  # plain text on the row's own colours
        failed_bg = cells["failed"][0].color()
        assert failed_bg.red() > 150 and failed_bg.green() < 80 and failed_bg.blue() < 80  # red
        # no icon: a red one vanished on the red badge; the word "Failed" says it without colour
        assert model.data(model.index(1, COL_STATE)) == "Failed"
        for calm in ("approved", "pushing"):
            background, foreground = cells[calm][0].color(), cells[calm][1].color()
            assert contrast_ratio(foreground.toRgb(), background) >= 4.5, calm
            # calm: a tint close to the row's brightness, not a saturated block like "failed"
            assert abs(relative_luminance(background) - relative_luminance(QColor(base))) < 0.2, calm
            rgb = (background.red(), background.green(), background.blue())
            assert max(rgb) - min(rgb) < 60, calm  # low chroma (failed's red is about 150)
        assert cells["approved"][0].color() != cells["pushing"][0].color()
    finally:
        app.setPalette(saved)


def test_nothing_essential_scrolls_sideways_at_1280x800(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.add_rows([make_row(n, short_description="A rather long description " * 6) for n in range(1, 30)])

    async def scenario() -> None:
        window.resize(1280, 800)
        await window.load()
        window.show()
        view = window.queue_tab.view
        await wait_until(lambda: view.viewport().width() > 600)  # laid out at 1280 px
        assert view.horizontalScrollBar().maximum() == 0
        from app.ui.queue_model import COL_DESCRIPTION

        widths = [
            view.columnWidth(c) for c in range(view.model().columnCount()) if not view.isColumnHidden(c)
        ]
        assert view.columnWidth(COL_DESCRIPTION) == max(widths)  # the description takes the room

    loop.run_until_complete(scenario())


def test_per_state_counts_in_the_filter(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.add_rows(
        [make_row(n) for n in range(1, 8)] + [make_row(8, state="failed"), make_row(9, state="rejected")]
    )

    async def scenario() -> None:
        await window.load()
        tab = window.queue_tab
        tab._update_counts()
        assert tab.count_label.text() == "Waiting 7 · Failed 1 · Pushing 0"
        assert tab.state_filter.itemText(0) == "Active (8)"
        assert tab.state_filter.itemText(3) == "Rejected (1)"

    loop.run_until_complete(scenario())


def test_failed_item_says_so_in_red_with_retry_and_reject(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    failed = make_row(1, state="failed", attempts=3, last_error="Autotask: queueID 8 is inactive (HTTP 500)")
    engine.add_rows([failed, make_row(2)])

    async def scenario() -> None:
        await window.load()
        window.show()
        pane = window.queue_tab.preview
        window.queue_tab.select_number("INC0000001")
        await wait_until(lambda: pane.preview is not None)
        assert pane.failed_banner.isVisible()
        text = pane.failed_banner.text()
        assert text.startswith("Autotask did not create this ticket after 3 attempts: Autotask: queueID 8")
        assert pane.failed_banner.y() < pane.header_widget.y()  # at the top of the preview
        assert pane.approve_button.text() == "Re&try"
        assert pane.reject_button.text() == "&Reject"
        pane.approve_button.click()
        await wait_until(lambda: ("retry", ["INC0000001"]) in engine.calls)
        assert not any(call[0] == "approve" for call in engine.calls)

    loop.run_until_complete(scenario())


def test_outage_banner_after_two_poll_intervals_and_resolved(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        window.show()
        now = now_utc()
        # one failed poll is not an outage yet
        recent = HealthState("offline", message="connect timeout", last_success=now - timedelta(seconds=30))
        engine.publish(HealthChanged("servicenow", recent))
        await wait_until(lambda: window._health["servicenow"].level == "offline")
        assert not window.outage_banner.isVisible()
        since = now - timedelta(minutes=5)
        engine.publish(HealthChanged("servicenow", HealthState("offline", "timeout", last_success=since)))
        await wait_until(window.outage_banner.isVisible)
        local = since.astimezone().strftime("%H:%M:%S")
        assert window.outage_banner.text() == f"ServiceNow unreachable since {local} — the queue may be stale"
        engine.publish(HealthChanged("servicenow", HealthState("ok", last_success=now)))
        await wait_until(lambda: not window.outage_banner.isVisible())

    loop.run_until_complete(scenario())


def test_a_system_refusing_requests_is_failing_not_unreachable(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """After a 429 storm Autotask answers every call; the banner said "unreachable", which sent
    people checking the network instead of the request budget."""

    async def scenario() -> None:
        await window.load()
        window.show()
        since = now_utc() - timedelta(minutes=10)
        limited = HealthState("degraded", message="request limit reached: " + "x" * 200, last_success=since)
        engine.publish(HealthChanged("autotask", limited))
        await wait_until(window.outage_banner.isVisible)
        text = window.outage_banner.text()
        local = since.astimezone().strftime("%H:%M:%S")
        assert text.startswith(f"Autotask failing since {local} (request limit reached: xxx")
        assert "unreachable" not in text and len(text) < 200
        assert text.endswith("…) — tickets are not created and return trips wait")

    loop.run_until_complete(scenario())


def test_tray_icon_changes_during_an_outage(qapp: QApplication) -> None:
    from app.ui.theme import app_icon

    tray = TrayIcon(app_icon())
    normal = tray.tray.icon().cacheKey()
    tray.set_alert(True)
    assert tray.tray.icon().cacheKey() != normal
    tray.set_alert(False)
    assert tray.tray.icon().cacheKey() == normal


def test_failure_superseded_by_success_is_resolved_not_red(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await window.load()
        tab = window.activity_tab
        engine.publish(PushFailed("sys1", "INC0000001", "HTTP 500", permanent=True))
        await wait_until(lambda: tab.model.rowCount() == 1)
        assert tab.model.entry(0).outcome == "failed"
        tab.problems_only.setChecked(True)
        assert tab.proxy.rowCount() == 1
        engine.publish(PushSucceeded("sys1", "INC0000001", 7001, "T1"))
        await wait_until(lambda: tab.model.rowCount() == 2)
        failed = next(e for e in tab.model.entries() if e.text.startswith("Ticket create"))
        assert failed.outcome == "resolved" and failed.retry is None
        assert tab.proxy.rowCount() == 0  # problems only: nothing left to look at
        tab.problems_only.setChecked(False)
        tab.search.setText("T1")
        tab.proxy.set_text("T1")
        assert tab.proxy.rowCount() == 1

    loop.run_until_complete(scenario())


def test_why_not_accepts_bare_digits_and_offers_links(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    assert incident_key("10002") == "INC0010002"
    assert incident_key(" inc10002 ") == "INC0010002"
    assert incident_key("INC0010002") == "INC0010002"
    engine.explanations["INC0010002"] = Explanation(
        key="INC0010002", found=True, in_queue=False, state="pushed", summary="already linked",
        ticket_number="T20260504.0001",
    )  # fmt: skip
    engine.links = [
        LinkRow(1, "sys1", "INC0010002", 7001, "T20260504.0001", NOW, "done", None, NOW, None),
        LinkRow(2, "sys2", "INC0010003", 7002, "T20260504.0002", NOW, "done", None, NOW, None),
    ]

    async def scenario() -> None:
        await window.load()
        window.show()
        window.why_not.setText("10002")
        window._why_not()
        await wait_until(lambda: ("explain", "INC0010002") in engine.calls)
        await wait_until(lambda: "already linked" in window.explain_panel.text())
        assert window.explain_panel.links_button.isVisible()
        window.explain_panel.links_button.click()
        assert window.tabs.currentWidget() is window.links_tab
        selected = window.links_tab.selected_link()
        assert selected is not None and selected.incident_number == "INC0010002"

    loop.run_until_complete(scenario())


def test_return_trip_reads_as_one_sentence() -> None:
    from app.domain.return_sentence import return_sentence
    from app.engine.events import FieldChangeView

    status = "Autotask status 'Complete' -> state 6 (Resolved)"
    priority = "Autotask priority 'High' -> impact 2 (Medium), urgency 2 (Medium)"
    changes = [
        FieldChangeView("state", "2", "6", status),
        FieldChangeView(
            "close_code", None, "Solved (Permanently)", "Complete resolves the incident; close code"
        ),
        FieldChangeView("close_notes", None, "Done", "Complete resolves the incident; close notes"),
        FieldChangeView("impact", "3", "2", priority),
        FieldChangeView("urgency", "3", "2", priority),
    ]
    assert return_sentence("T20261202.0032", changes) == (
        "T20261202.0032 moved to Complete → incident Resolved; "
        "T20261202.0032 priority High → incident impact Medium, urgency Medium, "
        "closed with code 'Solved (Permanently)'"
    )
    waiting = "Autotask status 'Waiting Customer' -> state 3 (On Hold)"
    on_hold = [
        FieldChangeView("state", "2", "3", waiting),
        FieldChangeView("hold_reason", None, "1", "Autotask status 'Waiting Customer' -> hold reason 1"),
    ]
    assert return_sentence("T1", on_hold) == "T1 moved to Waiting Customer → incident On Hold, hold reason 1"


def test_preview_is_a_ticket_with_the_rules_one_click_away(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    from app.domain.outbound import FieldPreview, Preview

    fields = (
        FieldPreview(
            "title", "Printer jams", "Printer jams", (("short_description", "Printer jams"),), "copy"
        ),
        FieldPreview("description", "Paper <b>jam</b>", "Paper <b>jam</b>", (), "template"),
        FieldPreview("status", 1, "New", (), "constant 'New'"),
        FieldPreview("dueDateTime", "2026-05-04T12:00:00Z", "2026-05-04 12:00 UTC", (), "due 8 h"),
        FieldPreview("companyID", 174, "Contoso Ltd (174)", (), "from configuration outbound.company_id"),
        FieldPreview("externalID", "sys000001", "sys000001", (("sys_id", "sys000001"),), "sys_id"),
    )
    engine.previews["INC0000001"] = Preview("sys000001", "INC0000001", {}, fields, (), ())
    engine.add_rows([make_row(1, caller="Tom Okafor")])

    async def scenario() -> None:
        await window.load()
        window.show()
        pane = window.queue_tab.preview
        window.queue_tab.select_number("INC0000001")
        await wait_until(lambda: pane.preview is not None)
        assert pane.pages.currentWidget() is pane.ticket
        ticket = pane.ticket
        assert ticket.title.text() == "Printer jams"
        assert ticket.values["Company"] == "Contoso Ltd (174)"
        assert ticket.values["Status"] == "New"
        local_due = datetime(2026, 5, 4, 12, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
        assert ticket.values["Due"] == local_due
        assert ticket.values["Caller"] == "Tom Okafor"
        assert ticket.description.text() == "Paper <b>jam</b>"
        assert ticket.description.textFormat() == Qt.TextFormat.PlainText  # remote text is plain
        pane.mapping_button.setChecked(True)
        assert pane.pages.currentWidget() is pane.table
        pane.mapping_button.setChecked(False)
        assert pane.pages.currentWidget() is pane.ticket

    loop.run_until_complete(scenario())


def test_links_show_the_tickets_current_status_and_priority(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    from app.ui.links_view import COL_TICKET_NOW

    synced = {"status": "In Progress", "priority": "High", "resolution": ""}
    engine.links = [
        LinkRow(1, "sys1", "INC0000001", 7001, "T1", NOW, "done", None, NOW, NOW, return_synced=synced),
        LinkRow(2, "sys2", "INC0000002", 7002, "T2", NOW, "pending", None, NOW, None),
    ]

    async def scenario() -> None:
        await window.load()
        proxy = window.links_tab.proxy
        texts = {proxy.index(r, 0).data(): proxy.index(r, COL_TICKET_NOW).data() for r in range(2)}
        assert texts == {"INC0000001": "In Progress · High", "INC0000002": "not read yet"}

    loop.run_until_complete(scenario())


def test_reject_with_a_reason_records_who_and_why(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    from app.ui.format import desk_user

    engine.add_rows([make_row(1), make_row(2)])

    async def scenario() -> None:
        await window.load()
        window.show()
        tab = window.queue_tab
        tab.select_number("INC0000001")
        menu = tab.row_menu(tab.view.currentIndex().row())
        next(a for a in menu.actions() if a.text() == "Reject with a r&eason…").trigger()
        dialog = tab.reason_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.setTextValue("duplicate of INC0000007")
        dialog.accept()
        await wait_until(lambda: bool(engine.decisions))
        assert engine.decisions == [
            ("reject", ["INC0000001"], desk_user(engine.config), "duplicate of INC0000007")
        ]
        # approvals say who decided too
        tab.select_number("INC0000002")
        pane = tab.preview
        await wait_until(lambda: pane.preview is not None and pane.preview.number == "INC0000002")
        pane.approve_button.click()
        await wait_until(lambda: len(engine.decisions) == 2)
        assert engine.decisions[1] == ("approve", ["INC0000002"], desk_user(engine.config), None)

    loop.run_until_complete(scenario())


def test_rejected_item_shows_who_and_why(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    engine.add_rows([make_row(1, state="rejected", decided_by="alice", drop_reason="duplicate")])

    async def scenario() -> None:
        await window.load()
        window.show()
        tab = window.queue_tab
        tab.select_state_filter("Rejected")
        await wait_until(lambda: tab.model.rowCount() == 1)
        tab.select_number("INC0000001")
        await wait_until(lambda: tab.preview.preview is not None)
        assert "Rejected by alice: duplicate" in tab.preview.subtitle.text()

    loop.run_until_complete(scenario())


def test_push_anyway_asks_why_and_records_who(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    from app.ui.format import desk_user

    engine.explanations["INC0010009"] = Explanation(
        key="INC0010009", found=True, in_queue=False, state=None, summary="INC0010009 does not match",
        reasons=("category is 'inquiry', not one of the trigger's",), can_push_anyway=True,
    )  # fmt: skip

    async def scenario() -> None:
        await window.load()
        window.show()
        window.explain_number("10009")
        await wait_until(lambda: "does not match" in window.explain_panel.text())  # 10009 -> INC0010009
        assert window.explain_panel.push_button.isVisible()
        window.explain_panel.push_button.click()
        dialog = window.push_anyway_dialog
        assert dialog is not None and dialog.isVisible()
        dialog.setTextValue("VIP caller")
        dialog.accept()
        await wait_until(lambda: bool(engine.decisions))
        assert engine.decisions == [("push_anyway", ["INC0010009"], desk_user(engine.config), "VIP caller")]
        await wait_until(lambda: "pushed anyway" in window.toast.text())

    loop.run_until_complete(scenario())


def test_links_show_the_tickets_title(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    from app.ui.links_view import COL_TITLE

    engine.links = [
        LinkRow(
            1,
            "sys1",
            "INC0000001",
            7001,
            "T1",
            NOW,
            "done",
            None,
            NOW,
            NOW,
            ticket_title="Printer <b>jams</b>",
        ),
        LinkRow(2, "sys2", "INC0000002", 7002, "T2", NOW, "pending", None, NOW, None),
    ]

    async def scenario() -> None:
        await window.load()
        model = window.links_tab.model
        assert model.headerData(COL_TITLE, Qt.Orientation.Horizontal) == "Title"
        proxy = window.links_tab.proxy
        titles = {proxy.index(r, 0).data(): proxy.index(r, COL_TITLE).data() for r in range(2)}
        assert titles == {"INC0000001": "Printer <b>jams</b>", "INC0000002": "not read yet"}
        tip = proxy.index(
            next(r for r in range(2) if proxy.index(r, 0).data() == "INC0000001"), COL_TITLE
        ).data(Qt.ItemDataRole.ToolTipRole)
        assert "&lt;b&gt;" in tip  # remote text shown literally

    loop.run_until_complete(scenario())


def test_an_outage_line_fits_the_status_bar_at_1280(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """Seen under Xvfb: "ServiceNow: degraded · last poll … · ServiceNow: Service Unav" was cut."""
    failing = HealthState(
        level="degraded",
        message="ServiceNow: Service Unavailable (HTTP 503)",
        last_success=NOW,
        last_failure=NOW,
        next_poll=now_utc() + timedelta(seconds=4),
    )

    async def scenario() -> None:
        window.resize(1280, 800)
        await window.load()
        window.show()
        strip = window.status_strip
        strip.set_health("servicenow", failing)
        await wait_until(lambda: strip.width() > 1000)
        line = strip.labels["servicenow"].text
        assert line.text().count("ServiceNow") == 1  # the system named once
        assert "Service Unavailable (HTTP 503)" in line.text()
        await wait_until(lambda: line.width() >= line.sizeHint().width())  # laid out whole, not cut
        for other in (strip.labels["autotask"].text,):
            assert other.width() >= other.sizeHint().width()
        budget = strip.budget  # gives way first, with an ellipsis rather than a cut
        assert budget.text() == budget.full_text() or budget.text().endswith("…")

    loop.run_until_complete(scenario())


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_problem_rows_read_at_4_5_to_1(dark: bool) -> None:
    """A failed row's red text on its red tint read at 4.1:1 in the dark theme (seen in Activity)."""
    from app.ui.theme import Tone, foreground, tint

    pal = QPalette()
    window, base = ("#323232", "#2d2d2d") if dark else ("#efefef", "#ffffff")
    pal.setColor(QPalette.ColorRole.Window, QColor(window))
    pal.setColor(QPalette.ColorRole.Base, QColor(base))
    for tone in (Tone.ERROR, Tone.WARNING, Tone.OK, Tone.INFO):
        text = foreground(tone, pal)
        assert contrast_ratio(text, pal.color(QPalette.ColorRole.Base)) >= 4.5, tone
        for strength in (0.1, 0.12):  # the queue's and the activity's problem rows
            assert contrast_ratio(text, tint(tone, pal, strength=strength)) >= 4.5, (tone, strength)
