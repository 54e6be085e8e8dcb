"""Line icons from resources/icons, tinted with the palette so they work in light and dark mode."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QAbstractButton, QApplication, QToolButton

from kindred.ui.kit.resources import RESOURCES


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


def icon_text(name: str, text: str = "", object_name: str = "iconText",
              role: QPalette.ColorRole | None = None) -> QToolButton:
    """A label made of one of our icons and a text. Glyphs come from our own SVGs, never from
    emoji or symbol characters, which render as empty boxes where no such font is installed.
    A flat tool button that takes no focus, so `retint` redraws it with the palette."""
    label = QToolButton()
    label.setObjectName(object_name)
    label.setProperty("iconText", True)
    label.setText(text)
    label.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon if text
                             else Qt.ToolButtonStyle.ToolButtonIconOnly)
    label.setAutoRaise(True)
    label.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    if name:
        set_icon(label, name, role)
    return label


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
