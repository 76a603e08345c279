"""Coloured priority and state badges for the queue (ServiceNow's priority colours).

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
_STATE_LIGHT = {
    "failed": "#c62828",
    "pending": "#1565c0",
    "approved": "#2e7d32",
    "pushing": "#00695c",
    "rejected": "#757575",
    "duplicate": "#6a1b9a",  # a suspected duplicate waiting for a person
}
_STATE_DARK = {
    "failed": "#ef5350",
    "pending": "#64a8f0",
    "approved": "#66bb6a",
    "pushing": "#4db6ac",
    "rejected": "#9e9e9e",
    "duplicate": "#ce93d8",
}


def badge_colors(kind: str, value: object, pal: QPalette | None = None) -> tuple[QColor, QColor]:
    """(background, text) of a badge; text is black or white, whichever contrasts more."""
    dark = is_dark(pal or palette())
    if kind == "priority":
        name = (_PRIORITY_DARK if dark else _PRIORITY_LIGHT).get(value if isinstance(value, int) else 0)
    else:
        name = (_STATE_DARK if dark else _STATE_LIGHT).get(str(value))
    background = QColor(name or "#9e9e9e")
    black, white = QColor(0, 0, 0), QColor(255, 255, 255)
    text = black if contrast_ratio(black, background) >= contrast_ratio(white, background) else white
    return background, text


_BRUSHES: dict[tuple[str, object, bool], tuple[QBrush, QBrush]] = {}


def badge_brushes(kind: str, value: object, dark: bool) -> tuple[QBrush, QBrush]:
    """(background, text) brushes for a badge cell, cached per palette brightness."""
    key = (kind, value, dark)
    found = _BRUSHES.get(key)
    if found is None:
        pal = QPalette()
        pal.setColor(QPalette.ColorRole.Window, QColor("#202020" if dark else "#f0f0f0"))
        background, text = badge_colors(kind, value, pal)
        found = _BRUSHES[key] = (QBrush(background), QBrush(text))
    return found
