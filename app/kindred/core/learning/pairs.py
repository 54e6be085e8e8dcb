"""Preference pairs: what the person said "not this" to, beside what they wanted instead.

Two sources, both kept in every dataset snapshot:
- a correction keeps the original answer as `rejected`: the pair is (prompt, the corrected
  answer, the original);
- a thumbs-down marks an answer without saying what was wanted: the pair is (prompt, None, the
  disliked answer), and the teacher (the base with the person's examples in mind, see
  `teacher`) supplies the wanted side when the pair is used.

How the training uses them (`training.replay`): a disliked answer's prompt is answered by the
teacher and that answer is learned like the other teacher answers, unless it is the disliked
answer again. There is no contrastive (DPO/SimPO-style) term: see docs/architecture.md, "Learning
from "not this"", for why.
"""

from __future__ import annotations

from dataclasses import dataclass

from kindred.core.learning.dataset import Dataset
from kindred.core.learning.markers import words


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str | None
    """The answer wanted (a correction), or None (a thumbs-down: the teacher's answer)."""
    rejected: str
    source: str
    """"correction" or "disliked"."""
    feedback_id: int

    def to_json(self) -> dict[str, object]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected,
                "source": self.source, "feedback": self.feedback_id}


def preference_pairs(dataset: Dataset) -> list[Pair]:
    """Every pair the dataset holds: corrections with their original answer, then disliked
    answers. A correction identical to what it corrected is no pair."""
    out: list[Pair] = []
    for example in dataset.examples:
        if example.kind == "correction" and example.rejected and \
                words(example.rejected) != words(example.answer):
            out.append(Pair(example.messages[-2]["content"], example.answer, example.rejected,
                            "correction", example.feedback_id))
    for item in dataset.not_trained:
        if item.get("kind") == "disliked" and item.get("prompt") and item.get("answer"):
            out.append(Pair(str(item["prompt"]), None, str(item["answer"]), "disliked",
                            int(item.get("feedback", 0))))
    return out


def differs(answer: str, rejected: str) -> bool:
    """Whether an answer is not the rejected one again (same words, ignoring case and
    punctuation)."""
    return words(answer) != words(rejected)
