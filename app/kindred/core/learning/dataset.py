"""The learning data of an assistant: all its feedback as chat examples, and their snapshot.

Each example is a short conversation (system prompt, user prompt, the wanted answer) in which only
the answer is a training target. The system prompt is the one the chat uses (persona plus active
preferences), so the adapter learns in the context it will answer in.

- a corrected answer: its prompt and the wanted answer (the original is kept as `rejected`);
- a liked answer (thumbs up): its prompt and that answer, unless it was also corrected;
- a stated preference: the user states it, the assistant acknowledges it;
- a disliked answer (thumbs down) is kept in the snapshot but never a target: plain fine-tuning
  cannot learn from "not this" alone; its correction, if the user writes one, is the target.

The snapshot is canonical JSON (no timestamps, so the same data always gives the same id) stored
content-addressed in the archive; each version's manifest names the snapshot that taught it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import TAUGHT_KINDS
from kindred.core.engine.system_budget import compose_system_prompt
from kindred.core.home.assistants import Assistant
from kindred.core.home.store import Store
from kindred.core.learning.feedback import list_feedback

FORMAT = "kindred-dataset/1"


@dataclass(frozen=True)
class Example:
    kind: str
    feedback_id: int
    messages: list[dict[str, str]]
    rejected: str | None = None

    @property
    def prompt_messages(self) -> list[dict[str, str]]:
        """Everything before the answer (what the model is given)."""
        return self.messages[:-1]

    @property
    def answer(self) -> str:
        return self.messages[-1]["content"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "feedback": self.feedback_id,
                               "messages": self.messages}
        if self.rejected is not None:
            out["rejected"] = self.rejected
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Example:
        return cls(str(data["kind"]), int(data["feedback"]),
                   [{"role": str(m["role"]), "content": str(m["content"])}
                    for m in data["messages"]], data.get("rejected"))


@dataclass(frozen=True)
class Dataset:
    assistant_id: AssistantId
    base_sha256: str
    system_prompt: str
    examples: list[Example]
    not_trained: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Examples by kind, plus the disliked answers kept but not trained on."""
        found = Counter(e.kind for e in self.examples)
        out: dict[str, int] = {str(kind): found.get(kind, 0) for kind in TAUGHT_KINDS}
        out["disliked"] = len(self.not_trained)
        return out

    def to_bytes(self) -> bytes:
        body = {"format": FORMAT, "base_sha256": self.base_sha256,
                "system_prompt": self.system_prompt,
                "examples": [e.to_json() for e in self.examples],
                "not_trained": self.not_trained}
        return json.dumps(body, sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False).encode()

    @classmethod
    def from_bytes(cls, data: bytes, assistant_id: AssistantId | None = None) -> Dataset:
        try:
            body = json.loads(data)
            if body.get("format") != FORMAT:
                raise ValueError(f"format {body.get('format')!r}")
            return cls(assistant_id or AssistantId(0), str(body["base_sha256"]),
                       str(body["system_prompt"]),
                       [Example.from_json(e) for e in body["examples"]],
                       list(body.get("not_trained", [])))
        except (ValueError, KeyError, TypeError) as exc:
            raise KindredError(f"Not a Kindred dataset snapshot: {exc}.") from exc


def _turn(system: str, prompt: str, answer: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": prompt},
            {"role": "assistant", "content": answer}]


def acknowledgement(preference: str) -> str:
    return f"Understood. From now on: {preference}"


def build_dataset(store: Store, assistant: Assistant, base_sha256: str) -> Dataset:
    """All of the assistant's feedback, oldest first, as training examples."""
    items = list_feedback(store, assistant.id)
    preferences = [f.answer for f in items if f.kind == "preference" and f.active]
    system = compose_system_prompt(assistant.persona, preferences)
    corrected = {f.message_id for f in items if f.kind == "correction" and f.message_id}
    examples: list[Example] = []
    not_trained: list[dict[str, Any]] = []
    for item in items:
        if item.kind == "correction":
            examples.append(Example("correction", item.id, _turn(system, item.prompt,
                                                                 item.answer), item.rejected))
        elif item.kind == "rating" and item.value == 1:
            if item.message_id is None or item.message_id not in corrected:
                examples.append(Example("liked", item.id, _turn(system, item.prompt,
                                                                item.answer)))
        elif item.kind == "rating":
            not_trained.append({"kind": "disliked", "feedback": item.id, "prompt": item.prompt,
                                "answer": item.answer})
        elif item.kind == "preference" and item.active:
            examples.append(Example("preference", item.id,
                                    _turn(system, item.answer, acknowledgement(item.answer))))
    return Dataset(assistant.id, base_sha256, system, examples, not_trained)


def describe_counts(counts: dict[str, int]) -> str:
    """"3 corrected answers, 1 preference, 2 liked answers" (zero counts left out)."""
    names = {"correction": ("corrected answer", "corrected answers"),
             "preference": ("preference", "preferences"),
             "liked": ("liked answer", "liked answers"),
             "disliked": ("disliked answer (kept, not a target)",
                          "disliked answers (kept, not targets)")}
    parts = [f"{n} {names[k][0] if n == 1 else names[k][1]}"
             for k, n in counts.items() if n and k in names]
    return ", ".join(parts) if parts else "no examples"
