"""Coloured priority and state badges for the queue (ServiceNow's priority colours; states loud
only when they need attention).

The colours are the cell's background and text roles, painted by Qt's own delegate: a Python
``paint`` per cell crashed long sessions in PySide6 (a reference drained from None).

Each badge's text colour is black or white, whichever reads better on the badge, and every pair is
checked for a 4.5:1 contrast in the light and the dark palette (tests/ui/test_desk_glance.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPalette

from app.ui.theme import contrast_ratio, is_dark, palette

BadgeRole = Qt.ItemDataRole.UserRole + 5  # (kind, value): ("priority", 2) or ("state", "failed")

# ServiceNow's list colours: 1 Critical red, 2 High orange, 3 Moderate yellow, 4 Low blue, 5 grey.
_PRIORITY_LIGHT = {1: "#c62828", 2: "#e65100", 3: "#f9c74f", 4: "#1565c0", 5: "#9e9e9e"}
_PRIORITY_DARK = {1: "#ef5350", 2: "#ff8a3d", 3: "#f9c74f", 4: "#64a8f0", 5: "#8d8d8d"}
# States: the common, calm ones (waiting for a decision, rejected) are plain text, so the eye is
# drawn only to what needs attention: failed (red) and a suspected duplicate (purple) are the loud
# badges; approved and pushing are soft tints (distinct, calm). Each (background, text) is 4.5:1.
QUIET_STATES = frozenset({"pending", "rejected"})
_STATE_LIGHT = {
    "failed": ("#b71c1c", "#ffffff"),
    "approved": ("#e2f1e3", "#1b5e20"),
    "pushing": ("#deeef5", "#0d4a6b"),
    "duplicate": ("#6a1b9a", "#ffffff"),  # a suspected duplicate waiting for a person
}
_STATE_DARK = {
    "failed": ("#b71c1c", "#ffffff"),
    "approved": ("#1e3b21", "#a5d6a7"),
    "pushing": ("#15334a", "#9fd0f0"),
    "duplicate": ("#ce93d8", "#000000"),
}


def badge_colors(kind: str, value: object, pal: QPalette | None = None) -> tuple[QColor, QColor] | None:
    """(background, text) of a badge, or None for a quiet state shown as plain text. A priority's
    text is black or white, whichever contrasts more on its colour."""
    dark = is_dark(pal or palette())
    if kind == "state":
        pair = (_STATE_DARK if dark else _STATE_LIGHT).get(str(value))
        return (QColor(pair[0]), QColor(pair[1])) if pair else None
    name = (_PRIORITY_DARK if dark else _PRIORITY_LIGHT).get(value if isinstance(value, int) else 0)
    background = QColor(name or "#9e9e9e")
    black, white = QColor(0, 0, 0), QColor(255, 255, 255)
    text = black if contrast_ratio(black, background) >= contrast_ratio(white, background) else white
    return background, text


_BRUSHES: dict[tuple[str, object, bool], tuple[QBrush, QBrush] | None] = {}


def badge_brushes(kind: str, value: object, dark: bool) -> tuple[QBrush, QBrush] | None:
    """(background, text) brushes for a badge cell (None: plain text), cached per palette brightness."""
    key = (kind, value, dark)
    if key not in _BRUSHES:
        pal = QPalette()
        pal.setColor(QPalette.ColorRole.Window, QColor("#202020" if dark else "#f0f0f0"))
        colors = badge_colors(kind, value, pal)
        _BRUSHES[key] = (QBrush(colors[0]), QBrush(colors[1])) if colors else None
    return _BRUSHES[key]
