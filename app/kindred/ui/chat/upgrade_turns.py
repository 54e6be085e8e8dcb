"""What a chat turn does for an upgrade under way: during a side-by-side trial both versions
answer, blind, and the pair is recorded as a round to pick in; during a rollout each saved
answer may take the step that is due. Apart from `chat_controller` so the plain turn reads
without the upgrades, which only add to its end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal

from kindred.core.basics.errors import KindredError
from kindred.core.basics.states import RolloutState
from kindred.core.engine.llama import GenerationStats
from kindred.core.upgrades import rollout
from kindred.core.upgrades.rollout import Rollout
from kindred.ui.chat.answer_feedback import AnswerFeedback

if TYPE_CHECKING:
    from kindred.ui.chat.chat_controller import Turn


class UpgradeTurns(AnswerFeedback):
    """The trial's and the rollout's part of a turn; `ChatController` dispatches the turns."""

    error = Signal(str)
    rollout_changed = Signal(object)            # Rollout: a step was taken, held or stopped
    version_retired = Signal(str)               # a version stopped being used: interview it
    trial_round = Signal(int, object)           # conversation id, trial Round to pick in

    def reload_engine(self, *, defer: bool = False) -> None:
        raise NotImplementedError  # ChatController's

    def _dispatch(self, turn: Turn) -> None:
        raise NotImplementedError  # ChatController's

    def after_answer(self) -> None:
        """The rollout's pace: a step that is due is taken now, and the engine follows."""
        try:
            changed = rollout.advance_if_due(self.store, self.assistant.id)
        except KindredError as exc:
            self.error.emit(str(exc))
            return
        if changed is not None:
            self.follow_rollout(changed)

    def follow_rollout(self, changed: Rollout) -> None:
        """A rollout step was taken (after the chat's answer or another app's): say so,
        answer with the new blend, and have the version that stepped down interviewed."""
        self.rollout_changed.emit(changed)
        if changed.state != RolloutState.STOPPED:
            self.reload_engine()
        if changed.state == RolloutState.FINISHED and changed.from_version:
            self.version_retired.emit(changed.from_version)

    def _trial_answered(self, turn: Turn, text: str, stats: GenerationStats) -> bool:
        """A trial turn's answer: the first sends the second; the second records the round.
        Returns True while the turn goes on (the second answer is being produced)."""
        assert turn.trial is not None
        turn.trial.results.append((text, stats))
        if len(turn.trial.results) < 2 and not turn.discarded \
                and stats.finish_reason != "cancelled":
            self._dispatch(turn)
            return True
        if len(turn.trial.results) == 2 and not turn.discarded:
            try:
                round_ = turn.trial.record(self.store, turn.conversation_id)
            except KindredError as exc:
                self.error.emit(str(exc))
            else:
                self.trial_round.emit(turn.conversation_id, round_)
        turn.trial.results.clear()  # nothing more to save for this turn
        return False
