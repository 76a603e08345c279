"""Palette-derived colours and icons, so the UI reads well in light and dark palettes.

Only the semantic tints (warning, error, success, info) are not palette roles; they are blended into
the current ``Base``/``Window`` colour so they stay subtle on light and dark backgrounds alike.
"""

from __future__ import annotations

import logging
from enum import Enum

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QFont, QFontDatabase, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QWidget

log = logging.getLogger(__name__)


class Tone(Enum):
    INFO = "info"
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


_BASE_HUES: dict[Tone, QColor] = {
    Tone.INFO: QColor(40, 120, 220),
    Tone.OK: QColor(40, 160, 80),
    Tone.WARNING: QColor(225, 150, 0),
    Tone.ERROR: QColor(215, 45, 45),
}


def palette() -> QPalette:
    return QGuiApplication.palette()


def is_dark(pal: QPalette | None = None) -> bool:
    pal = pal or palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def _blend(a: QColor, b: QColor, amount: float) -> QColor:
    """``amount`` of ``b`` over ``a``."""
    return QColor(
        round(a.red() + (b.red() - a.red()) * amount),
        round(a.green() + (b.green() - a.green()) * amount),
        round(a.blue() + (b.blue() - a.blue()) * amount),
    )


def tint(tone: Tone, pal: QPalette | None = None, *, strength: float | None = None) -> QColor:
    """A background tint for rows/banners: the tone blended into the palette's base colour."""
    pal = pal or palette()
    base = pal.color(QPalette.ColorRole.Base)
    amount = strength if strength is not None else (0.32 if is_dark(pal) else 0.16)
    return _blend(base, _BASE_HUES[tone], amount)


def banner_background(tone: Tone, pal: QPalette | None = None) -> QColor:
    pal = pal or palette()
    window = pal.color(QPalette.ColorRole.Window)
    return _blend(window, _BASE_HUES[tone], 0.38 if is_dark(pal) else 0.22)


def foreground(tone: Tone, pal: QPalette | None = None) -> QColor:
    """A text colour of the tone that reads at 4.5:1 on the palette's base and on the tone's own
    row tint (a failed row's red text on its red tint read at 4.1:1 in the dark palette, warning
    amber on white at 4.2:1)."""
    pal = pal or palette()
    hue = _BASE_HUES[tone]
    if is_dark(pal):
        candidate = _blend(hue, QColor(255, 255, 255), 0.45)
    else:
        candidate = _blend(hue, QColor(0, 0, 0), 0.25)
    return readable(candidate, tint(tone, pal, strength=ROW_TINT))


def text_color(pal: QPalette | None = None) -> QColor:
    pal = pal or palette()
    return pal.color(QPalette.ColorRole.Text)


def relative_luminance(color: QColor) -> float:
    """WCAG 2 relative luminance."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.red()) + 0.7152 * channel(color.green()) + 0.0722 * channel(color.blue())


def contrast_ratio(a: QColor, b: QColor) -> float:
    """WCAG 2 contrast ratio, 1..21; text needs at least 4.5."""
    la, lb = relative_luminance(a), relative_luminance(b)
    light, dark = max(la, lb), min(la, lb)
    return (light + 0.05) / (dark + 0.05)


MIN_CONTRAST = 4.5
ROW_TINT = 0.12  # the strongest tint a row with a problem gets (queue 0.1, activity 0.12)


def readable(color: QColor, background: QColor, minimum: float = MIN_CONTRAST) -> QColor:
    """``color`` moved towards the palette's text extreme until it reaches ``minimum`` contrast."""
    target = QColor(0, 0, 0) if relative_luminance(background) > 0.18 else QColor(255, 255, 255)
    amount = 0.0
    result = QColor(color)
    while contrast_ratio(result, background) < minimum and amount < 1.0:
        amount = min(1.0, amount + 0.05)
        result = _blend(color, target, amount)
    return result


def hint_color(pal: QPalette | None = None) -> QColor:
    """Secondary text (hints, empty-state bodies): quieter than text, still 4.5:1 on the window."""
    pal = pal or palette()
    window = pal.color(QPalette.ColorRole.Window)
    return readable(pal.color(QPalette.ColorRole.PlaceholderText), window)


def hint_palette(pal: QPalette | None = None) -> QPalette:
    """A palette whose WindowText is the readable hint colour (for QLabel.setPalette)."""
    result = QPalette(pal or palette())
    result.setColor(QPalette.ColorRole.WindowText, hint_color(pal))
    return result


def std_icon(pixmap: QStyle.StandardPixmap, widget: QWidget | None = None) -> QIcon:
    style = widget.style() if widget is not None else QApplication.style()
    return style.standardIcon(pixmap)


def tone_icon(tone: Tone, widget: QWidget | None = None) -> QIcon:
    pixmap = {
        Tone.INFO: QStyle.StandardPixmap.SP_MessageBoxInformation,
        Tone.OK: QStyle.StandardPixmap.SP_DialogApplyButton,
        Tone.WARNING: QStyle.StandardPixmap.SP_MessageBoxWarning,
        Tone.ERROR: QStyle.StandardPixmap.SP_MessageBoxCritical,
    }[tone]
    return std_icon(pixmap, widget)


def app_icon() -> QIcon:
    """The application icon from resources/icons, or a standard Qt icon when it is missing."""
    try:
        from app.resources import resource_path

        icon = QIcon()
        svg = resource_path("icons/triage-sync.svg")
        icon.addFile(str(svg))
        for size in (16, 24, 32, 48, 64, 128, 256, 512):
            try:
                icon.addFile(str(resource_path(f"icons/triage-sync-{size}.png")), QSize(size, size))
            except FileNotFoundError:
                continue
        if not icon.isNull():
            return icon
    except FileNotFoundError:
        log.debug("application icon missing; using a standard icon")
    return std_icon(QStyle.StandardPixmap.SP_BrowserReload)


def monospace_font() -> QFont:
    return QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)


def css_color(color: QColor) -> str:
    return color.name(QColor.NameFormat.HexRgb)
