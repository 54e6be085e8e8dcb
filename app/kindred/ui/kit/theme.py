"""Light and dark, following the system: colours are derived from the palette, never fixed.

The stylesheet is generated from the current palette (mixes of its roles), so the same rules
look right in light and dark mode and follow the system when it switches. `KINDRED_COLOR_SCHEME`
(light / dark) forces a scheme, e.g. for screenshots.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from kindred.ui.kit.resources import RESOURCES


def mix(a: QColor, b: QColor, t: float) -> str:
    """`a` moved a fraction `t` towards `b`, as a stylesheet colour."""
    r = a.redF() + (b.redF() - a.redF()) * t
    g = a.greenF() + (b.greenF() - a.greenF()) * t
    bl = a.blueF() + (b.blueF() - a.blueF()) * t
    return str(QColor.fromRgbF(r, g, bl).name())


def is_dark(palette: QPalette | None = None) -> bool:
    palette = palette or QGuiApplication.palette()
    return bool(palette.color(QPalette.ColorRole.Window).lightness() < 128)


def dark_palette() -> QPalette:
    """Fusion's colours for dark mode, for systems that report dark but give no palette."""
    p = QPalette()
    roles = QPalette.ColorRole
    window, base, text = QColor(37, 37, 40), QColor(28, 28, 31), QColor(230, 230, 233)
    for role, color in [
        (roles.Window, window), (roles.WindowText, text), (roles.Base, base),
        (roles.AlternateBase, QColor(45, 45, 49)), (roles.Text, text),
        (roles.Button, QColor(50, 50, 54)), (roles.ButtonText, text),
        (roles.ToolTipBase, QColor(50, 50, 54)), (roles.ToolTipText, text),
        (roles.Highlight, QColor(76, 132, 220)), (roles.HighlightedText, QColor(255, 255, 255)),
        (roles.Link, QColor(120, 170, 255)), (roles.PlaceholderText, QColor(140, 140, 146)),
        (roles.Mid, QColor(70, 70, 75)), (roles.Midlight, QColor(60, 60, 64)),
        (roles.Dark, QColor(20, 20, 22)), (roles.Shadow, QColor(0, 0, 0)),
        (roles.Light, QColor(80, 80, 85)), (roles.BrightText, QColor(255, 120, 120)),
    ]:
        p.setColor(role, color)
    for role in (roles.Text, roles.WindowText, roles.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 126))
    return p


def stylesheet(palette: QPalette) -> str:
    """The app's rules, with colours computed from `palette`."""
    c = palette.color
    r = QPalette.ColorRole
    window, base, text = c(r.Window), c(r.Base), c(r.Text)
    accent = c(r.Highlight)
    dark = is_dark(palette)
    values = {
        "rail": mix(window, text, 0.06 if dark else 0.04),
        "sidebar": mix(window, base, 0.5),
        "border": mix(window, text, 0.16),
        "muted": mix(text, base, 0.45),
        "hover": mix(base, text, 0.08),
        "selected": mix(base, accent, 0.28 if dark else 0.16),
        "user_bubble": mix(base, accent, 0.22 if dark else 0.10),
        "input_bg": base.name(),
        "accent": accent.name(),
        "accent_text": c(r.HighlightedText).name(),
        "accent_hover": mix(accent, text, 0.15),
        "text": text.name(),
        "base": base.name(),
        "error": "#e0605a" if dark else "#b3261e",
    }
    qss = (RESOURCES / "style.qss").read_text(encoding="utf-8") \
        if (RESOURCES / "style.qss").is_file() else ""
    for key, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        qss = qss.replace("@" + key, value)
    return qss


class Theme(QObject):
    """Applies the stylesheet now and whenever the system's palette or scheme changes.

    The system palette is used untouched when it matches the scheme; we only supply a dark
    palette when the system asks for dark without providing one (or when forced).
    """

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.app = app
        self.forced = os.environ.get("KINDRED_COLOR_SCHEME", "").lower()
        app.styleHints().colorSchemeChanged.connect(
            lambda _scheme: QTimer.singleShot(0, self.apply))
        self.apply()

    def apply(self) -> None:
        scheme = self.app.styleHints().colorScheme()
        want_dark = self.forced == "dark" or (
            self.forced != "light" and scheme == Qt.ColorScheme.Dark)
        palette = self.app.palette()
        if want_dark and not is_dark(palette):
            palette = dark_palette()
            self.app.setPalette(palette)
        elif self.forced == "light" and is_dark(palette):
            palette = self.app.style().standardPalette()
            self.app.setPalette(palette)
        self.app.setStyleSheet(stylesheet(palette))
        from kindred.ui.kit.icons import retint

        retint()

    @property
    def dark(self) -> bool:
        return is_dark(self.app.palette())
