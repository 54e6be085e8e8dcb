"""The dialogs that rename or delete a conversation: built here, opened by the main window
(window-modal, no nested event loop), carried out by the ChatController."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QInputDialog, QMessageBox, QWidget

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import ConversationId
from kindred.core.chat.conversations import get_conversation, list_messages
from kindred.ui.chat.chat_controller import ChatController
from kindred.ui.chat.chat_view import ChatView
from kindred.ui.kit.widgets import destructive_box


def rename_dialog(parent: QWidget, controller: ChatController, chat_view: ChatView,
                  conversation_id: ConversationId) -> QDialog:
    """Asks for the new title; a refused title is said in the chat, the old one kept."""
    conversation = get_conversation(controller.store, conversation_id)
    dialog = QInputDialog(parent)
    dialog.setWindowTitle("Rename conversation")
    dialog.setLabelText("New title:")
    dialog.setTextValue(conversation.title)
    dialog.setOkButtonText("Rename")

    def done(title: str) -> None:
        try:
            controller.rename(conversation_id, title)
        except KindredError as exc:
            chat_view.show_error(f"{exc} The title was not changed.")
    dialog.textValueSelected.connect(done)
    return dialog


def delete_dialog(parent: QWidget, controller: ChatController, conversation_id: ConversationId
                  ) -> QDialog:
    """Says how many messages go (answers Regenerate replaced included) and that what the
    assistant learned stays."""
    conversation = get_conversation(controller.store, conversation_id)
    count = len(list_messages(controller.store, conversation_id, replaced=True))
    return destructive_box(
        parent, "Delete conversation?",
        f"Delete “{conversation.title}” and its {count} messages?",
        "This cannot be undone. What your assistant has learned is not affected.", "Delete",
        lambda: controller.delete(conversation_id), icon=QMessageBox.Icon.Warning)
