"""One message in the chat transcript, with the actions under an answer: Copy, Regenerate,
thumbs up / down and "Correct this answer" (the person's feedback, which the assistant learns
from). The widget only shows state and reports clicks; the controller writes the database.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.chat.conversations import Message
from kindred.core.upgrades.rollout import blend_label
from kindred.ui.kit.icons import icon_text, set_icon
from kindred.ui.kit.widgets import MarkdownView

COLUMN_WIDTH = 820
THUMBS = {  # value: (icon, tooltip when not chosen, tooltip when chosen, accessible name)
    1: ("thumbs-up", "Good answer", "You liked this answer (click to clear)", "Good answer"),
    -1: ("thumbs-down", "Bad answer", "You disliked this answer (click to clear)",
         "Bad answer"),
}


def describe(message: Message, names: dict[str, str] | None = None, *,
             versions: bool = True) -> str:
    """The small print under an answer: speed, size, version(s) (not while a trial round
    waits for the pick: `versions=False`), and whether it was cut."""
    parts: list[str] = []
    if message.finish_reason == "cancelled":
        parts.append("Stopped")
    if message.tokens_out:
        parts.append(f"{message.tokens_out} tokens")
    if message.finish_reason == "length":  # it ends mid-sentence: say why
        parts.append("cut at the length limit")
    if message.tok_s:
        parts.append(f"{message.tok_s:.0f} tok/s")
    if message.role == "assistant" and versions:
        parts.append(blend_label(names or {}, message.adapters))
    return " · ".join(parts)


def action_button(name: str, tip: str) -> QToolButton:
    """The small icon buttons under an answer (Copy, thumbs, Correct, Regenerate)."""
    button = QToolButton()
    button.setObjectName("messageAction")
    set_icon(button, name)
    button.setToolTip(tip)
    button.setAccessibleName(tip)
    button.setAutoRaise(True)
    button.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # Tab reaches it; Space presses it
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    return button


class MessageWidget(QFrame):
    """One message. Saved answers carry Copy, thumbs, Correct and (the last one) Regenerate."""

    copy_requested = Signal(str)
    regenerate_requested = Signal()
    rate_requested = Signal(int, int)  # message id, +1 / -1, or 0 to clear the rating
    correct_requested = Signal(int)    # message id
    earlier_requested = Signal(int)    # message id: show the answers it replaced

    def __init__(self, role: str, text: str = "", *, author: str = "",
                 message_id: int | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
        self.message_id = message_id
        self.rating: int | None = None
        self.corrected = False
        self.setObjectName("userMessage" if role == "user" else "assistantMessage")
        self.body = MarkdownView()
        self.body.setObjectName("messageBody")
        outer = QHBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        box = QFrame()
        box.setObjectName("userBubble" if role == "user" else "answer")
        inner = QVBoxLayout(box)
        inner.setSpacing(4)
        self.meta = QLabel()
        self.meta.setObjectName("meta")
        self.meta.setWordWrap(True)  # a narrow window: it wraps, not runs past the edge
        self.copy_button = action_button("copy", "Copy this answer")
        self.regen_button = action_button("regenerate", "Regenerate this answer (Ctrl+Shift+R)")
        self.up_button = self._thumb(1)
        self.down_button = self._thumb(-1)
        self.correct_button = action_button("edit", "Correct this answer: write the one you wanted")
        self.correct_button.setAccessibleName("Correct this answer")
        self.earlier_button = QToolButton()
        self.earlier_button.setObjectName("earlierAnswers")
        self.earlier_button.setAutoRaise(True)
        self.earlier_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.earlier_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.earlier_button.setToolTip("Regenerate kept the answers this one replaced")
        self.earlier_button.clicked.connect(self._earlier_clicked)
        self.corrected_mark = icon_text("check", "corrected", "correctedMark",
                                        QPalette.ColorRole.Highlight)
        self.corrected_mark.setToolTip("You corrected this answer. Your version is an example "
                                       "the assistant learns from when it next trains.")
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.text))
        self.body.code_copied.connect(self.copy_requested)  # "Copy code" under a code block
        self.regen_button.clicked.connect(self.regenerate_requested)
        self.correct_button.clicked.connect(self._correct_clicked)
        if role == "user":
            inner.setContentsMargins(14, 8, 14, 8)
            inner.addWidget(self.body)
            outer.addStretch(1)
            outer.addWidget(box, 0)
            box.setMaximumWidth(int(COLUMN_WIDTH * 0.8))
            box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        else:
            inner.setContentsMargins(0, 4, 0, 4)
            name = QLabel(author)
            name.setObjectName("author")
            inner.addWidget(name)
            inner.addWidget(self.body)
            footer = QHBoxLayout()
            footer.setSpacing(2)
            for button in (self.copy_button, self.up_button, self.down_button,
                           self.correct_button, self.regen_button):
                footer.addWidget(button)
            footer.addSpacing(6)
            footer.addWidget(self.earlier_button)
            footer.addWidget(self.corrected_mark)
            footer.addWidget(self.meta, 1)
            inner.addLayout(footer)
            outer.addWidget(box, 1)
        self.regen_button.hide()
        self.earlier_button.hide()
        self.corrected_mark.hide()
        self._show_feedback(False)
        self.set_text(text)

    def _thumb(self, value: int) -> QToolButton:
        name, tip, _chosen, accessible = THUMBS[value]
        button = action_button(name, tip)
        button.setAccessibleName(accessible)
        button.setCheckable(True)
        button.clicked.connect(lambda _checked=False: self._thumb_clicked(value))
        return button

    @property
    def text(self) -> str:
        return self.body.markdown

    def set_text(self, text: str) -> None:
        if self.role == "user":
            # What the person typed is shown as typed, not interpreted as markdown.
            self.body._markdown = text
            self.body.setPlainText(text)
            self.body._fit()
            self._fit_bubble(text)
        else:
            self.body.set_markdown(text)

    def _fit_bubble(self, text: str) -> None:
        metrics = self.body.fontMetrics()
        widest = max((metrics.horizontalAdvance(line) for line in text.splitlines() or [""]),
                     default=0)
        self.body.setMinimumWidth(min(widest + 12, int(COLUMN_WIDTH * 0.8) - 28))

    def set_meta(self, text: str) -> None:
        self.meta.setText(text)

    def set_actions(self, *, copy: bool, regenerate: bool) -> None:
        self.copy_button.setVisible(copy)
        self.regen_button.setVisible(regenerate)
        # Feedback needs a saved answer to attach to (not one still streaming).
        self._show_feedback(copy and self.message_id is not None)

    def _show_feedback(self, visible: bool) -> None:
        for button in (self.up_button, self.down_button, self.correct_button):
            button.setVisible(visible)
        self.corrected_mark.setVisible(visible and self.corrected)

    # -- feedback --------------------------------------------------------------------------

    def set_feedback(self, rating: int | None, corrected: bool) -> None:
        """Show the saved rating (+1, -1 or None) and whether the answer was corrected."""
        self.rating = rating
        self.corrected = corrected
        for value, button in ((1, self.up_button), (-1, self.down_button)):
            name, tip, chosen_tip, _accessible = THUMBS[value]
            chosen = rating == value
            button.setChecked(chosen)
            button.setToolTip(chosen_tip if chosen else tip)
            set_icon(button, name, QPalette.ColorRole.Highlight if chosen else None)
        self.correct_button.setToolTip("Correct this answer again" if corrected else
                                       "Correct this answer: write the one you wanted")
        self.corrected_mark.setVisible(corrected and self.correct_button.isVisibleTo(self))

    def set_earlier(self, count: int) -> None:
        """How many answers this one replaced (0 hides the link)."""
        self.earlier_button.setText("1 earlier answer" if count == 1 else
                                    f"{count} earlier answers")
        self.earlier_button.setAccessibleName(self.earlier_button.text())
        self.earlier_button.setVisible(count > 0)

    def _earlier_clicked(self) -> None:
        if self.message_id is not None:
            self.earlier_requested.emit(self.message_id)

    def _thumb_clicked(self, value: int) -> None:
        if self.message_id is None:
            return
        wanted = 0 if self.rating == value else value  # a second click clears
        self.rate_requested.emit(self.message_id, wanted)
        # The buttons show what was saved (set_feedback), not merely what was clicked.
        self.set_feedback(self.rating, self.corrected)

    def _correct_clicked(self) -> None:
        if self.message_id is not None:
            self.correct_requested.emit(self.message_id)
