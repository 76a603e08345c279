"""People at the desk: "anna is reviewing" in the queue and the preview, this desk's own claim,
the ask-first dialog before approving over someone, and what a lost race says."""

from __future__ import annotations

from typing import Any

import pytest
import qasync
from PySide6.QtWidgets import QMessageBox
from ui_fakes import FakeEngine, make_row, wait_until

from app.config import parse_config
from app.engine.events import ReviewersChanged
from app.engine.views import ActionResult
from app.ui.main_window import MainWindow
from app.ui.queue_model import COL_DESCRIPTION


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(parse_config({"desk": {"name": "bob"}}, "test.toml"))  # this desk is Bob's


def _description(window: MainWindow, number: str) -> str:
    model = window.queue_tab.model
    for position in range(model.rowCount()):
        if model.row_at(position).number == number:
            return str(model.index(position, COL_DESCRIPTION).data())
    raise AssertionError(f"{number} not listed")


async def _open(window: MainWindow, engine: FakeEngine) -> None:
    engine.add_rows([make_row(1, reviewers=("anna",)), make_row(2, reviewers=("bob",))])
    engine.open_by["INC0000001"] = ["anna", "bob"]
    await window.load()
    window.show()
    assert window.queue_tab.select_number("INC0000001")
    pane = window.queue_tab.preview
    await wait_until(lambda: "anna is reviewing" in pane.subtitle.text() and pane.approve_button.isEnabled())


def test_others_see_who_is_reviewing(window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop) -> None:
    async def scenario() -> None:
        await _open(window, engine)
        assert _description(window, "INC0000001").endswith("·  anna is reviewing")
        assert "reviewing" not in _description(window, "INC0000002")  # Bob's own claim is no news
        pane = window.queue_tab.preview
        assert "anna is reviewing this incident right now" in pane.subtitle.text()
        assert ("INC0000001", "bob") in engine.claims_made  # Bob's desk claimed it, under his name
        window.queue_tab.view.clearSelection()  # closing the item releases the claim at once
        await wait_until(lambda: engine.claims_made[-1] == (None, "bob"))

    loop.run_until_complete(scenario())


def test_approving_what_anna_reviews_asks_first(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]

    def question(_parent: Any, title: str, text: str, *_args: Any) -> QMessageBox.StandardButton:
        asked.append(f"{title}: {text}")
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    messages: list[str] = []

    async def scenario() -> None:
        await _open(window, engine)
        pane = window.queue_tab.preview
        pane.message.connect(messages.append)
        pane.approve_button.click()  # Cancel: nothing sent, and the desk says why
        assert asked == [
            "Someone else is reviewing: anna is reviewing INC0000001 right now.\nApprove anyway?"
        ]
        assert not any(call[0] == "approve" for call in engine.calls)
        assert messages[-1] == "Not approved: anna is reviewing INC0000001 right now."
        pane.approve_button.click()  # Yes: approved, by Bob, with the state Bob saw
        await wait_until(lambda: any(call[0] == "approve" for call in engine.calls))
        assert engine.decisions[-1] == ("approve", ["INC0000001"], "bob", None)
        assert engine.seen[-1] == {"INC0000001": "pending"}

    loop.run_until_complete(scenario())


def test_a_lost_race_says_who_won(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Yes)
    won = "INC0000001: already approved by anna at 10:14 UTC"

    async def approve(keys: Any, by: str = "user", *, seen: Any = None) -> list[ActionResult]:
        return [ActionResult(keys[0], True, won, status="unchanged")]

    engine.approve = approve  # type: ignore[method-assign]
    messages: list[str] = []

    async def scenario() -> None:
        await _open(window, engine)
        pane = window.queue_tab.preview
        pane.message.connect(messages.append)
        pane.approve_button.click()
        await wait_until(lambda: bool(messages))
        assert messages[-1] == f"Approved 0 incidents; {won}"

    loop.run_until_complete(scenario())


def test_settings_keep_the_desk_name(qtbot: Any, tmp_path: Any) -> None:
    """Settings → Sync → Your name: written as [desk] name, read back by the next start."""
    import tomllib

    from app.config import load_config
    from app.ui.settings_dialog import SettingsDialog

    path = tmp_path / "config.toml"
    dialog = SettingsDialog(parse_config({}, "test.toml"), path)
    qtbot.addWidget(dialog)
    dialog.desk_name_edit.setText("x" * 41)
    assert dialog.desk_value() is None and "at most 40 characters" in dialog.error_for("desk.name")
    dialog.desk_name_edit.setText("  Anna   Lind ")
    desk = dialog.desk_value()
    assert desk is not None and desk.name == "Anna Lind"
    sn, at = dialog.validate()
    if sn is None or at is None:  # an empty dialog: the systems' own checks are not this test's
        sn, at = dialog.config.servicenow, dialog.config.autotask
    dialog.write_config(sn, at, False, "", desk.name)
    assert tomllib.loads(path.read_text())["desk"] == {"name": "Anna Lind"}
    assert load_config(path).desk.name == "Anna Lind"


def test_rows_follow_the_claims_of_other_desks(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    async def scenario() -> None:
        await _open(window, engine)
        engine.open_by["INC0000002"] = ["carol"]  # Carol opened another incident meanwhile
        del engine.open_by["INC0000001"]  # and Anna moved on
        await window.queue_tab.refresh_reviewers()
        assert _description(window, "INC0000002").endswith("·  carol is reviewing")
        assert "reviewing" not in _description(window, "INC0000001")

    loop.run_until_complete(scenario())


def test_another_desks_claim_shows_at_once(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """The change feed's word (ReviewersChanged) re-reads the claims; the timer plays no part."""
    window.queue_tab._claims_timer.stop()

    async def scenario() -> None:
        await _open(window, engine)
        engine.open_by["INC0000002"] = ["carol"]  # Carol's desk opened it
        engine.bus.publish(ReviewersChanged())
        await wait_until(lambda: _description(window, "INC0000002").endswith("·  carol is reviewing"))

    loop.run_until_complete(scenario())


def test_the_open_items_reviewing_line_follows_the_other_desk_at_once(
    window: MainWindow, engine: FakeEngine, loop: qasync.QEventLoop
) -> None:
    """Carol opens, then leaves, the item this desk has open: its "carol is reviewing" line follows
    at once (it waited for this desk's next renewal, up to 45 s), and nothing is written for it."""
    window.queue_tab._claims_timer.stop()
    pane = window.queue_tab.preview

    async def scenario() -> None:
        await _open(window, engine)
        claims_before = list(engine.claims_made)
        engine.open_by["INC0000001"] = ["anna", "carol"]
        engine.bus.publish(ReviewersChanged())
        await wait_until(lambda: "anna and carol are reviewing" in pane.subtitle.text())
        engine.open_by["INC0000001"] = ["anna"]  # carol moved on
        engine.bus.publish(ReviewersChanged())
        await wait_until(lambda: "carol" not in pane.subtitle.text())
        assert "anna is reviewing" in pane.subtitle.text()
        assert engine.claims_made == claims_before  # a read, not a renewal (no ping-pong between desks)

    loop.run_until_complete(scenario())
