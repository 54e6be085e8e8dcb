"""What a rollout or a trial means for the chat: the adapters the assistant answers with now
(`wanted_adapters`, the core's one answer to it) and a trial round being answered
(`TrialTurn`: which side goes first, the answers so far)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kindred.core.archive import assistant_state
from kindred.core.engine.llama import AdapterRef, GenerationStats
from kindred.core.home.assistants import Assistant
from kindred.core.home.store import Store
from kindred.core.upgrades import trial


def wanted_adapters(store: Store, assistant: Assistant) -> list[tuple[str, float]]:
    """What the assistant should be answering with now (the core's one answer to it)."""
    return assistant_state.speaks_through(store, assistant.id)


@dataclass
class TrialTurn:
    """One trial round being answered: which side goes first, and the answers so far."""

    running: trial.Trial
    first_is: str
    results: list[tuple[str, GenerationStats]] = field(default_factory=list)

    @classmethod
    def open_for(cls, store: Store, assistant_id: int) -> TrialTurn | None:
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

    def record(self, store: Store, conversation_id: int) -> trial.Round:
        return trial.record_round(store, self.running, conversation_id, self.first_is,
                                  self.results[0], self.results[1])
