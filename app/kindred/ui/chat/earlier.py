"""Earlier answers: what Regenerate replaced, kept and readable (nothing the assistant said is
thrown away). Read-only; each answer can be copied."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from kindred.core.chat.conversations import Message
from kindred.ui.chat.message_widget import action_button, describe
from kindred.ui.kit.widgets import MarkdownView, fit_to_screen, scrolled


class EarlierAnswersDialog(QDialog):
    """The answers one visible answer replaced, oldest first, each with how it was made."""

    copy_requested = Signal(str)

    def __init__(self, answers: list[Message], names: dict[str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Earlier answers")
        fit_to_screen(self, 680, 520)
        self.views: list[MarkdownView] = []
        kept = ("It is kept: a rating or correction you gave it still counts." if len(answers) == 1
                else "They are kept: ratings and corrections you gave them still count.")
        intro = QLabel(f"Regenerate replaced {_count(len(answers))} here. {kept}")
        intro.setWordWrap(True)
        intro.setObjectName("dialogStatus")
        column = QWidget()
        rows = QVBoxLayout(column)
        rows.setSpacing(12)
        for number, message in enumerate(answers, start=1):
            rows.addWidget(self._card(number, message, names))
        rows.addStretch(1)
        scroll = scrolled(column)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        layout.addWidget(buttons)

    def _card(self, number: int, message: Message, names: dict[str, str]) -> QFrame:
        card = QFrame()
        card.setObjectName("card")
        layout = QVBoxLayout(card)
        head = QHBoxLayout()
        when = datetime.fromtimestamp(message.created_at).strftime("%Y-%m-%d %H:%M")
        title = QLabel(f"<b>Answer {number}</b> · {when} · {describe(message, names)}")
        title.setTextFormat(Qt.TextFormat.RichText)
        copy = action_button("copy", "Copy this answer")
        copy.setAccessibleName(f"Copy answer {number}")
        copy.clicked.connect(lambda: self.copy_requested.emit(message.content))
        head.addWidget(title, 1)
        head.addWidget(copy)
        body = MarkdownView()
        body.set_markdown(message.content)
        self.views.append(body)
        layout.addLayout(head)
        layout.addWidget(body)
        return card


def _count(n: int) -> str:
    return "one answer" if n == 1 else f"{n} answers"
