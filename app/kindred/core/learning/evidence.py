"""The evidence behind a version: the stated preferences and corrected answers that taught it.

Read from the version's archived dataset snapshot (`kindred.core.learning.dataset`: what really
taught it);
a version without one (imported) falls back to the assistant's current feedback, so "fit" still
measures the person's own preferred answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kindred.core.archive import objects as archive
from kindred.core.archive.versions import Version
from kindred.core.basics.ids import AssistantId
from kindred.core.home.store import Store
from kindred.core.learning.dataset import Dataset
from kindred.core.learning.feedback import list_feedback

_NAME = re.compile(r"\b(?:call me|my name is|i am called|i'm called)\s+([A-Z][\w'-]{0,30})",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    preferences: list[str] = field(default_factory=list)
    examples: list[tuple[str, str]] = field(default_factory=list)
    """(prompt, the answer the person wanted)."""
    from_snapshot: bool = False

    @property
    def user_name(self) -> str | None:
        for text in self.preferences:
            match = _NAME.search(text)
            if match:
                return match.group(1)
        return None


def _from_snapshot(raw: bytes) -> Evidence:
    data = Dataset.from_bytes(raw)
    preferences: list[str] = []
    examples: list[tuple[str, str]] = []
    for example in data.examples:
        prompt = example.messages[-2]["content"] if len(example.messages) > 1 else ""
        if example.kind == "preference":
            if prompt not in preferences:
                preferences.append(prompt)
        elif prompt and example.answer:
            examples.append((prompt, example.answer))
    return Evidence(preferences, examples, True)


def _from_feedback(store: Store, assistant_id: AssistantId) -> Evidence:
    preferences: list[str] = []
    examples: list[tuple[str, str]] = []
    for item in list_feedback(store, assistant_id):
        if item.kind == "preference" and item.active:
            preferences.append(item.answer)
        elif item.kind == "correction" or (item.kind == "rating" and item.value == 1):
            examples.append((item.prompt, item.answer))
    return Evidence(preferences, examples, False)


def evidence_for(store: Store, version: Version) -> Evidence:
    if version.dataset:
        path = archive.dataset_path(store, version.dataset)
        if path.exists():
            return _from_snapshot(path.read_bytes())
    return _from_feedback(store, version.assistant_id)
