"""Writing or editing a corrected answer on the Teach page: the question, and the answer the
person wants (the original answer shown when there is one)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from kindred.core.basics.errors import KindredError
from kindred.ui.kit.widgets import error_label


def short(text: str, limit: int = 160) -> str:
    """One line of at most `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ExampleDialog(QDialog):
    """Write or edit a corrected answer: the question, and the answer the person wants.

    `submit(prompt, answer)` does the work; a KindredError it raises is shown here and the
    dialog stays open with what was typed.
    """

    def __init__(self, submit: Callable[[str, str], object], *, prompt: str = "",
                 answer: str = "", rejected: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.submit = submit
        self.setWindowTitle("Edit corrected answer" if prompt else "Add a corrected answer")
        self.setMinimumWidth(560)
        self.prompt = QPlainTextEdit(prompt)
        self.prompt.setPlaceholderText("What you asked, e.g. “What's a good breakfast?”")
        self.prompt.setTabChangesFocus(True)
        self.answer = QPlainTextEdit(answer)
        self.answer.setPlaceholderText("The answer you want it to give, in the style you like")
        self.answer.setTabChangesFocus(True)
        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("<b>You asked</b>"))
        layout.addWidget(self.prompt, 1)
        layout.addWidget(QLabel("<b>The answer you want</b>"))
        layout.addWidget(self.answer, 2)
        if rejected:
            old = QLabel(f"It had said: {short(rejected, 400)}")
            old.setObjectName("emptyHint")
            old.setWordWrap(True)
            layout.addWidget(old)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def save(self) -> None:
        try:
            self.submit(self.prompt.toPlainText(), self.answer.toPlainText())
        except KindredError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.accept()
