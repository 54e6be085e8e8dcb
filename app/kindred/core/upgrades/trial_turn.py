"""A trial round being answered in the chat: which side goes first (drawn at random, never
shown), the answers so far, and the round recorded once both sides answered. The chat (window or
CLI) asks it which adapters answer next; it names no side to the person."""

from __future__ import annotations

from dataclasses import dataclass, field

from kindred.core.basics.ids import AssistantId, ConversationId
from kindred.core.engine.llama import AdapterRef, GenerationStats
from kindred.core.home.store import Store
from kindred.core.upgrades import trial


@dataclass
class TrialTurn:
    """One trial round being answered: which side goes first, and the answers so far."""

    running: trial.Trial
    first_is: str
    results: list[tuple[str, GenerationStats]] = field(default_factory=list)

    @classmethod
    def open_for(cls, store: Store, assistant_id: AssistantId) -> TrialTurn | None:
        running = trial.current(store, assistant_id)
        return cls(running, trial.shuffle()) if running is not None else None

    def side(self) -> str:
        """'a' or 'b': who answers next."""
        if not self.results:
            return self.first_is
        return "b" if self.first_is == "a" else "a"

    def next_refs(self, store: Store) -> list[AdapterRef]:
        side = self.side()
        return trial.side_refs(store, self.running.a_version if side == "a"
                               else self.running.b_version)

    def record(self, store: Store, conversation_id: ConversationId) -> trial.Round:
        return trial.record_round(store, self.running, conversation_id, self.first_is,
                                  self.results[0], self.results[1])
