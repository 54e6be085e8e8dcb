"""What an empty conversation shows: who you talk to and how, plus a few starters."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from kindred.ui.kit.icons import app_icon

SUGGESTIONS = [  # (chip label, the message it sends)
    ("How do rainbows form?", "Explain how a rainbow forms, in two sentences."),
    ("Quick lunch ideas", "Give me three ideas for a quick healthy lunch."),
    ("A haiku about autumn", "Write a haiku about autumn."),
]


class EmptyState(QWidget):
    """What an empty conversation shows: who you talk to and how, plus a few starters."""

    suggestion_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        logo = QLabel()
        logo.setPixmap(app_icon().pixmap(72, 72))
        logo.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.title.setObjectName("emptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint = QLabel("Everything stays on this computer. Enter sends, Shift+Enter adds a "
                           "line, Esc stops an answer.")
        self.hint.setObjectName("emptyHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        for widget in (logo, self.title, self.hint):
            layout.addWidget(widget)
        layout.addSpacing(18)
        chips = QHBoxLayout()
        chips.addStretch(1)
        for label, text in SUGGESTIONS:
            chip = QPushButton(label)
            chip.setToolTip(text)
            chip.setObjectName("suggestion")
            chip.setCursor(Qt.CursorShape.PointingHandCursor)
            chip.clicked.connect(lambda _=False, t=text: self.suggestion_clicked.emit(t))
            chips.addWidget(chip)
        chips.addStretch(1)
        layout.addLayout(chips)
        layout.addStretch(3)

    def set_assistant(self, name: str) -> None:
        self.title.setText(f"Chat with {name}")
