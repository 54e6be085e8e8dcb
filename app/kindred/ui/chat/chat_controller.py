"""What happens when the person chats: the logic behind the chat view and the sidebar.

Database writes stay here, on the main thread: the user's message is saved before the engine
sees it (nothing typed is ever lost), and the answer is saved when the inference thread says it
is done, cancelled answers included (marked "cancelled").
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from kindred.core.archive import assistant_state
from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId, ConversationId
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import (
    Conversation,
    Message,
    create_conversation,
    delete_conversation,
    get_conversation,
    list_conversations,
    list_messages,
    rename_conversation,
)
from kindred.core.engine.llama import GenerationStats
from kindred.core.home.assistants import Assistant, get_assistant, list_assistants
from kindred.core.session import Session
from kindred.core.upgrades.trial_turn import TrialTurn
from kindred.ui.chat.inference import EngineInfo, InferenceThread
from kindred.ui.chat.upgrade_turns import UpgradeTurns

if TYPE_CHECKING:
    from kindred.ui.chat.chat_view import ChatView


@dataclass
class Turn:
    """An answer being produced: where it goes and what it replaces."""

    conversation_id: ConversationId
    prepared: chat.PreparedTurn
    replaces: int | None = None
    request_id: int | None = None
    discarded: bool = False
    trial: TrialTurn | None = None  # both versions answer, blind (a side-by-side trial)


class ChatController(UpgradeTurns):
    """Assistants, the engine, conversations and turns; what a trial or a rollout adds to a
    turn is `UpgradeTurns`', the answers' lookups and feedback `AnswerFeedback`'s."""

    assistant_changed = Signal(object)          # Assistant
    conversations_changed = Signal()
    conversation_opened = Signal(object, list)  # Conversation | None, [Message]
    answer_started = Signal(int, str)           # conversation id, waiting notice
    answer_piece = Signal(int, str)             # conversation id, text
    answer_saved = Signal(int, object)          # conversation id, Message | None
    answer_removed = Signal(int)                # conversation id (regenerate)
    user_message_added = Signal(int, str)       # conversation id, text
    context_measured = Signal(int, int)         # conversation id, first messages out of memory
    system_note_changed = Signal(str)           # persona/preferences left out ("" = all fit)
    busy_changed = Signal(bool)
    engine_changed = Signal(str, str)           # state (loading/ready/failed), detail
    speed_changed = Signal(float)               # tok/s of the last answer
    # and UpgradeTurns' error, rollout_changed, version_retired, trial_round

    def __init__(self, session: Session, inference: InferenceThread,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.inference = inference
        self.assistant: Assistant = session.assistant()
        self.conversation: Conversation | None = None
        self.engine_state = "loading"
        self.engine_info: EngineInfo | None = None
        self.turn: Turn | None = None
        self.closed = False
        self.last_tok_s: float | None = None
        worker = inference.worker
        worker.loaded.connect(self._loaded)
        worker.load_failed.connect(self._load_failed)
        worker.piece.connect(self._piece)
        worker.finished.connect(self._finished)
        worker.failed.connect(self._failed)
        worker.measured.connect(self.context_measured)

    @property
    def busy(self) -> bool:
        return self.turn is not None

    @property
    def ready(self) -> bool:
        return self.engine_state == "ready"

    # -- assistants and the engine ---------------------------------------------------------

    def start(self, assistant_id: AssistantId | None = None,
              conversation_id: ConversationId | None = None) -> None:
        """Show where the person left off, and start loading the model in the background."""
        if assistant_id is not None:
            with contextlib.suppress(NotFoundError):
                self.assistant = get_assistant(self.store, assistant_id)
        self.assistant_changed.emit(self.assistant)
        self.conversations_changed.emit()
        self.reload_engine(defer=True)
        if conversation_id is not None:
            try:
                conversation = get_conversation(self.store, conversation_id)
            except NotFoundError:
                conversation = None
            if conversation is not None and conversation.assistant_id == self.assistant.id:
                self.open_conversation(conversation.id)
                self.conversations_changed.emit()
                return
        self.open_conversation(None)

    def assistants(self) -> list[Assistant]:
        return list_assistants(self.store)

    def select_assistant(self, assistant_id: AssistantId) -> None:
        if assistant_id == self.assistant.id:
            return
        if self.turn is not None:
            self.stop()
        self.assistant = get_assistant(self.store, assistant_id)
        self.assistant_changed.emit(self.assistant)
        self.conversations_changed.emit()
        self.open_conversation(None)
        self.reload_engine()

    def assistant_updated(self) -> None:
        """Settings were saved: sampling applies to the next answer; name/persona show now."""
        self.assistant = get_assistant(self.store, self.assistant.id)
        self.assistant_changed.emit(self.assistant)

    def reload_engine(self, *, defer: bool = False) -> None:
        """(Re)load the assistant's model and adapters, e.g. after its active version changed.

        `defer` starts the load from the event loop, i.e. once the window is on screen, so
        importing llama.cpp on the inference thread does not compete with building the window.
        """
        self.assistant = get_assistant(self.store, self.assistant.id)
        self.engine_state = "loading"
        self.engine_changed.emit("loading", "Loading model…")
        if defer:
            assistant_id = self.assistant.id
            QTimer.singleShot(0, self, lambda: self.inference.load(assistant_id))
        else:
            self.inference.load(self.assistant.id)

    def _loaded(self, info: EngineInfo) -> None:
        if info.assistant_id != self.assistant.id:
            return
        self.engine_info = info
        self.engine_state = "ready"
        self.engine_changed.emit("ready", info.model_name)
        if self.turn is not None and self.turn.request_id is None:
            self._dispatch(self.turn)
        else:
            self._measure()

    def _measure(self) -> None:
        """Ask which of the open conversation's messages are out of the model's memory."""
        if self.ready and self.conversation is not None:
            self.inference.measure(self.conversation.id,
                                   chat.history(self.store, self.assistant, self.conversation.id),
                                   chat.sampling_for(self.assistant))

    def _load_failed(self, assistant_id: AssistantId, message: str) -> None:
        if assistant_id != self.assistant.id:
            return
        self.engine_state = "failed"
        self.engine_changed.emit("failed", message)
        if self.turn is not None and self.turn.request_id is None:
            self.turn = None
            self.answer_saved.emit(self.conversation.id if self.conversation else 0, None)
            self.busy_changed.emit(False)
        self.error.emit(f"{message} Your message was kept.")

    # -- conversations ---------------------------------------------------------------------

    def conversations(self, search: str = "") -> list[Conversation]:
        return list_conversations(self.store, self.assistant.id, search)

    def open_conversation(self, conversation_id: ConversationId | None) -> None:
        """Show a conversation; None shows a fresh, empty chat (created on first message)."""
        if conversation_id is None:
            self.conversation = None
            self.conversation_opened.emit(None, [])
            return
        self.conversation = get_conversation(self.store, conversation_id)
        self.conversation_opened.emit(self.conversation, list_messages(self.store,
                                                                       conversation_id))
        if self.turn is not None and self.turn.conversation_id == conversation_id:
            self.answer_started.emit(conversation_id, "")
        else:
            self._measure()

    def rename(self, conversation_id: ConversationId, title: str) -> None:
        rename_conversation(self.store, conversation_id, title)
        if self.conversation is not None and self.conversation.id == conversation_id:
            self.conversation = get_conversation(self.store, conversation_id)
            self.conversation_opened.emit(self.conversation,
                                          list_messages(self.store, conversation_id))
        self.conversations_changed.emit()

    def delete(self, conversation_id: ConversationId) -> None:
        """Delete a conversation (the view asked for confirmation first)."""
        if self.turn is not None and self.turn.conversation_id == conversation_id:
            self.turn.discarded = True
            self.stop()
        delete_conversation(self.store, conversation_id)
        if self.conversation is not None and self.conversation.id == conversation_id:
            self.open_conversation(None)
        self.conversations_changed.emit()

    # -- turns -----------------------------------------------------------------------------

    def send(self, text: str) -> bool:
        """Save the message and ask for an answer; queued while the model loads."""
        if self.turn is not None:
            self.error.emit("Wait for the current answer, or stop it (Esc).")
            return False
        if not text.strip():
            return False
        self._refresh_assistant()
        try:
            if self.conversation is None:
                self.conversation = create_conversation(self.store, self.assistant.id)
            prepared = chat.prepare(self.store, self.assistant, self.conversation.id, text)
        except KindredError as exc:
            self.error.emit(str(exc))
            return False
        self.conversation = get_conversation(self.store, self.conversation.id)
        self.user_message_added.emit(self.conversation.id, text)
        self.conversations_changed.emit()
        self._start(Turn(self.conversation.id, prepared,
                         trial=TrialTurn.open_for(self.store, self.assistant.id)))
        return True

    def regenerate(self) -> bool:
        if self.turn is not None or self.conversation is None:
            return False
        self._refresh_assistant()
        try:
            prepared, old = chat.prepare_regenerate(self.store, self.assistant,
                                                    self.conversation.id)
        except KindredError as exc:
            self.error.emit(str(exc))
            return False
        self.answer_removed.emit(self.conversation.id)
        self._start(Turn(self.conversation.id, prepared, replaces=old.id))
        return True

    def stop(self) -> None:
        if self.turn is None:
            return
        if self.turn.request_id is None:  # still waiting for the model: keep the question
            turn, self.turn = self.turn, None
            self.answer_saved.emit(turn.conversation_id, None)
            self.busy_changed.emit(False)
            return
        self.inference.cancel(self.turn.request_id)

    def _refresh_assistant(self) -> None:
        """Re-read the assistant before each turn: persona, sampling or the active version may
        have changed elsewhere (a dialog, the History page, the CLI). A different active
        version reloads the engine first, so no answer comes from adapters no longer chosen."""
        self.assistant = get_assistant(self.store, self.assistant.id)
        info = self.engine_info
        if self.ready and info is not None and info.adapters != assistant_state.speaks_through(
                self.store, self.assistant.id):
            self.reload_engine()

    def _start(self, turn: Turn) -> None:
        self.turn = turn
        self.busy_changed.emit(True)
        waiting = "" if self.ready else "Loading model… your message will be answered when " \
                                        "it is ready."
        self.answer_started.emit(turn.conversation_id, waiting)
        if self.ready:
            self._dispatch(turn)

    def _dispatch(self, turn: Turn) -> None:
        if turn.trial is not None:
            turn.request_id = self.inference.generate_with(
                turn.prepared.messages, turn.prepared.sampling, turn.trial.next_refs(self.store))
            return
        turn.request_id = self.inference.generate(turn.prepared.messages,
                                                  turn.prepared.sampling)

    def _current(self, request_id: int) -> Turn | None:
        if self.closed:
            return None
        turn = self.turn
        return turn if turn is not None and turn.request_id == request_id else None

    def _piece(self, request_id: int, text: str) -> None:
        turn = self._current(request_id)
        if turn is not None and not turn.discarded and turn.trial is None:
            self.answer_piece.emit(turn.conversation_id, text)

    def _finished(self, request_id: int, text: str, stats: GenerationStats) -> None:
        turn = self._current(request_id)
        if turn is None:
            return
        if turn.trial is not None and self._trial_answered(turn, text, stats):
            return
        self.turn = None
        message: Message | None = None
        if not turn.discarded and turn.trial is None:
            try:
                message = chat.save_answer(self.store, turn.conversation_id, text, stats,
                                           replaces=turn.replaces)
            except NotFoundError:
                message = None
        if stats.tok_s and turn.trial is None:  # a trial side's speed could tell it apart
            self.last_tok_s = stats.tok_s
            self.speed_changed.emit(stats.tok_s)
        self.answer_saved.emit(turn.conversation_id, message)
        self.context_measured.emit(turn.conversation_id, stats.dropped_messages)
        self.system_note_changed.emit(stats.system_note or "")
        self.busy_changed.emit(False)
        self.conversations_changed.emit()
        if message is not None and turn.trial is None:
            self.after_answer()

    def _failed(self, request_id: int, message: str) -> None:
        turn = self._current(request_id)
        if turn is None:
            return
        self.turn = None
        self.answer_saved.emit(turn.conversation_id, None)
        self.busy_changed.emit(False)
        self.error.emit(f"{message} Your message was kept.")

    # -- the view's feedback (lookups and writes: AnswerFeedback) ----------------------------

    def attach_feedback(self, view: ChatView) -> None:
        """Let `view` show saved feedback and ask for changes (the writes happen here), and
        what the answers could not see of the persona and preferences."""
        view.feedback_lookup = self.feedback_states
        view.answers = self
        view.rate_requested.connect(self.rate)
        view.correct_requested.connect(self.correct)
        self.feedback_changed.connect(view.set_feedback)
        self.feedback_failed.connect(view.feedback_failed)
        self.system_note_changed.connect(view.set_system_note)
