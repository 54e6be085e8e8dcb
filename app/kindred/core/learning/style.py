"""Style metrics of answers, and the plain sentences that describe how two sets of answers differ.

Pure functions over text so they are cheap to test; the insight view shows the sentences first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

_EMOJI = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f1e6-\U0001f1ff]")
_LIST_LINE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)
_CONTRACTION = re.compile(r"\b\w+'(?:s|re|ve|ll|d|m|t)\b", re.IGNORECASE)
_FORMAL = re.compile(r"\b(?:therefore|however|furthermore|moreover|regards|sincerely|kindly|"
                     r"certainly|indeed|please)\b", re.IGNORECASE)


@dataclass(frozen=True)
class StyleMetrics:
    words: float
    list_items: float
    questions: float
    name_mentions: float
    formal_markers: float
    contractions: float
    emoji: float
    exclamations: float

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def measure(answers: Sequence[str], user_name: str | None = None) -> StyleMetrics:
    """Mean per answer, so sets of different sizes compare."""
    n = max(1, len(answers))

    def mean(count: int) -> float:
        return count / n

    name = re.compile(rf"\b{re.escape(user_name)}\b", re.IGNORECASE) if user_name else None
    return StyleMetrics(
        words=mean(sum(len(a.split()) for a in answers)),
        list_items=mean(sum(len(_LIST_LINE.findall(a)) for a in answers)),
        questions=mean(sum(a.count("?") for a in answers)),
        name_mentions=mean(sum(len(name.findall(a)) for a in answers) if name else 0),
        formal_markers=mean(sum(len(_FORMAL.findall(a)) for a in answers)),
        contractions=mean(sum(len(_CONTRACTION.findall(a)) for a in answers)),
        emoji=mean(sum(len(_EMOJI.findall(a)) for a in answers)),
        exclamations=mean(sum(a.count("!") for a in answers)),
    )


_PHRASES = {
    "words": ("answers are {pct} longer", "answers are {pct} shorter"),
    "list_items": ("uses more lists", "uses fewer lists"),
    "questions": ("asks you more questions", "asks you fewer questions"),
    "name_mentions": ("uses your name more often", "uses your name less often"),
    "formal_markers": ("sounds more formal", "sounds less formal"),
    "contractions": ("sounds more casual (more contractions)", "uses fewer contractions"),
    "emoji": ("uses more emoji", "uses fewer emoji"),
    "exclamations": ("is more exclamatory", "is calmer (fewer exclamation marks)"),
}


def describe(before: StyleMetrics, after: StyleMetrics, *, min_change: float = 0.15
             ) -> list[str]:
    """Sentences such as "answers are 40% shorter", only for clear changes, biggest first."""
    found: list[tuple[float, str]] = []
    for key, (up, down) in _PHRASES.items():
        old, new = getattr(before, key), getattr(after, key)
        if old == new or max(old, new) < 0.2:
            continue
        change = (new - old) / old if old else 1.0
        if abs(change) < min_change:
            continue
        pct = f"{abs(change):.0%}" if old else "much"
        found.append((abs(change), (up if new > old else down).format(pct=pct)))
    return [text for _, text in sorted(found, key=lambda item: -item[0])]
