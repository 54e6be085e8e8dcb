"""Line icons from resources/icons, tinted with the palette so they work in light and dark mode."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractButton, QApplication

from kindred.ui.resources import RESOURCES


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


def set_icon(widget: QAbstractButton, name: str, role: QPalette.ColorRole | None = None) -> None:
    """Give `widget` a tinted icon that is re-tinted when the palette changes (see `retint`)."""
    widget.setProperty("kindredIcon", name)
    widget.setProperty("kindredIconRole", role.name if role is not None else "")
    widget.setIcon(_tinted(name, role))


def _tinted(name: str, role: QPalette.ColorRole | None) -> QIcon:
    color = QGuiApplication.palette().color(role) if role is not None else None
    return icon(name, color)


def retint() -> None:
    """Redraw every icon set with `set_icon` in the current palette's colours."""
    for widget in QApplication.allWidgets():
        name = widget.property("kindredIcon")
        if name and isinstance(widget, QAbstractButton):  # set_icon only marks buttons
            role_name = widget.property("kindredIconRole") or ""
            role = getattr(QPalette.ColorRole, role_name) if role_name else None
            widget.setIcon(_tinted(str(name), role))


def app_icon() -> QIcon:
    path = RESOURCES / "kindred.svg"
    return QIcon(str(path)) if path.is_file() else QIcon()
