"""The two informational boxes of the More menu: keyboard shortcuts and About Kindred. Built
here, opened by the main window (window-modal, no nested event loop)."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from kindred.ui.kit.icons import app_icon

SHORTCUTS = [
    ("Ctrl+N", "New chat"), ("Ctrl+F", "Search conversations"), ("Enter", "Send"),
    ("Shift+Enter", "New line"), ("Esc", "Stop the answer"),
    ("Ctrl+Shift+R", "Regenerate the last answer"), ("Ctrl+Shift+C", "Copy the last answer"),
    ("F2", "Rename the conversation"), ("Del", "Delete the conversation (in the list)"),
    ("Ctrl+L", "Go to the message box"), ("Ctrl+,", "Assistant settings"),
    ("Ctrl+Alt+P", "Pause or resume the rollout"), ("Ctrl+Alt+N", "Next rollout step now"),
    ("Ctrl+Alt+B", "Roll back the rollout"), ("Ctrl+Alt+T", "Start a side-by-side trial"),
    ("Ctrl+1…9", "Switch page"), ("Ctrl+Q", "Quit"),
]


def shortcuts_box(parent: QWidget) -> QMessageBox:
    rows = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>"
                   for k, v in SHORTCUTS)
    return QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>",
                       parent=parent)


def about_box(parent: QWidget) -> QMessageBox:
    from kindred import __version__

    box = QMessageBox(QMessageBox.Icon.NoIcon, "About Kindred",
                      f"<h3>Kindred {__version__}</h3><p>Your own local assistant. "
                      "It runs on this computer, learns only with your consent, and "
                      "never forgets what it learned.</p>", parent=parent)
    box.setIconPixmap(app_icon().pixmap(64, 64))
    return box
