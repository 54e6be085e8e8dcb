"""Words a version favours or avoids: whole words, not the token pieces the model reads.

A token like "oy" means nothing to a person; "Ahoy" does. Each answer's tokens are laid over its
text, every word (letters, at least two) collects the change in log-probability of the tokens
it is made of (adapter minus comparison, in context), and words are ranked by their mean change
over all their occurrences. Single letters, numbers and punctuation are left out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WORD = re.compile(r"[^\W\d_]{2,}(?:['’][^\W\d_]+)*")
MIN_CHANGE = 0.05  # nats: below this a word did not really move


def word_changes(pieces: Sequence[bytes], deltas: Sequence[float]) -> list[tuple[str, float]]:
    """(word, summed change of its tokens) for every word of one answer, in order.

    `pieces[i]` is token i's bytes and `deltas[i]` its change; a token shared by two words
    (rare) counts for both."""
    text = b"".join(pieces).decode("utf-8", "replace")
    ends, total = [], b""
    for piece in pieces:
        total += piece
        ends.append(len(total.decode("utf-8", "ignore")))
    starts = [0, *ends[:-1]]
    out = []
    for match in WORD.finditer(text):
        inside = [i for i, (a, b) in enumerate(zip(starts, ends, strict=True))
                  if a < match.end() and b > match.start()]
        if inside:
            out.append((match.group(), float(np.sum([deltas[i] for i in inside]))))
    return out


@dataclass
class WordTally:
    """Changes of every word seen, over many answers."""

    total: dict[str, float] = field(default_factory=dict)
    count: Counter[str] = field(default_factory=Counter)
    forms: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, changes: Iterable[tuple[str, float]]) -> None:
        for word, change in changes:
            key = word.lower()
            self.total[key] = self.total.get(key, 0.0) + change
            self.count[key] += 1
            self.forms.setdefault(key, Counter())[word] += 1

    def ranked(self, top: int) -> dict[str, list[dict[str, Any]]]:
        """The `top` words most raised (promoted) and most lowered (demoted), by mean change."""
        means = {k: self.total[k] / self.count[k] for k in self.total}

        def entry(key: str) -> dict[str, Any]:
            return {"token": self.forms[key].most_common(1)[0][0],
                    "score": round(means[key], 4), "count": self.count[key]}

        order = sorted(means, key=lambda k: (means[k], k))
        return {"promoted": [entry(k) for k in reversed(order) if means[k] > MIN_CHANGE][:top],
                "demoted": [entry(k) for k in order if means[k] < -MIN_CHANGE][:top]}
