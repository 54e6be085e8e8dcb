"""The chat's answers as the view reads and rates them: version names, earlier answers, blind
trial answers, and the thumbs and corrections the person gives (saved here, on the main thread).
Apart from `chat_controller` because none of it touches a turn or the engine.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import ConversationId
from kindred.core.chat.conversations import Message, earlier_answers, earlier_counts
from kindred.core.home.assistants import Assistant
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.upgrades import trial


class AnswerFeedback(QObject):
    """What the view looks up about answers (`AnswerLookup`) and the feedback writes;
    `ChatController` keeps the session and the assistant these use."""

    feedback_changed = Signal(int, object, bool)  # message id, rating (+1/-1/None), corrected
    feedback_failed = Signal(int, str)          # message id, what went wrong

    session: Session
    assistant: Assistant

    @property
    def store(self):  # type: ignore[no-untyped-def]
        return self.session.store

    def names(self) -> dict[str, str]:
        """Version names ("Version 2") for the small print under answers."""
        return versions.names(self.store, self.assistant.id)

    def earlier_counts(self, conversation_id: ConversationId) -> dict[int, int]:
        return earlier_counts(self.store, conversation_id)

    def earlier(self, message_id: int) -> list[Message]:
        return earlier_answers(self.store, message_id)

    def blind(self, conversation_id: ConversationId) -> set[int]:
        """Answers of a trial round not picked yet: shown without their version's name."""
        return trial.blind_answers(self.store, conversation_id)

    def feedback_states(self, message_ids: list[int]) -> dict[int, tuple[int | None, bool]]:
        """{message id: (rating, corrected)} for answers on screen (two queries, any count)."""
        wanted = set(message_ids)
        ratings = {f.message_id: f.value for f in
                   feedback.list_feedback(self.store, self.assistant.id, "rating")
                   if f.message_id in wanted}
        corrected = {f.message_id for f in
                     feedback.list_feedback(self.store, self.assistant.id, "correction")
                     if f.message_id in wanted}
        return {i: (ratings.get(i), i in corrected) for i in message_ids}

    def rate(self, message_id: int, value: int) -> None:
        """Thumbs up (+1) or down (-1); 0 clears the answer's rating."""
        try:
            if value == 0:
                for item in feedback.list_feedback(self.store, self.assistant.id, "rating"):
                    if item.message_id == message_id:
                        feedback.remove_feedback(self.store, item.id)
            else:
                feedback.rate(self.store, message_id, value)
        except KindredError as exc:
            self.feedback_failed.emit(message_id, str(exc))
            return
        self._feedback_saved(message_id)

    def correct(self, message_id: int, wanted: str) -> None:
        """Save the answer the person wanted; the one given is kept as the rejected one."""
        try:
            feedback.correct(self.store, message_id, wanted)
        except KindredError as exc:
            self.feedback_failed.emit(message_id, str(exc))
            return
        self._feedback_saved(message_id)

    def _feedback_saved(self, message_id: int) -> None:
        rating, corrected = self.feedback_states([message_id])[message_id]
        self.feedback_changed.emit(message_id, rating, corrected)
