"""UI test fixtures: a fake engine, a qasync loop per test, an in-memory keyring, isolated QSettings."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from real_engine_helpers import RealRig
from ui_fakes import FakeEngine, MemoryKeyring

from app.simulators.autotask import AutotaskSimulator
from app.simulators.servicenow import ServiceNowSimSettings, ServiceNowSimulator


@pytest.fixture(autouse=True)
def _never_real_keyring(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every UI test runs with an in-memory keyring, even when it did not ask for one (the
    ``memory_keyring`` fixture itself lives in tests/conftest.py)."""
    if "memory_keyring" in request.fixturenames:
        yield
        return
    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    yield
    keyring.set_keyring(previous)


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """A fresh qasync loop per test (qasync's own test pattern); loop or UI errors fail the test."""
    event_loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(event_loop)
    errors: list[dict[str, Any]] = []
    event_loop.set_exception_handler(lambda _loop, context: errors.append(context))
    collector = _ErrorCollector()
    logging.getLogger("app.ui").addHandler(collector)
    try:
        yield event_loop
    finally:
        logging.getLogger("app.ui").removeHandler(collector)
        pending = [task for task in asyncio.all_tasks(event_loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            event_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        event_loop.close()
        asyncio.set_event_loop(None)
        # The closed loop's Qt timers sit in reference cycles; collect them here, on the GUI thread.
        # Left to chance, the collector can run in a worker thread (the engine's store calls) and
        # destroy a QTimer there, which crashes Qt.
        gc.collect()
    if errors:
        raise AssertionError(f"event loop errors: {errors}")
    if collector.records:
        raise AssertionError("UI logged errors: " + "; ".join(r.getMessage() for r in collector.records))


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot: Any, engine: FakeEngine, settings: QSettings, loop: qasync.QEventLoop) -> Any:
    from app.ui.main_window import MainWindow

    win = MainWindow(engine, config_path=Path("/tmp/none.toml"), use_tray=False, settings=settings)
    qtbot.addWidget(win)
    return win


# ---- a real engine against both simulators (test_ui_real_engine, test_rules_window) -------------


@pytest.fixture
def collect_qt_garbage() -> Iterator[None]:
    """Collect cyclic garbage on the GUI thread before and after each test (after ``loop`` closes).

    Each test's closed qasync loop leaves QObjects in reference cycles (its ``_SimpleTimer`` with
    timers still registered, its executor's QThreads). The real engine allocates in worker threads
    (``asyncio.to_thread``), so an automatic collection may run there; Qt then destroys a timer
    object off its thread and the GUI thread segfaults in ``QTimerInfoList::activateTimers``.
    ``rig`` asks for it before ``loop``, so it is torn down after the loop closes. In between,
    automatic collection is off: a window, its editors and the engine's worker threads allocate
    enough during one scenario that a collection would otherwise start in a worker thread.
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture(scope="module")
def simulators() -> Iterator[tuple[ServiceNowSimulator, AutotaskSimulator]]:
    with ServiceNowSimulator(seed=23) as sn, AutotaskSimulator(seed=23) as at:
        yield sn, at


@pytest.fixture
def rig(
    collect_qt_garbage: None,
    simulators: tuple[ServiceNowSimulator, AutotaskSimulator],
    tmp_path: Path,
    loop: qasync.QEventLoop,
) -> Iterator[RealRig]:
    sn, at = simulators
    sn.reset()
    sn.settings = ServiceNowSimSettings()
    at.reset()
    rig = RealRig(sn, at, tmp_path)
    yield rig
    loop.run_until_complete(rig.close())  # every engine stopped and closed on the test's own loop
