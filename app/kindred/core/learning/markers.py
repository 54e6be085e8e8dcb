"""What a person taught, as checkable marks on any answer: an opening, a closing, their name,
a wish for short or long answers, words they favour. Pure text functions (no model).

The quality card asks "does the candidate still show what was taught on prompts it never saw?";
these marks make that question countable. They are found in the taught answers themselves
(an opening or closing that most corrected answers share, words they use that the base's
answers did not) and in the stated preferences ("Call me Sam", "Keep answers short"), so they
work for any style a person teaches, not only a greeting.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NAME = re.compile(r"\b(?:call me|my name is|i am called|i'm called|address me as)\s+"
                   r"([A-Z][\w'-]{0,30})", re.IGNORECASE)
_SHORT = re.compile(r"\b(short|shorter|brief|briefly|concise|succinct|terse|one line|"
                    r"few words|to the point)\b", re.IGNORECASE)
_LONG = re.compile(r"\b(detailed|in detail|longer|thorough|elaborate|step by step|"
                   r"explain fully)\b", re.IGNORECASE)
_STOPWORDS = """
    a an the and or but if of to in on at by for with from as is are was were be been am it
    its this that these those i you he she we they me him her us them my your our their not
    no yes do does did have has had will would can could should may might must so very too
    just also than then there here what which who whom how why when where all any some one
    two up down out over under again more most such only own same into about after before
    while s t don isn aren
"""
STOPWORDS = frozenset(_STOPWORDS.split())
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
OPENING_WORDS = 4
"""How far into an answer an opening may be found (its first words)."""


def words(text: str) -> list[str]:
    """Lower-case words (letters and digits; inner apostrophes kept)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


@dataclass(frozen=True)
class Markers:
    opening: list[str] = field(default_factory=list)
    """Words most taught answers open with ("ahoy", "sam"); empty if they share none."""
    closing: list[str] = field(default_factory=list)
    name: str | None = None
    brevity: str | None = None
    """"short" or "long" when a preference asks for it, else None."""
    favoured: list[str] = field(default_factory=list)
    """Words the taught answers use repeatedly that the base's own answers did not."""

    @property
    def any(self) -> bool:
        return bool(self.opening or self.closing or self.name or self.favoured)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Markers:
        return cls(list(data.get("opening") or []), list(data.get("closing") or []),
                   data.get("name"), data.get("brevity"), list(data.get("favoured") or []))

    def describe(self) -> str:
        parts = []
        if self.opening:
            parts.append(f"opens with \"{' '.join(self.opening)}\"")
        if self.closing:
            parts.append(f"ends with \"{' '.join(self.closing)}\"")
        if self.name:
            parts.append(f"calls you {self.name}")
        if self.favoured:
            parts.append("uses " + ", ".join(f"\"{w}\"" for w in self.favoured[:4]))
        if self.brevity:
            parts.append(f"keeps answers {'shorter' if self.brevity == 'short' else 'longer'}"
                         " than the base model")
        return "; ".join(parts) if parts else "no style marks"


def _shared_edge(answers: Sequence[list[str]], *, last: bool) -> list[str]:
    """The longest run of edge words (up to 4) shared by at least half the answers (and by
    at least two of them, unless only one answer was taught)."""
    if not answers:
        return []
    need = max(2 if len(answers) > 1 else 1, (len(answers) + 1) // 2)
    best: list[str] = []
    for size in range(1, OPENING_WORDS + 1):
        edges = Counter(tuple(a[-size:] if last else a[:size]) for a in answers
                        if len(a) > size)
        if not edges:
            break
        edge, count = edges.most_common(1)[0]
        if count < need or all(w in STOPWORDS for w in edge):
            break
        best = list(edge)
    return best


def find(taught: Sequence[str], preferences: Sequence[str] = (),
         base_answers: Sequence[str] = ()) -> Markers:
    """The marks of what was taught: `taught` are the answers the person wrote or liked,
    `base_answers` what the base said to the same prompts (to tell taught words from common
    ones)."""
    tokenized = [words(a) for a in taught if a.strip()]
    opening = _shared_edge(tokenized, last=False)
    closing = _shared_edge(tokenized, last=True)
    if closing and closing == opening:
        closing = []
    name = None
    for preference in preferences:
        found = _NAME.search(preference)
        if found:
            name = found.group(1).strip("'-")
    text = " ".join(preferences)
    brevity = "short" if _SHORT.search(text) else "long" if _LONG.search(text) else None
    usual = Counter(w for a in base_answers for w in set(words(a)))
    spread = Counter(w for a in tokenized for w in set(a))
    marked = set(opening) | set(closing) | ({name.lower()} if name else set())
    # a word counts as taught when a good share of the answers use it (two of eight answers
    # saying "water" is a topic, not a style)
    need = max(2, math.ceil(0.4 * len(tokenized))) if len(tokenized) > 1 else 1
    favoured = [w for w, n in spread.most_common()
                if n >= need and len(w) > 2 and w not in STOPWORDS and w not in marked
                and usual[w] == 0 and not w.isdigit()][:5]
    return Markers(opening, closing, name, brevity, favoured)


def shows(answer: str, markers: Markers) -> dict[str, bool]:
    """Which marks an answer shows (only the marks that exist)."""
    found = words(answer)
    head = found[:OPENING_WORDS + 4]
    tail = found[-(OPENING_WORDS + 4):]
    out: dict[str, bool] = {}
    if markers.opening:
        out["opening"] = markers.opening[0] in head
    if markers.closing:
        out["closing"] = markers.closing[-1] in tail
    if markers.name:
        out["name"] = markers.name.lower() in found
    if markers.favoured:
        out["favoured"] = any(w in found for w in markers.favoured)
    return out


def primary(markers: Markers) -> str | None:
    """The mark that stands for the style: the opening, else closing, name, favoured words."""
    for key, present in (("opening", markers.opening), ("closing", markers.closing),
                         ("name", markers.name), ("favoured", markers.favoured)):
        if present:
            return key
    return None


def repetition(text: str, n: int = 3) -> float:
    """Share of the answer's word n-grams that repeat an earlier one (0: none; a loop tends
    to 1)."""
    found = words(text)
    grams = [tuple(found[i:i + n]) for i in range(len(found) - n + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def opening_text(answers: Sequence[str], markers: Markers) -> str | None:
    """The opening exactly as the person wrote it most often (case and punctuation kept),
    to put in front of answers that teach the style on general prompts."""
    if not markers.opening:
        return None
    size = len(markers.opening)
    found: Counter[str] = Counter()
    for answer in answers:
        matches = list(_WORD.finditer(answer))
        if len(matches) <= size or [m.group().lower().replace("’", "'")
                                    for m in matches[:size]] != markers.opening:
            continue
        end = matches[size - 1].end()
        rest = answer[end:]
        trail = re.match(r"[^\w\s]*", rest)
        found[answer[:end] + (trail.group() if trail else "")] += 1
    return found.most_common(1)[0][0].strip() if found else None


def closing_text(answers: Sequence[str], markers: Markers) -> str | None:
    """The closing as the person wrote it (the last sentence of a taught answer ending with
    the closing words)."""
    if not markers.closing:
        return None
    for answer in answers:
        found = words(answer)
        if found[-len(markers.closing):] == markers.closing:
            last = _SENTENCE_END.split(answer.strip())[-1]
            if len(words(last)) <= len(markers.closing) + 2:
                return last
    return None
