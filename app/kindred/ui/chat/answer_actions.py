"""What the person can do with an answer on screen: rate it, correct it, see the answers it
replaced, copy it. Kept apart from the transcript's layout (`chat_view`) so the dialogs and
their bookkeeping (which answer a correction is for, whether it was saved) read on their own;
the writes are still the controller's, asked for by signals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from kindred.core.basics.ids import ConversationId
from kindred.core.chat.conversations import Message
from kindred.ui.chat.earlier import EarlierAnswersDialog
from kindred.ui.chat.message_widget import MessageWidget
from kindred.ui.learning.correct import CorrectDialog

FeedbackLookup = Callable[[list[int]], dict[int, tuple[int | None, bool]]]
STOPPED = "*Stopped before answering.*"
COPIED = "Copied to the clipboard."


class AnswerLookup(Protocol):
    """What the view reads about answers, supplied by the controller (no data logic here)."""

    def names(self) -> dict[str, str]: ...
    def earlier_counts(self, conversation_id: ConversationId) -> dict[int, int]: ...
    def earlier(self, message_id: int) -> list[Message]: ...
    def blind(self, conversation_id: ConversationId) -> set[int]: ...


class AnswerActions(QWidget):
    """The per-answer actions of the chat view; `ChatView` lays out the parts they use."""

    regenerate_requested = Signal()
    rate_requested = Signal(int, int)     # message id, +1 / -1, or 0 to clear
    correct_requested = Signal(int, str)  # message id, the answer the person wanted

    column_layout: QVBoxLayout
    notice: QLabel
    streaming: MessageWidget | None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # Saved feedback for answers being shown: {message id: (rating, corrected)}. Set by
        # the controller (ChatController.attach_feedback); reading only, never writing.
        self.feedback_lookup: FeedbackLookup | None = None
        self.answers: AnswerLookup | None = None  # version names, earlier answers
        self.earlier_dialog: EarlierAnswersDialog | None = None
        self.dialog: CorrectDialog | None = None  # the open correction, if any
        self._dialog_message: int | None = None
        self._pending: int | None = None  # a correction sent, not yet confirmed

    def show_error(self, text: str) -> None:
        raise NotImplementedError  # ChatView's

    # -- feedback: thumbs and corrections ---------------------------------------------------

    def set_feedback(self, message_id: int, rating: int | None, corrected: bool) -> None:
        """What was saved for an answer; a correction being written is done once saved."""
        widget = self._widget_for(message_id)
        if widget is not None:
            widget.set_feedback(rating, corrected)
        if self._pending == message_id:
            self._pending = None
            if self.dialog is not None:
                self.dialog.saved()

    def feedback_failed(self, message_id: int, text: str) -> None:
        """Nothing was saved: say why (in the correction dialog if one is open for it)."""
        if self._pending == message_id and self.dialog is not None:
            self._pending = None
            self.dialog.failed(text)
        else:
            self.show_error(text)

    def open_correction(self, message_id: int) -> None:
        """Open "Correct this answer" pre-filled with the answer (window-modal, no nested loop)."""
        widget = self._widget_for(message_id)
        if widget is None or self.dialog is not None:
            return
        widgets = self._messages()
        before = [w for w in widgets[:widgets.index(widget)] if w.role == "user"]
        prompt = before[-1].text if before else ""
        answer = "" if widget.text == STOPPED else widget.text
        dialog = CorrectDialog(prompt, answer, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.submitted.connect(lambda text: self._submit_correction(message_id, text))
        dialog.finished.connect(lambda _r: self._forget_dialog(dialog))
        self.dialog, self._dialog_message = dialog, message_id
        dialog.open()

    def _submit_correction(self, message_id: int, text: str) -> None:
        self._pending = message_id
        self.correct_requested.emit(message_id, text)

    def _forget_dialog(self, dialog: CorrectDialog) -> None:
        if self.dialog is dialog:
            self.dialog, self._dialog_message, self._pending = None, None, None

    def _close_correction(self, message_id: int | None) -> None:
        """The answer being corrected left the screen (regenerated, another chat opened)."""
        if self.dialog is not None and message_id in (None, self._dialog_message):
            self.dialog.reject()

    def open_earlier(self, message_id: int) -> None:
        """Show the answers Regenerate replaced with this one (kept, copyable)."""
        if self.answers is None:
            return
        earlier = self.answers.earlier(message_id)
        if not earlier:
            return
        if self.earlier_dialog is not None:
            self.earlier_dialog.close()
        dialog = EarlierAnswersDialog(earlier, self.answers.names(), self)
        dialog.copy_requested.connect(self.copy_text)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _r: self._earlier_closed(dialog))
        self.earlier_dialog = dialog
        dialog.open()

    def _earlier_closed(self, dialog: EarlierAnswersDialog) -> None:
        if self.earlier_dialog is dialog:
            self.earlier_dialog = None

    def _load_feedback(self) -> None:
        answers = [w for w in self._messages() if w.role == "assistant" and w.message_id]
        if self.feedback_lookup is None or not answers:
            return
        states = self.feedback_lookup([w.message_id for w in answers if w.message_id])
        for widget in answers:
            widget.set_feedback(*states.get(widget.message_id or 0, (None, False)))

    def copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.notice.setProperty("error", False)
        self.notice.setText(COPIED)
        # With the label as context the timer is dropped if the view is gone by then.
        QTimer.singleShot(2000, self.notice, lambda: self.notice.setText("")
                          if self.notice.text() == COPIED else None)

    # -- the answers on screen ---------------------------------------------------------------

    def _messages(self) -> list[MessageWidget]:
        found = []
        for i in range(self.column_layout.count()):
            item = self.column_layout.itemAt(i)
            widget = item.widget() if item is not None else None
            if isinstance(widget, MessageWidget):
                found.append(widget)
        return found

    def _widget_for(self, message_id: int) -> MessageWidget | None:
        for widget in self._messages():
            if widget.message_id == message_id and widget is not self.streaming:
                return widget
        return None

    def _connect(self, widget: MessageWidget) -> None:
        """A message's own buttons lead here (or, for Regenerate, to the controller)."""
        widget.copy_requested.connect(self.copy_text)
        widget.regenerate_requested.connect(self.regenerate_requested)
        widget.rate_requested.connect(self.rate_requested)
        widget.correct_requested.connect(self.open_correction)
        widget.earlier_requested.connect(self.open_earlier)
