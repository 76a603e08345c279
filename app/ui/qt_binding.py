"""A check of the Qt binding itself, run before the desktop app starts.

PySide6 6.12.0 drops one reference to ``None`` on every call of a method that returns nothing
(``setText``, ``processEvents``, ...). On Python 3.11, where ``None`` is an ordinary object with a
reference count, a busy window reaches zero within minutes and the process dies with
"Fatal Python error: none_dealloc: deallocating None". From Python 3.12 ``None`` is immortal and the
lost references do no harm. pyproject.toml excludes that release; this catches an environment that
was installed by hand.
"""

from __future__ import annotations

import gc
import sys

from PySide6 import __version__ as PYSIDE_VERSION  # noqa: N812
from PySide6.QtCore import QObject

PROBE_CALLS = 200


def binding_drops_none() -> bool:
    """True when calling a Qt method that returns nothing loses references to ``None`` and this
    Python can die of it. Costs a few hundred cheap calls (which take at most that many)."""
    if sys.version_info >= (3, 12):
        return False  # None is immortal: its count never reaches zero
    probe = QObject()
    collecting = gc.isenabled()
    gc.disable()  # a collection freeing garbage that held None must not look like a loss
    try:
        before = sys.getrefcount(None)
        for _ in range(PROBE_CALLS):
            probe.setObjectName("probe")  # returns nothing
        lost = before - sys.getrefcount(None)
    finally:
        if collecting:
            gc.enable()
    return lost >= PROBE_CALLS // 2


def binding_problem() -> str | None:
    """A plain-words reason the desktop app must not start on this Qt binding, or None."""
    if not binding_drops_none():
        return None
    return (
        f"PySide6 {PYSIDE_VERSION} has a defect that makes this app crash on Python "
        f"{sys.version_info.major}.{sys.version_info.minor} after a few minutes "
        '("deallocating None"). Install the version the project pins: '
        "pip install --require-hashes -r requirements.lock (or: pip install "
        '"PySide6-Essentials!=6.12.0"). The headless engine (triage-sync run) is not affected.'
    )
