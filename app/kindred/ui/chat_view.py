# PySide6 ships no py.typed, so mypy sees Qt classes as Any:
# mypy: disable-error-code="misc, untyped-decorator"
"""The chat view: the transcript, the composer and the empty state. No data logic here: it
shows what the ChatController says and reports what the person asks for by signals.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.conversations import Message
from kindred.ui.icons import app_icon, set_icon
from kindred.ui.widgets import Composer, MarkdownView

COLUMN_WIDTH = 820
SUGGESTIONS = [  # (chip label, the message it sends)
    ("How do rainbows form?", "Explain how a rainbow forms, in two sentences."),
    ("Quick lunch ideas", "Give me three ideas for a quick healthy lunch."),
    ("A haiku about autumn", "Write a haiku about autumn."),
]


def describe(message: Message) -> str:
    """The small print under an answer: speed, size, adapter, and whether it was cut."""
    parts: list[str] = []
    if message.finish_reason == "cancelled":
        parts.append("Stopped")
    if message.tokens_out:
        parts.append(f"{message.tokens_out} tokens")
    if message.tok_s:
        parts.append(f"{message.tok_s:.0f} tok/s")
    if message.role == "assistant":
        adapters = ", ".join(v[:8] + ("" if s == 1.0 else f"×{s:g}") for v, s in message.adapters)
        parts.append(adapters or "base")
    return " · ".join(parts)


class MessageWidget(QFrame):
    """One message. Answers carry Copy and (for the last one) Regenerate."""

    copy_requested = Signal(str)
    regenerate_requested = Signal()

    def __init__(self, role: str, text: str = "", *, author: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.role = role
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
        self.copy_button = self._tool("copy", "Copy this answer")
        self.regen_button = self._tool("regenerate", "Regenerate this answer (Ctrl+Shift+R)")
        self.copy_button.clicked.connect(lambda: self.copy_requested.emit(self.text))
        self.regen_button.clicked.connect(self.regenerate_requested)
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
            footer.addWidget(self.copy_button)
            footer.addWidget(self.regen_button)
            footer.addSpacing(6)
            footer.addWidget(self.meta)
            footer.addStretch(1)
            inner.addLayout(footer)
            outer.addWidget(box, 1)
        self.regen_button.hide()
        self.set_text(text)

    def _tool(self, name: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setObjectName("messageAction")
        set_icon(button, name)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setCursor(Qt.CursorShape.PointingHandCursor)
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


class ChatView(QWidget):
    """Transcript + composer. Emits what the person wants; the controller decides."""

    send_requested = Signal(str)
    stop_requested = Signal()
    regenerate_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatView")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.author = "Assistant"
        self.busy = False
        self.ready = False
        self.streaming: MessageWidget | None = None
        self._stream_text = ""
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.setInterval(40)
        self._render_timer.timeout.connect(self._render_stream)

        self.title = QLabel("New chat")
        self.title.setObjectName("chatTitle")
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
        self.scroll = QScrollArea()
        self.scroll.setObjectName("transcriptScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(holder)
        self._stick = True
        bar = self.scroll.verticalScrollBar()
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi) if self._stick else None)
        bar.valueChanged.connect(lambda v: setattr(self, "_stick", v >= bar.maximum() - 8))

        self.empty = EmptyState()
        self.empty.suggestion_clicked.connect(self._suggest)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty)
        self.pages.addWidget(self.scroll)

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
        layout.addWidget(self.pages, 1)
        layout.addLayout(bottom)
        self._update_controls()

    # -- what the controller tells the view ------------------------------------------------

    def set_assistant_name(self, name: str) -> None:
        self.author = name
        self.empty.set_assistant(name)
        self.composer.setPlaceholderText(f"Message {name}…")

    def set_title(self, title: str) -> None:
        self.title.setText(title)

    def show_messages(self, messages: list[Message]) -> None:
        """Replace the transcript with `messages` (a conversation was opened)."""
        self._clear()
        for message in messages:
            self._add(message.role, message.content, describe(message))
        self._refresh_actions()
        self._stick = True
        self.pages.setCurrentWidget(self.scroll if messages else self.empty)

    def add_user_message(self, text: str) -> None:
        self._add("user", text)
        self.pages.setCurrentWidget(self.scroll)
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
        self.pages.setCurrentWidget(self.scroll)
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
                widget.set_text(message.content or "*Stopped before answering.*")
                widget.set_meta(describe(message))
        self._refresh_actions()

    def remove_last_answer(self) -> None:
        """Regenerate: the old answer leaves the screen while its replacement streams."""
        widgets = self._messages()
        if widgets and widgets[-1].role == "assistant":
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

    def _messages(self) -> list[MessageWidget]:
        found = []
        for i in range(self.column_layout.count()):
            widget = self.column_layout.itemAt(i).widget()
            if isinstance(widget, MessageWidget):
                found.append(widget)
        return found

    def _add(self, role: str, text: str, meta: str = "") -> MessageWidget:
        widget = MessageWidget(role, text, author=self.author)
        widget.set_meta(meta)
        widget.copy_requested.connect(self.copy_text)
        widget.regenerate_requested.connect(self.regenerate_requested)
        self.column_layout.insertWidget(self.column_layout.count() - 1, widget)
        return widget

    def _clear(self) -> None:
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

    def copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.notice.setProperty("error", False)
        self.notice.setText("Copied to the clipboard.")
        # With the label as context the timer is dropped if the view is gone by then.
        QTimer.singleShot(2000, self.notice, lambda: self.notice.setText("")
                          if self.notice.text() == "Copied to the clipboard." else None)

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
