"""The window's chat: its reactions to the chat controller (a conversation opened, an answer
saved) and its commands (new chat, search, copy, rename, delete). `MainWindow` builds the parts
and wires them; this layer only says what happens to them."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLabel

from kindred.core.basics.ids import ConversationId
from kindred.core.chat.conversations import Conversation, Message, list_messages
from kindred.ui.chat.chat_view import ChatView
from kindred.ui.chat.conversation_dialogs import delete_dialog, rename_dialog
from kindred.ui.shell.window_menu import WindowMenu


class ChatWindow(WindowMenu):
    """The chat's part of the main window; `MainWindow` sets the parts it uses."""

    chat_view: ChatView
    settings: QSettings
    speed_label: QLabel
    _search: str

    def show_page(self, name: str) -> None:
        raise NotImplementedError  # MainWindow's

    def _if_current(self, fn: Callable[..., object]) -> Callable[..., None]:
        """Forward a conversation's event to the view only if that conversation is shown."""
        def forward(conversation_id: ConversationId, *args: object) -> None:
            current = self.controller.conversation
            if current is not None and current.id == conversation_id:
                fn(*args)
        return forward

    def refresh_conversations(self) -> None:
        current = self.controller.conversation
        self.chat_view.set_title(current.title if current else "New chat")
        self.sidebar.set_conversations(self.controller.conversations(self._search),
                                       current.id if current else None,
                                       searching=bool(self._search.strip()))

    def _search_changed(self, text: str) -> None:
        self._search = text
        self.refresh_conversations()

    def _conversation_opened(self, conversation: Conversation | None,
                             messages: list[Message]) -> None:
        self.chat_view.set_title(conversation.title if conversation else "New chat")
        self.chat_view.show_messages(messages)
        speeds = [m.tok_s for m in messages if m.tok_s]
        if speeds and self.controller.last_tok_s is None:
            self.speed_label.setText(f"{speeds[-1]:.1f} tok/s")
        if conversation is None:
            self.sidebar.list.clearSelection()
            self.sidebar.list.setCurrentRow(-1)  # no current item, as setCurrentItem(None)
        self._remember_place()

    def _remember_place(self) -> None:
        """Where the person was, so the next start opens the same assistant and chat."""
        conversation = self.controller.conversation
        self.settings.setValue("last_conversation", conversation.id if conversation else 0)
        self.settings.setValue("last_assistant", self.controller.assistant.id)

    def _answer_saved(self, conversation_id: ConversationId, message: Message | None) -> None:
        current = self.controller.conversation
        if current is None or current.id != conversation_id:
            return
        if message is None:  # nothing was saved: show exactly what the database holds
            self.chat_view.end_answer(None)
            self.chat_view.show_messages(list_messages(self.session.store, conversation_id))
        else:
            self.chat_view.end_answer(message)

    def _send(self, text: str) -> None:
        if self.controller.send(text):
            self.chat_view.composer.clear()

    def new_chat(self) -> None:
        self.show_page("Chat")
        self.sidebar.clear_search()  # else the new chat would be hidden by the filter
        self.controller.open_conversation(None)
        self.chat_view.composer.setFocus()

    def focus_search(self) -> None:
        self.show_page("Chat")
        self.sidebar.search.setFocus()
        self.sidebar.search.selectAll()

    def copy_last_answer(self) -> None:
        text = self.chat_view.last_answer()
        if text is not None:
            self.chat_view.copy_text(text)

    def _rename_current(self) -> None:
        if self.controller.conversation is not None:
            self.rename_conversation(self.controller.conversation.id)

    def _delete_current(self) -> None:
        cid = self.sidebar.current_id()
        if cid is not None:
            self.delete_conversation(cid)

    def rename_conversation(self, conversation_id: ConversationId) -> None:
        self._open(rename_dialog(self, self.controller, self.chat_view, conversation_id))

    def delete_conversation(self, conversation_id: ConversationId) -> None:
        self._open(delete_dialog(self, self.controller, conversation_id))
