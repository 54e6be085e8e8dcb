"""Line icons from resources/icons, tinted with the palette so they work in light and dark mode."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette, QPixmap

from kindred.ui.theme import RESOURCES


@cache
def _svg(name: str) -> str | None:
    path = RESOURCES / "icons" / f"{name}.svg"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def icon(name: str, color: QColor | None = None, size: int = 48) -> QIcon:
    """The named icon drawn in `color` (default: the palette's text colour); empty if missing."""
    svg = _svg(name)
    if svg is None:
        return QIcon()
    if color is None:
        color = QGuiApplication.palette().color(QPalette.ColorRole.WindowText)
    data = svg.replace("currentColor", color.name()).replace(
        'width="24" height="24"', f'width="{size}" height="{size}"')
    pixmap = QPixmap()
    pixmap.loadFromData(QByteArray(data.encode()), "SVG")
    return QIcon(pixmap)


def app_icon() -> QIcon:
    path = RESOURCES / "kindred.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
