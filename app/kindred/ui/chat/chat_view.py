"""The chat view: the transcript, the composer and the empty state (`empty_state`). No data
logic here: it shows what the ChatController says and reports what the person asks for by signals.
What can be done with one answer (rate, correct, earlier answers, copy) is `answer_actions`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.chat.conversations import Message
from kindred.ui.chat.answer_actions import STOPPED, AnswerActions, AnswerLookup, FeedbackLookup
from kindred.ui.chat.empty_state import EmptyState
from kindred.ui.chat.message_widget import COLUMN_WIDTH, MessageWidget, describe
from kindred.ui.kit.icons import set_icon
from kindred.ui.kit.widgets import Composer

__all__ = ["BLIND", "COLUMN_WIDTH", "FORGOTTEN", "STOPPED", "AnswerLookup", "ChatView",
           "EmptyState", "FeedbackLookup", "MessageWidget", "describe"]
BLIND = "Side-by-side trial · which version wrote this shows once you pick"
FORGOTTEN = "Earlier messages are no longer in the assistant's memory"


class ChatView(AnswerActions):
    """Transcript + composer. Emits what the person wants; the controller decides (the
    per-answer signals, Regenerate, thumbs and corrections, are `AnswerActions`')."""

    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.author = "Assistant"
        self.busy = False
        self.ready = False
        self.streaming: MessageWidget | None = None
        self._stream_text = ""
        self.left_out = 0  # the first messages of the thread the model no longer sees
        self.memory_marker = QLabel(f"⋯ {FORGOTTEN} ⋯")
        self.memory_marker.setObjectName("memoryMarker")
        self.memory_marker.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.memory_marker.setWordWrap(True)
        self.memory_marker.setToolTip(
            "The conversation is longer than the model's context. Messages above this line "
            "are kept here, but the assistant no longer sees them when it answers.")
        self.memory_marker.hide()
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(40)
        self._render_timer.timeout.connect(self._render_stream)

        self.title = QLabel("New chat")
        self.title.setObjectName("chatTitle")
        # What of the persona and stated preferences the last answer could not see (they did
        # not fit the model's context, see core/chat/system_budget); hidden when all fit.
        self.system_note = QLabel()
        self.system_note.setObjectName("systemNote")
        self.system_note.setWordWrap(True)
        self.system_note.setToolTip(
            "The assistant's instructions (its persona and your stated preferences) take more "
            "room than the model's context can give them, so part of them was left out when it "
            "answered. Everything is still stored.")
        self.system_note.hide()
        header = QHBoxLayout()
        header.setContentsMargins(20, 12, 20, 12)
        header.addWidget(self.title)
        header.addStretch(1)

        self.column = QWidget()
        self.column.setObjectName("transcript")
        self.column.setMaximumWidth(COLUMN_WIDTH)
        self.column_layout = QVBoxLayout(self.column)
        self.column_layout.setContentsMargins(24, 12, 24, 24)
        self.column_layout.setSpacing(14)
        self.column_layout.addStretch(1)  # keeps messages at the top; they go before it
        holder = QWidget()
        holder.setObjectName("transcriptHolder")
        for widget in (holder, self.column):
            widget.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        holder_layout = QHBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 0, 0)
        holder_layout.addWidget(self.column)
        self.transcript_scroll = QScrollArea()
        self.transcript_scroll.setObjectName("transcriptScroll")
        self.transcript_scroll.setWidgetResizable(True)
        self.transcript_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.transcript_scroll.setHorizontalScrollBarPolicy(
            Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.transcript_scroll.setWidget(holder)
        self._stick = True
        bar = self.transcript_scroll.verticalScrollBar()
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi) if self._stick else None)
        bar.valueChanged.connect(lambda v: setattr(self, "_stick", v >= bar.maximum() - 8))

        self.empty = EmptyState()
        self.empty.suggestion_clicked.connect(self._suggest)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty)
        self.pages.addWidget(self.transcript_scroll)

        self.composer = Composer()
        self.composer.setPlaceholderText("Message…")
        self.composer.submitted.connect(self._submit)
        self.send_button = QToolButton()
        self.send_button.setObjectName("sendButton")
        self.send_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.send_button.clicked.connect(self._send_or_stop)
        box = QFrame()
        box.setObjectName("composerBox")
        box_layout = QHBoxLayout(box)
        box_layout.setContentsMargins(14, 8, 8, 8)
        box_layout.addWidget(self.composer, 1)
        box_layout.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        box.setMaximumWidth(COLUMN_WIDTH - 48)
        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.notice.setWordWrap(True)
        bottom = QVBoxLayout()
        bottom.setContentsMargins(24, 4, 24, 14)
        bottom.setSpacing(6)
        row = QHBoxLayout()
        row.addWidget(box)
        bottom.addLayout(row)
        bottom.addWidget(self.notice)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(header)
        line = QFrame()
        line.setObjectName("separator")
        line.setFixedHeight(1)
        layout.addWidget(line)
        layout.addWidget(self.system_note)
        layout.addWidget(self.pages, 1)
        layout.addLayout(bottom)
        self._update_controls()

    # -- what the controller tells the view ------------------------------------------------

    def set_assistant_name(self, name: str) -> None:
        self.author = name
        self.set_system_note("")  # another assistant, or its persona changed: said anew
        self.empty.set_assistant(name)
        self.composer.setPlaceholderText(f"Message {name}…")

    def set_title(self, title: str) -> None:
        self.title.setText(title)

    def show_messages(self, messages: list[Message]) -> None:
        """Replace the transcript with `messages` (a conversation was opened)."""
        self._clear()
        names = self.answers.names() if self.answers is not None else {}
        earlier = (self.answers.earlier_counts(messages[0].conversation_id)
                   if self.answers is not None and messages else {})
        blind = (self.answers.blind(messages[0].conversation_id)
                 if self.answers is not None and messages else set())
        for message in messages:
            hidden = message.id in blind  # a trial round not picked yet: no names, no other
            # figures; the other answers keep theirs but name no version until the pick (an
            # answer named beside the unnamed ones would show one side's way of answering)
            widget = self._add(message.role, message.content, BLIND if hidden else
                               describe(message, names, versions=not blind), message.id)
            widget.set_earlier(0 if hidden else earlier.get(message.id, 0))
        if self._dialog_message not in {m.id for m in messages}:
            self._close_correction(None)
        self._load_feedback()
        self._refresh_actions()
        self._stick = True
        self.pages.setCurrentWidget(self.transcript_scroll if messages else self.empty)

    def set_left_out(self, count: int) -> None:
        """Mark where the assistant's memory of this thread begins: the first `count` messages
        left its context (0: it sees them all)."""
        self.left_out = count
        self.column_layout.removeWidget(self.memory_marker)
        widgets = [w for w in self._messages() if w.role in ("user", "assistant")]
        if count <= 0 or count >= len(widgets):
            self.memory_marker.hide()
            return
        self.column_layout.insertWidget(self.column_layout.indexOf(widgets[count]),
                                        self.memory_marker)
        self.memory_marker.show()

    def set_system_note(self, note: str) -> None:
        """Say what the last answer did not see of the persona and preferences ("" = all)."""
        self.system_note.setText(note)
        self.system_note.setVisible(bool(note))

    def add_user_message(self, text: str) -> None:
        self._add("user", text)
        self.pages.setCurrentWidget(self.transcript_scroll)
        self._stick = True

    def begin_answer(self, *, waiting: str = "") -> None:
        """An answer starts streaming (or waits for the model: `waiting` says so)."""
        if self.streaming is not None:
            self.streaming.deleteLater()
        self.streaming = self._add("assistant", "")
        self._stream_text = ""
        self.streaming.set_meta(waiting or "Thinking…")
        self.streaming.set_actions(copy=False, regenerate=False)
        self._refresh_actions()
        self.pages.setCurrentWidget(self.transcript_scroll)
        self._stick = True

    def append_piece(self, text: str) -> None:
        if self.streaming is None:
            return
        self._stream_text += text
        if not self._render_timer.isActive():
            self._render_timer.start()

    def _render_stream(self) -> None:
        if self.streaming is not None:
            self.streaming.set_text(self._stream_text)
            self.streaming.set_meta("")

    def end_answer(self, message: Message | None) -> None:
        """The streamed answer is final (`message` as saved), or was dropped (None)."""
        self._render_timer.stop()
        widget, self.streaming = self.streaming, None
        if widget is not None:
            if message is None:
                widget.deleteLater()
                self.column_layout.removeWidget(widget)
            else:
                widget.set_text(message.content or STOPPED)
                names = self.answers.names() if self.answers is not None else {}
                blind = (self.answers.blind(message.conversation_id)
                         if self.answers is not None else set())
                hidden = message.id in blind
                widget.set_meta(BLIND if hidden else describe(message, names,
                                                              versions=not blind))
                widget.message_id = message.id
                widget.set_feedback(None, False)
                if self.answers is not None and not hidden:  # a regenerated answer links to
                    count = self.answers.earlier_counts(message.conversation_id)  # the old one
                    widget.set_earlier(count.get(message.id, 0))
        self._refresh_actions()

    def remove_last_answer(self) -> None:
        """Regenerate: the old answer leaves the screen while its replacement streams."""
        widgets = self._messages()
        if widgets and widgets[-1].role == "assistant":
            self._close_correction(widgets[-1].message_id)
            widgets[-1].deleteLater()
            self.column_layout.removeWidget(widgets[-1])

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._update_controls()

    def set_ready(self, ready: bool, notice: str = "") -> None:
        self.ready = ready
        self.notice.setText(notice)
        self.notice.setProperty("error", False)
        self._update_controls()

    def show_error(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setProperty("error", True)
        self.notice.style().unpolish(self.notice)
        self.notice.style().polish(self.notice)

    def messages(self) -> list[tuple[str, str]]:
        """(role, text) of every message on screen, streaming included (for tests and a11y)."""
        out = []
        for widget in self._messages():
            text = self._stream_text if widget is self.streaming else widget.text
            out.append((widget.role, text))
        return out

    # -- internals ---------------------------------------------------------------------------

    def _add(self, role: str, text: str, meta: str = "", message_id: int | None = None
             ) -> MessageWidget:
        widget = MessageWidget(role, text, author=self.author, message_id=message_id)
        widget.set_meta(meta)
        self._connect(widget)
        self.column_layout.insertWidget(self.column_layout.count() - 1, widget)
        return widget

    def _clear(self) -> None:
        self.set_left_out(0)
        self._render_timer.stop()
        self.streaming = None
        self._stream_text = ""
        for widget in self._messages():
            self.column_layout.removeWidget(widget)
            widget.deleteLater()

    def _refresh_actions(self) -> None:
        widgets = self._messages()
        for i, widget in enumerate(widgets):
            if widget.role != "assistant" or widget is self.streaming:
                continue
            last = i == len(widgets) - 1
            widget.set_actions(copy=True, regenerate=last and not self.busy)

    def last_answer(self) -> str | None:
        for widget in reversed(self._messages()):
            if widget.role == "assistant" and widget is not self.streaming:
                return widget.text
        return None

    def _submit(self) -> None:
        if self.busy:
            return
        text = self.composer.toPlainText()
        if text.strip():
            self.send_requested.emit(text)

    def _send_or_stop(self) -> None:
        if self.busy:
            self.stop_requested.emit()
        else:
            self._submit()

    def _suggest(self, text: str) -> None:
        self.composer.setPlainText(text)
        self.composer.setFocus()
        self._submit()

    def _update_controls(self) -> None:
        on_accent = QPalette.ColorRole.HighlightedText
        if self.busy:
            set_icon(self.send_button, "stop", on_accent)
            self.send_button.setToolTip("Stop the answer (Esc)")
            self.send_button.setProperty("stop", True)
        else:
            set_icon(self.send_button, "send", on_accent)
            self.send_button.setToolTip("Send (Enter)")
            self.send_button.setProperty("stop", False)
        self.send_button.style().unpolish(self.send_button)
        self.send_button.style().polish(self.send_button)
        self._refresh_actions()
