"""The quality card of a candidate: did it learn the person's style without losing the base?

Computed with llama.cpp (no torch), greedily, on prompts training never saw (the shipped set in
`resources/quality.json`, plus the person's held-out prompts), with the system prompt the chat
uses:

- *style*, whatever it is: agreement with the teacher, the base model with the person's stated
  preferences and a few of their answers in mind (`learning.teacher`). The teacher answers the
  unseen everyday requests; the card then asks how much likelier the candidate makes those
  answers than the base does, per word and without the examples (`teacher_agreement`): the share
  of the way from the base to the teacher the candidate went, per request. Where the examples
  change nothing in the base's answers (the teacher itself cannot show the style), the card says
  so instead of promising it. Marker hits (an opening, a closing, the person's name, favoured
  words; see `markers`) are kept beside it, where there are any;
- *retention*: of the shipped factual questions the base answers correctly, how many the
  candidate still does;
- *open answers*: mean length on open questions against the base's (shorter is right only when
  the person asked for brevity);
- *repetition*: the share of repeated word 3-grams in those answers, against the base's.

Plain-words flags name a clear regression (a fact lost in more than one of ten, open answers
halved without a request for brevity, repetition up). The person still decides; the card is
shown before consent. The base's half is cached per (base, system prompt, set), so each card
costs only the candidate's answers.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kindred.core.archive.cards import store_card
from kindred.core.archive.catalog import Version
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.progress import Progress as Progress
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home.store import Store
from kindred.core.learning import agreement, teacher
from kindred.core.learning import markers as marks
from kindred.core.learning.dataset import Dataset
from kindred.core.learning.markers import Markers

FORMAT = 1
FACT_TOKENS = 40
STYLE_TOKENS = 72
OPEN_TOKENS = 160
LIMITS = (FACT_TOKENS, STYLE_TOKENS, OPEN_TOKENS)
MAX_LOST_SHARE = 0.1
MIN_OPEN_RATIO = 0.5
MAX_REPETITION_RISE = 0.05
HELDOUT_PROMPTS = 4
BREVITY = 0.8
"""An answer shows a wish for short answers when it is under 0.8x the base's (long: over
1.25x)."""


@dataclass(frozen=True)
class QuestionSet:
    version: int
    facts: list[tuple[str, list[str]]]
    open: list[str]
    style: list[str]
    tokens: tuple[int, int, int] = LIMITS
    """Answer limits (facts, style, open). A set may name its own ("tokens" in its file): the
    test suite's tiny set asks for shorter open answers, whose longest answer otherwise sets
    the length of every card there."""

    @classmethod
    def shipped(cls) -> QuestionSet:
        """The shipped set, or the file `KINDRED_QUALITY_SET` names (same format; the test
        suite uses a tiny one so that every training test does not pay for the full card)."""
        override = os.environ.get("KINDRED_QUALITY_SET")
        if override:
            text = Path(override).read_text("utf-8")
        else:
            text = resources.files("kindred.resources").joinpath("quality.json").read_text(
                "utf-8")
        data = json.loads(text)
        limits = {"facts": FACT_TOKENS, "style": STYLE_TOKENS, "open": OPEN_TOKENS,
                  **data.get("tokens", {})}
        return cls(int(data["version"]), [(f["q"], [a.lower() for a in f["a"]])
                                          for f in data["facts"]],
                   list(data["open"]), list(data["style"]),
                   (int(limits["facts"]), int(limits["style"]), int(limits["open"])))


def correct(answer: str, accepted: Sequence[str]) -> bool:
    """An accepted answer appears as a whole word (or phrase) in the answer."""
    text = " ".join(answer.lower().split())
    return any(re.search(rf"(?<![\w]){re.escape(a)}(?![\w])", text) for a in accepted)


def _turn(system: str, prompt: str) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": prompt}]


def answers(engine: Engine, system: str, questions: QuestionSet, extra_style: Sequence[str],
            progress_base: float = 0.0, progress_span: float = 1.0, who: str = ""
            ) -> Generator[Progress, None, dict[str, list[str]]]:
    """Greedy answers to every question of the set (under the engine's current adapters),
    several prompts per decode (`chat.batch`)."""
    from kindred.core.engine.batch import BatchGenerator

    facts, style, open_ = questions.tokens
    jobs = ([("facts", q, facts) for q, _ in questions.facts]
            + [("style", p, style) for p in [*questions.style, *extra_style]]
            + [("open", p, open_) for p in questions.open])
    texts = [""] * len(jobs)
    yield Progress(progress_base, f"Asking {who}: {len(jobs)} questions")
    with BatchGenerator(engine) as generator:
        for done, (index, text) in enumerate(generator.chat(
                [_turn(system, prompt) for _, prompt, _ in jobs],
                [tokens for *_, tokens in jobs]), start=1):
            texts[index] = text
            if done % 4 == 0:
                yield Progress(progress_base + progress_span * done / len(jobs),
                               f"Asking {who}: {done} of {len(jobs)} answered")
    out: dict[str, list[str]] = {"facts": [], "style": [], "open": []}
    for (part, _, _), text in zip(jobs, texts, strict=True):
        out[part].append(text)
    return out


def base_cache_key(base_sha256: str, system: str, questions: QuestionSet,
                   extra_style: Sequence[str]) -> str:
    key: dict[str, Any] = {"format": FORMAT, "base": base_sha256, "system": system,
                           "set": questions.version, "extra": list(extra_style)}
    if questions.tokens != LIMITS:  # the shipped limits keep the keys they had
        key["tokens"] = list(questions.tokens)
    body = json.dumps(key, sort_keys=True)
    return sha256_bytes(body.encode())


def base_cache_file(cache_dir: Path, base_sha256: str, system: str, questions: QuestionSet,
                    extra_style: Sequence[str] = ()) -> Path:
    """Where the base's half of a card is cached (`base_cache_key`)."""
    return cache_dir / f"{base_cache_key(base_sha256, system, questions, extra_style)}.json"


def teacher_cache_file(folder: Path, base_sha256: str, system: str, questions: QuestionSet,
                       extra_style: Sequence[str], shots: Sequence[teacher.Shot]) -> Path:
    """Where the teacher's half of a card is kept (`agreement.teacher_half`), by content."""
    key = sha256_bytes(json.dumps([base_cache_key(base_sha256, system, questions, extra_style),
                                   teacher.key_of(system, shots)]).encode())
    return folder / f"{key}.json"


def cached_base(path: Path | None) -> dict[str, list[str]] | None:
    """The cached base half, or None when there is none (or it is unreadable)."""
    if path is None or not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (ValueError, TypeError):
        return None


def base_half(engine: Engine, system: str, questions: QuestionSet, extra_style: Sequence[str],
              cached: Path | None, progress_span: float = 1.0
              ) -> Generator[Progress, None, dict[str, list[str]]]:
    """The base model's answers (the engine's adapters are switched off), written atomically
    to `cached` when given: what every card of this base and system prompt compares with."""
    engine.set_adapters([])
    base = yield from answers(engine, system, questions, extra_style, 0.0, progress_span,
                              "the base model")
    if cached is not None:
        from kindred.core.home.atomic import write_atomic

        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(cached, json.dumps(base).encode())
    return base


def compute(engine: Engine, *, base_sha256: str, system: str, markers: Markers,
            candidate: Sequence[AdapterRef], heldout_prompts: Sequence[str] = (),
            cache_dir: Path | None = None, questions: QuestionSet | None = None,
            shots: Sequence[teacher.Shot] = (), teacher_cache: Path | None = None
            ) -> Generator[Progress | dict[str, Any], None, None]:
    """Progress events, then the card (a dict). Leaves the engine on the candidate's adapters.
    `shots`: the person's examples the teacher has in mind (see `agreement`); none, no
    teacher measure. `teacher_cache`: where the teacher's half is kept (by content)."""
    questions = questions or QuestionSet.shipped()
    extra = list(heldout_prompts)[:HELDOUT_PROMPTS]
    cached = (base_cache_file(cache_dir, base_sha256, system, questions, extra)
              if cache_dir is not None else None)
    base = cached_base(cached)
    fresh = base is None
    if base is None:
        base = yield from base_half(engine, system, questions, extra, cached, 0.4)
    style_prompts = [*questions.style, *extra]
    half = None
    if shots:
        yield Progress(0.4 if fresh else 0.0, "Asking the model with your examples in mind")
        half = agreement.teacher_half(
            engine, system, shots, style_prompts, questions.tokens[1],
            None if teacher_cache is None else teacher_cache_file(
                teacher_cache, base_sha256, system, questions, extra, shots))
    engine.set_adapters(list(candidate))
    start = 0.5 if fresh else 0.1
    mine = yield from answers(engine, system, questions, extra, start, 0.95 - start,
                              "the candidate")
    agreed = None
    if half is not None:
        agreed = agreement.measure(half, agreement.candidate_scores(engine, system,
                                                                    style_prompts, half))
    yield Progress(1.0, "Quality measured")
    yield card(questions, base, mine, markers, style_prompts, agreed)


def card(questions: QuestionSet, base: dict[str, list[str]], mine: dict[str, list[str]],
         markers: Markers, style_prompts: Sequence[str],
         agreed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The card from both sides' answers and the teacher agreement (`agreement.measure`, None
    when nothing was taught by example) (pure: testable without a model)."""
    base_right = [correct(a, acc) for a, (_, acc) in zip(base["facts"], questions.facts,
                                                         strict=True)]
    mine_right = [correct(a, acc) for a, (_, acc) in zip(mine["facts"], questions.facts,
                                                         strict=True)]
    lost = [q for (q, _), b, m in zip(questions.facts, base_right, mine_right, strict=True)
            if b and not m]
    gained = sum(1 for b, m in zip(base_right, mine_right, strict=True) if m and not b)
    base_words = statistics.fmean(len(marks.words(a)) for a in base["open"]) if base["open"] \
        else 0.0
    mine_words = statistics.fmean(len(marks.words(a)) for a in mine["open"]) if mine["open"] \
        else 0.0
    ratio = mine_words / base_words if base_words else 1.0
    rep_base = statistics.fmean(marks.repetition(a) for a in base["open"]) if base["open"] \
        else 0.0
    rep_mine = statistics.fmean(marks.repetition(a) for a in mine["open"]) if mine["open"] \
        else 0.0
    main = marks.primary(markers)

    def share(side: list[str]) -> dict[str, float]:
        found = [marks.shows(a, markers) for a in side]
        keys = sorted({k for f in found for k in f})
        return {k: round(sum(f[k] for f in found) / max(1, len(found)), 3) for k in keys}

    style_base, style_mine = share(base["style"]), share(mine["style"])
    if markers.brevity:
        # a wish for short (long) answers shows as answers clearly shorter (longer) than the
        # base's own answer to the same request; the base, compared with itself, never does
        shorter = markers.brevity == "short"
        pairs = list(zip(base["style"], mine["style"], strict=True))
        shown = [(len(marks.words(m)) < BREVITY * len(marks.words(b))) if shorter
                 else (len(marks.words(m)) * BREVITY > len(marks.words(b))) for b, m in pairs]
        style_mine["brevity"] = round(sum(shown) / max(1, len(shown)), 3)
        style_base["brevity"] = 0.0
        main = main or "brevity"
    result: dict[str, Any] = {
        "format": FORMAT, "set": questions.version, "markers": markers.to_json(),
        "style": {"primary": main, "prompts": len(mine["style"]),
                  "base": style_base, "candidate": style_mine,
                  "share": style_mine.get(main, 0.0) if main else None,
                  "base_share": style_base.get(main, 0.0) if main else None,
                  "teacher": agreed},
        "facts": {"total": len(questions.facts), "base": sum(base_right),
                  "candidate": sum(mine_right), "lost": lost, "gained": gained},
        "open": {"base_words": round(base_words, 1), "candidate_words": round(mine_words, 1),
                 "ratio": round(ratio, 3)},
        "repetition": {"base": round(rep_base, 3), "candidate": round(rep_mine, 3)},
        "samples": [{"prompt": p, "base": b, "candidate": m} for p, b, m in
                    zip([*style_prompts, *questions.open], [*base["style"], *base["open"]],
                        [*mine["style"], *mine["open"]], strict=True)],
    }
    result["flags"] = flags(result)
    result["summary"] = summary(result)
    return result


def flags(result: dict[str, Any]) -> list[str]:
    """Clear regressions, in plain words (empty when none)."""
    out = []
    facts = result["facts"]
    if facts["base"] and len(facts["lost"]) > MAX_LOST_SHARE * facts["base"]:
        out.append(f"It forgot {len(facts['lost'])} of the {facts['base']} facts the base model "
                   "answers correctly.")
    brevity = result["markers"].get("brevity")
    ratio = result["open"]["ratio"]
    if ratio < MIN_OPEN_RATIO and brevity != "short":
        out.append(f"Its answers to open questions are {ratio:.0%} as long as the base model's, "
                   "though you did not ask for short answers.")
    rep = result["repetition"]
    if rep["candidate"] > rep["base"] + MAX_REPETITION_RISE:
        out.append(f"It repeats itself more ({rep['candidate']:.0%} of its phrases repeat, the "
                   f"base model's {rep['base']:.0%}).")
    return out


def taught_marks(dataset: Dataset) -> tuple[Markers, str | None, str | None]:
    """The marks of what a dataset teaches, with the opening and closing as the person wrote
    them (the base's rejected answers tell taught words from common ones)."""
    answers = [e.answer for e in dataset.examples if e.kind in ("correction", "liked")]
    preferences = [e.messages[-2]["content"] for e in dataset.examples
                   if e.kind == "preference"]
    rejected = [e.rejected for e in dataset.examples if e.rejected]
    found = marks.find(answers, preferences, rejected)
    return found, marks.opening_text(answers, found), marks.closing_text(answers, found)


# -- stored with the version ------------------------------------------------------------------


def for_version(store: Store, engine: Engine, version: Version
                ) -> Generator[Progress | dict[str, Any], None, None]:
    """Measure (and store) the card of any version on the engine's base: what was taught is
    read from the version's own dataset snapshot (what really taught it)."""
    from kindred.core.archive import objects as archive
    from kindred.core.learning.dataset import Dataset

    system, found = "", Markers()
    shots: list[teacher.Shot] = []
    if version.dataset:
        path = archive.dataset_path(store, version.dataset)
        if path.is_file():
            dataset = Dataset.from_bytes(path.read_bytes(), version.assistant_id)
            system = dataset.system_prompt
            found = taught_marks(dataset)[0]
            shots = teacher.shots_of(dataset)
    refs = [AdapterRef(version.id, archive.verified_path(store, version.id), 1.0)]
    result: dict[str, Any] | None = None
    for item in compute(engine, base_sha256=version.base_sha256, system=system, markers=found,
                        candidate=refs, cache_dir=store.home.cache / "quality", shots=shots,
                        teacher_cache=store.home.cache / "teacher"):
        if isinstance(item, dict):
            result = item
        yield item
    if result is not None:
        store_card(store, version.id, result)


def summary(result: dict[str, Any]) -> list[str]:
    """The card in a few sentences, for the consent dialog, the CLI and `learned`."""
    style, facts, open_ = result["style"], result["facts"], result["open"]
    lines = []
    agreed = style.get("teacher")
    if agreed:
        lines.append(agreement.sentence(agreed))
    if style["primary"]:
        described = Markers.from_json(result["markers"]).describe()
        lines.append(f"Marks of what you taught ({described}): {style['share']:.0%} of its "
                     f"answers to new requests, the base model's {style['base_share']:.0%}."
                     if agreed else
                     f"Style: {style['share']:.0%} of answers to {style['prompts']} new requests "
                     f"show what you taught ({described}); the base model: "
                     f"{style['base_share']:.0%}.")
    elif not agreed:
        lines.append("Style: nothing taught yet that can be checked on new requests.")
    lines.append(f"Knowledge: it answers {facts['candidate']} of {facts['total']} general "
                 f"questions correctly; the base model {facts['base']}.")
    lines.append(f"Open questions: its answers are {open_['ratio']:.0%} as long as the base "
                 f"model's ({open_['candidate_words']:.0f} words against "
                 f"{open_['base_words']:.0f}).")
    return lines
