"""A visible ring around the focused list: the keyboard's position is never a guess.

The ring is a ``QFocusFrame``: a small widget of Qt's, drawn around the list's edge above the other
widgets of the window, that follows the list's geometry by itself (in Qt, nothing of ours runs while
the list paints or resizes). One frame moves to whichever ringed list has the focus. It is drawn by
Fusion in the highlight colour on every platform (Windows 11's own style draws frames in a fixed
colour, whatever the palette).

It was a style sheet (``QTableView:focus { border: ... }``): a style sheet on a view routes the
painting of every cell through Qt's style-sheet style and lets the widgets behind it show through,
so each repaint of the queue also repainted the window's backgrounds and took about twice as long
(docs/performance.md, "fourth pass").
"""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QApplication,
    QFocusFrame,
    QProxyStyle,
    QStyle,
    QStyleHintReturn,
    QStyleOption,
    QWidget,
)

RINGED = "focusRing"  # the dynamic property that marks a list for the ring


def add_focus_ring(widget: QWidget) -> None:
    """Ring ``widget`` (a list, a table) while it has the keyboard focus."""
    widget.setProperty(RINGED, True)
    _FocusRing.follow_focus()
    if widget.hasFocus() and _FocusRing.current is not None:  # it will not move there again
        _FocusRing.current.moved(None, widget)


def has_focus_ring(widget: QWidget) -> bool:
    """Whether the ring is drawn around ``widget`` now."""
    ring = _FocusRing.current
    frame = ring.frame if ring is not None else None
    return frame is not None and frame.widget() is widget and frame.isVisible()


class _RingStyle(QProxyStyle):
    """Fusion, with the focus frame above the window's widgets: a list that fills its parent (most
    do) would clip a frame drawn inside that parent."""

    def __init__(self) -> None:
        super().__init__("Fusion")

    def styleHint(  # noqa: N802  (Qt's name)
        self,
        hint: QStyle.StyleHint,
        option: QStyleOption | None = None,
        widget: QWidget | None = None,
        returnData: QStyleHintReturn | None = None,  # noqa: N803
    ) -> int:
        if hint == QStyle.StyleHint.SH_FocusFrame_AboveWidget:
            return 1
        return super().styleHint(hint, option, widget, returnData)


class _FocusRing(QObject):
    """One watcher of the application's focus for every ringed list (a slot per focus move, not
    an event filter on the lists: nothing of it runs while they paint)."""

    current: _FocusRing | None = None

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.style = _RingStyle()  # kept here: a widget does not own the style it is given
        self.frame: QFocusFrame | None = None
        app.focusChanged.connect(self.moved)

    @classmethod
    def follow_focus(cls) -> None:
        app = QApplication.instance()
        if not isinstance(app, QApplication):
            return
        try:
            following = cls.current is not None and cls.current.parent() is app
        except RuntimeError:  # the application it followed is gone
            following = False
        if not following:
            cls.current = cls(app)

    def moved(self, _old: QWidget | None, new: QWidget | None) -> None:
        if new is None or not new.property(RINGED) or new.parentWidget() is None:
            if self.frame is not None:
                self.frame.setWidget(None)  # type: ignore[arg-type]  # Qt takes nullptr: hides it
            return
        if self.frame is None:
            self.frame = QFocusFrame(new.window())  # owned by Qt: it goes with its window
            self.frame.setStyle(self.style)
            self.frame.destroyed.connect(self._frame_gone)
        palette = QPalette(new.palette())  # Fusion paints the focus frame in the window-text colour
        palette.setColor(QPalette.ColorRole.WindowText, palette.color(QPalette.ColorRole.Highlight))
        self.frame.setPalette(palette)
        self.frame.setWidget(new)

    def _frame_gone(self) -> None:
        self.frame = None
