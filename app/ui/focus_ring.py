"""A visible ring around the focused list: the keyboard's position is never a guess.

The list's own frame is the ring: 2 px in the palette's mid tone, in the highlight colour while the
list has the focus (its content does not move). It was a style sheet (``QTableView:focus { border:
... }``): a style sheet on a view routes the painting of every cell through Qt's style-sheet style
and lets the widgets behind it show through, so each repaint of the queue also repainted the
window's backgrounds and took about twice as long (docs/performance.md, "fourth pass").
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QFrame, QWidget

RINGED = "focusRing"  # the dynamic property that marks a list for the ring
RING_WIDTH = 2
RESTING = QPalette.ColorRole.Mid
FOCUSED = QPalette.ColorRole.Highlight


def add_focus_ring(frame: QFrame) -> None:
    """Ring ``frame`` (a list, a table) while it has the keyboard focus."""
    frame.setProperty(RINGED, True)
    frame.setFrameShape(QFrame.Shape.Box)
    frame.setFrameShadow(QFrame.Shadow.Plain)  # a plain box is drawn in the foreground role's colour
    frame.setLineWidth(RING_WIDTH)
    frame.setForegroundRole(RESTING)  # the cells' text uses the Text role, not this one
    _FocusRing.follow_focus()


def has_focus_ring(frame: QFrame) -> bool:
    """Whether ``frame`` shows the focus ring now."""
    return bool(frame.property(RINGED)) and frame.foregroundRole() == FOCUSED


class _FocusRing(QObject):
    """One watcher of the application's focus for every ringed list (a slot per focus move, not
    an event filter on the lists: nothing of it runs while they paint)."""

    current: _FocusRing | None = None

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        app.focusChanged.connect(self._moved)

    @classmethod
    def follow_focus(cls) -> None:
        app = QApplication.instance()
        if cls.current is None and isinstance(app, QApplication):
            cls.current = cls(app)

    @staticmethod
    def _moved(old: QWidget | None, new: QWidget | None) -> None:
        for widget, role in ((old, RESTING), (new, FOCUSED)):
            if isinstance(widget, QFrame) and widget.property(RINGED):
                widget.setForegroundRole(role)
                widget.update()  # the frame: the cells inside repaint only where it is dirty
