"""The training mix: the person's items, plus the teacher's answers to general requests and to
other wordings of the person's own requests (context distillation).

Why: trained on a handful of one-line corrections alone, the first versions learned the style and
also "every answer is one line"; replaying the base's own answers kept the base, but restyling them
with a shared opening and closing only ever taught styles that have one: a dialect spread through
the answers was learned 0 %, facts taught about the person were recalled 0 of 6 when asked in
other words (issue 22). What this mix does, and why each part (measured with `bench/learning.py`):

- **The teacher is the base with the person's examples in mind** (`learning.teacher`): the chat's
  system prompt (persona, stated preferences) plus a handful of their corrected or liked answers
  as earlier turns. It answers the shipped general requests (`resources/replay.json`, never used
  to measure quality; about as many as taught items, at least 12) and another wording of each of
  the person's requests, written by the base itself; the adapter learns those answers *without*
  the examples in its context. Nothing in it names a style: whatever the examples show (an
  opening, a dialect, lists, a register, a length, a fact about the person) is what is learned.
- **A KL anchor on the teacher, not on the plain base.** On every token of a teacher answer the
  target is the teacher's whole next-token distribution *in its context* (the reference sequence
  is the teacher's conversation, computed once per run with the adapter switched off), so the
  candidate is pulled towards the base-that-imitates, which keeps the base's knowledge without
  pulling the style back out.
- **The teacher keeps the base's facts.** A teacher answer to a general request that drops the
  content of the base's own answer (its first sentence's words beyond the question's), copies an
  in-context example word for word, loops or says nothing is replaced by the base's own answer,
  anchored to the base (`base_fallback` counts them).
- **What to say, not when to stop.** A taught answer's end-of-turn is context, not a target (the
  plan encodes them so), and so is a teacher answer's: eight one-line corrections do not teach
  that every answer is one line, directly or through a teacher that imitates their length. Nor
  does the anchor: at every anchored position the teacher's chance of ending its turn is
  replaced by the plain base's (`trainer.with_stop`; a teacher shown one-liners stops after an
  answer's first sentence with about 0.5, the plain base never). The base's own answers teach
  when to stop; a wish for short answers stated as a preference is in the system prompt the
  plain base and the candidate answer with.
- **What the person told about themselves** is asked in general terms too (`teacher.PROFILE`:
  "What do you know about me?", "What kind of work do I do?"...), answered by the teacher with
  as many examples as fit, and taught where the answer says something the examples said.
- **Few passes, early stop.** Five passes at most (three left a dialect half learned: the card's
  agreement 55 %), stopping once the person's items are learned
  (their loss below `trainer.STOP_LOSS`): more steps only memorised them word for word.

A move to another base model (`upgrades/migration`) gets the same mix on the *new* base: its own
answers with the moved items in its context, anchored to its own distribution.

Runs in the training process (llama.cpp for the answers; no torch needed for this part).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.progress import run_to_end
from kindred.core.engine.system_budget import without_preferences
from kindred.core.home.atomic import write_atomic
from kindred.core.learning import teacher
from kindred.core.learning.dataset import Example
from kindred.core.learning.markers import STOPWORDS, words
from kindred.core.learning.pairs import differs
from kindred.core.training.tokens import ChatTokenizer, Encoded

FORMAT = 1
MIN_REPLAY = 12
REPLAY_TOKENS = 128


def answer_tokens() -> int:
    """The longest replayed answer, the base's and the teacher's: REPLAY_TOKENS, or fewer
    where KINDRED_REPLAY_TOKENS says so (the test suite trains on shorter answers; its learning
    tests and the benchmark keep the default)."""
    return min(REPLAY_TOKENS, int(os.environ.get("KINDRED_REPLAY_TOKENS") or REPLAY_TOKENS))
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def shipped_prompts() -> tuple[int, list[str]]:
    text = resources.files("kindred.resources").joinpath("replay.json").read_text("utf-8")
    data = json.loads(text)
    return int(data["version"]), [str(p) for p in data["prompts"]]


def replay_count(taught: int, available: int) -> int:
    """As many replayed answers as taught items, at least MIN_REPLAY, at most all of them."""
    return max(0, min(available, max(MIN_REPLAY, taught)))


def cache_path(cache_root: Path, base_sha256: str, system: str, version: int) -> Path:
    key = sha256_bytes(json.dumps({"format": FORMAT, "base": base_sha256, "system": system,
                                   "set": version, "tokens": answer_tokens()}).encode())
    return cache_root / "replay" / f"{key}.json"


def base_answers(model_path: Path, base_sha256: str, system: str, prompts: Sequence[str],
                 version: int, cache_root: Path,
                 progress: Callable[[int, int], None] | None = None) -> list[str]:
    """The base model's greedy answers to `prompts` (cached per base, system prompt and set)."""
    answers = answer_missing(model_path, base_sha256, system, prompts, version, cache_root)
    return run_to_end(answers, None if progress is None else (lambda item: progress(*item)))


def cached_answers(cache_root: Path, base_sha256: str, system: str, version: int
                   ) -> dict[str, str]:
    """The cached answers for this base, system prompt and set (empty when none or unreadable)."""
    path = cache_path(cache_root, base_sha256, system, version)
    if path.is_file():
        try:
            return dict(json.loads(path.read_text("utf-8")))
        except (ValueError, TypeError):
            return {}
    return {}


def answer_missing(model_path: Path, base_sha256: str, system: str, prompts: Sequence[str],
                   version: int, cache_root: Path
                   ) -> Generator[tuple[int, int], None, list[str]]:
    """`base_answers` as a generator: yields (answered, missing) before each new answer, then
    returns the answers; the cache file is replaced atomically once all of them are made (so a
    process killed half-way leaves the cache as it was)."""
    from kindred.core.engine.llama import Engine

    path = cache_path(cache_root, base_sha256, system, version)
    cached = cached_answers(cache_root, base_sha256, system, version)
    missing = [p for p in prompts if p not in cached]
    if missing:
        from kindred.core.engine.batch import BatchGenerator

        head = [{"role": "system", "content": system}] if system else []
        engine = Engine(model_path, n_ctx=512, n_threads=teacher.threads())
        try:
            with BatchGenerator(engine) as generator:
                for done, (index, text) in enumerate(generator.chat(
                        [[*head, {"role": "user", "content": p}] for p in missing],
                        answer_tokens())):
                    yield done, len(missing)
                    cached[missing[index]] = whole_sentences(text)
        finally:
            engine.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(cached, ensure_ascii=False).encode())
    return [cached[p] for p in prompts]


def systems(system: str) -> list[str]:
    """The system prompts whose base answers a training reads: the chat's, and the persona's
    alone where preferences were stated (`wished_brevity` compares them)."""
    plain = without_preferences(system)
    return [system] if plain == system else [system, plain]


BREVITY = 0.7
"""Stated preferences that make the plain base's answers this much shorter or more (in words,
on average over the replayed requests) ask for brevity. Measured on the 12 requests a small
training replays: "Keep your answers to one short sentence." 0.58, "Answer in a few words."
0.56; "I am vegetarian." 0.97, "Please call me Sam." 0.93, "Use lists." 0.92, "Write in lower
case." 0.82, "Be concise." 0.79 (a nudge, not a wish for one-line answers)."""


def wished_brevity(stated: Sequence[str], plain: Sequence[str]) -> bool:
    """Whether the person asked for short answers: the base reading their stated preferences
    (`stated`) answers far shorter than reading the persona alone (`plain`). No word list: the
    model reads the wish, whatever its words. Then the teacher's end of turn is learned (its
    answers are as short as the examples), else the plain base's (see `encode`)."""
    if not stated or len(stated) != len(plain):
        return False
    mine = sum(len(words(a)) for a in stated)
    theirs = sum(len(words(a)) for a in plain)
    return theirs > 0 and mine < BREVITY * theirs


LEAST_SHARE = float(os.environ.get("KINDRED_LEAST_SHARE") or 0.0)
"""Off (0) by default. With it, the teacher writes at least this share of the plain base's
answer (in tokens) to a general request before it may end its turn (the likeliest other token
instead), so its answers in the person's way are about as long as the base's. Measured at 0.8
(one seed each, against the three seeds' medians without it): open answers of the candidate
rose for a shared first word (0.50 -> 0.61) but fell for a shared last phrase (0.86 -> 0.51),
a dialect (0.75 -> 0.46) and a register (0.71 -> 0.50): a small teacher written past where it
would stop says less in the person's way (it wraps up, then pads), and the candidate learned to
wrap up. KINDRED_LEAST_SHARE=0.8 to compare."""


def least_tokens(requests: Sequence[Request], count: Callable[[str], int], brevity: bool
                 ) -> list[int]:
    """Per teacher request, the answer tokens before which it may not end its turn: a share
    of the base's own answer for a general request, none for the others or where brevity was
    wished."""
    if brevity or not LEAST_SHARE:  # nothing to count (off by default)
        return [0] * len(requests)
    return [int(LEAST_SHARE * count(r.base)) if r.kind == "general" and r.base else 0
            for r in requests]


def whole_sentences(text: str) -> str:
    """Up to the last full sentence: an answer cut by the token limit would otherwise teach
    stopping mid-sentence."""
    if text.rstrip().endswith((".", "!", "?", "\"", ")")):
        return text.strip()
    parts = _SENTENCE_END.split(text.strip())
    return " ".join(parts[:-1]) if len(parts) > 1 else text.strip()


@dataclass(frozen=True)
class Distilled:
    """One replayed answer: the request (as the student sees it, with the chat's system
    prompt), the answer to learn, and the conversation whose next-token distributions anchor
    it (the teacher's, with the examples; the plain request for a base fallback)."""

    kind: str
    """"general" (a shipped request), "reworded" (another wording of the person's), or
    "base" (the base's own answer, where the teacher's was not usable)."""
    prompt: str
    answer: str
    context: list[dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "prompt": self.prompt, "answer": self.answer,
                "context": self.context}


def _first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip())[0] if text.strip() else ""


_NOT_FACTS = STOPWORDS - {"one", "two"}
"""Words that carry no fact (numbers do)."""


def kept(prompt: str, base_answer: str, answer: str) -> float:
    """The share of the base answer's content words (beyond the question's) that `answer` says
    too (on their first five letters); 1 when the base's answer has none."""
    asked = set(words(prompt))
    key = {w[:5] for w in words(base_answer) if w not in _NOT_FACTS and w not in asked
           and len(w) > 1}
    if not key:
        return 1.0
    return len(key & {w[:5] for w in words(answer)}) / len(key)


def keeps_facts(prompt: str, base_answer: str, answer: str) -> bool:
    """Whether `answer` says what the base's answer says first: at least half of the content
    words of its first sentence that the question did not already contain (compared on their
    first five letters, so "scatterin'" keeps "scattering")."""
    asked = set(words(prompt))
    key = {w[:5] for w in words(_first_sentence(base_answer))
           if w not in _NOT_FACTS and w not in asked and len(w) > 1}
    if not key:
        return True
    said = {w[:5] for w in words(answer)}
    return len(key & said) * 2 >= len(key)


@dataclass(frozen=True)
class Request:
    """One conversation the teacher answers for the mix. A general request is asked twice:
    plainly, and with the base's own answer as a hint (`teacher.messages`); of the answers that
    keep the base's facts, the one that keeps most of its answer is taught (`select`)."""

    kind: str
    """"general", "reworded" (another wording of the person's request) or "disliked" (the
    prompt of an answer the person gave a thumbs down)."""
    prompt: str
    context: list[dict[str, str]]
    base: str | None = None
    """The base's own answer (general requests)."""
    rejected: str | None = None
    """The disliked answer (disliked requests)."""


def requests_for(system: str, shots: Sequence[teacher.Shot], general: Sequence[str],
                 base: Sequence[str], reworded: Sequence[str] = (),
                 disliked: Sequence[tuple[str, str]] = ()) -> list[Request]:
    """What the teacher is asked (nothing without examples: the base's answers are the mix)."""
    if not shots:
        return []
    out: list[Request] = []
    turn = 0
    for prompt, plain in zip(general, base, strict=True):
        out.append(Request("general", prompt, teacher.messages(system, shots, prompt, turn),
                           plain))
        if teacher.usable(plain):
            out.append(Request("general", prompt, teacher.messages(system, shots, prompt, turn,
                                                                   hint=plain), plain))
        turn += 1
    for prompt in reworded:
        out.append(Request("reworded", prompt, teacher.messages(system, shots, prompt, turn)))
        turn += 1
    for prompt in teacher.PROFILE if teacher.ASK_PROFILE else ():
        out.append(Request("profile", prompt, teacher.messages(
            system, shots, prompt, turn, count=teacher.PROFILE_SHOTS)))
        turn += 1
    for prompt, rejected in disliked:
        out.append(Request("disliked", prompt, teacher.messages(system, shots, prompt, turn),
                           rejected=rejected))
        turn += 1
    return out


def select(system: str, shots: Sequence[teacher.Shot], general: Sequence[str],
           base: Sequence[str], requests: Sequence[Request], answers: Sequence[str]
           ) -> tuple[list[Distilled], dict[str, int]]:
    """The replayed answers and how many of each kind: per general request, of the teacher's
    answers that are usable, copy no example and keep the base's facts, the one keeping most
    of the base's answer (the plain one on a tie), else the base's own
    answer (anchored to the base); the teacher's answers to the other wordings; to a disliked
    prompt, the teacher's answer unless it is the disliked one again."""
    out: list[Distilled] = []
    counts = {"general": 0, "reworded": 0, "profile": 0, "base_fallback": 0, "disliked": 0,
              "hinted": 0}
    taught: dict[str, tuple[float, Distilled]] = {}
    for request, answer in zip(requests, answers, strict=True):
        if request.kind == "general":
            if not teacher.usable(answer, teacher.LOOP) or teacher.copied(answer, shots,
                                                                          request.prompt) \
                    or not keeps_facts(request.prompt, request.base or "", answer):
                continue
            # of the teacher's answers that keep the facts, the one that keeps the most of
            # the base's answer (examples of one line would otherwise teach one-line answers)
            score = kept(request.prompt, request.base or "", answer)
            if request.prompt not in taught or score > taught[request.prompt][0]:
                taught[request.prompt] = (score, Distilled("general", request.prompt, answer,
                                                           request.context))
        elif teacher.repeats(answer, [d.answer for d in out]):
            continue  # a stock phrase said to several requests is taught once
        elif request.kind == "profile":
            if teacher.usable(answer, teacher.LOOP) and not teacher.copied(answer, shots,
                                                                           request.prompt) \
                    and teacher.grounded(answer, shots, request.prompt):
                out.append(Distilled("profile", request.prompt, answer, request.context))
                counts["profile"] += 1
        elif teacher.usable(answer, teacher.LOOP) and (request.rejected is None
                                                       or differs(answer, request.rejected)):
            out.append(Distilled(request.kind, request.prompt, answer, request.context))
            counts[request.kind] += 1
    general_items: list[Distilled] = []
    for prompt, plain in zip(general, base, strict=True):
        if prompt in taught:
            general_items.append(taught[prompt][1])
            counts["general"] += 1
            counts["hinted"] += int(teacher.HINT in taught[prompt][1].context[0]["content"])
        elif teacher.usable(plain) and BASE_FALLBACK:
            general_items.append(Distilled("base", prompt, plain, [
                *teacher.head(system), {"role": "user", "content": prompt}]))
            counts["base_fallback"] += 1
    return general_items + out, counts


BASE_FALLBACK = os.environ.get("KINDRED_BASE_FALLBACK", "1") == "1"
"""Whether a general request none of whose teacher answers is taught replays the base's own
answer (on by default; KINDRED_BASE_FALLBACK=0 to compare). Measured on the persona scenario
(one seed): without them the name showed in 0.68 of new answers (0.46 with), but open answers
fell to 0.56 of the base's (0.83) and one more fact was lost."""


def spread(prompts: Sequence[str], count: int) -> list[str]:
    """`count` of the shipped requests, spread over the whole set (facts, explanations, advice,
    writing) rather than its first ones."""
    if count >= len(prompts):
        return list(prompts)
    return [prompts[i * len(prompts) // count] for i in range(count)]


def encode(tokenizer: ChatTokenizer, system: str, item: Distilled, *, brevity: bool = False
           ) -> Encoded:
    """The replayed answer as the student learns it (no examples in its context), every answer
    token anchored to the teacher's distribution at the same token in the teacher's
    conversation (`Encoded.reference`). Plain targets if the answer's tokens differ there.
    `brevity` (`wished_brevity`): the teacher's end of turn is learned too."""
    # the teacher's end of turn is context, not a target: one-line examples made it stop early
    # and the candidate learned that (open answers 0.33 of the base's length for lists and for
    # the lower-case register; 0.47 and 0.83 without it, the style kept). KINDRED_TEACHER_STOP=1
    # learns it again, to compare.
    learn_stop = item.kind == "base" or brevity or \
        os.environ.get("KINDRED_TEACHER_STOP", "0") == "1"
    student = tokenizer.encode(Example("replay", 0, [*teacher.head(system),
                                                     {"role": "user", "content": item.prompt},
                                                     {"role": "assistant",
                                                      "content": item.answer}]),
                               learn_stop=learn_stop)
    ref = tokenizer.encode(Example("replay", 0, [*item.context,
                                                 {"role": "assistant", "content": item.answer}]))
    if student.ids[student.n_prompt:] != ref.ids[ref.n_prompt:] or len(student) <= \
            student.n_prompt:
        return student
    end = student.target_end or len(student.ids)
    return Encoded(student.ids, student.n_prompt, (student.n_prompt, end), end
                   if student.target_end else None, reference=(ref.ids, ref.n_prompt))


MAX_REWORDED = 24
"""At most this many of the person's requests are reworded for the teacher (the newest)."""


def reworded_requests(shots: Sequence[teacher.Shot]) -> list[str]:
    """The person's requests whose other wordings the teacher answers (the newest first)."""
    seen: dict[str, None] = {}
    for shot in reversed(shots):
        seen.setdefault(shot.prompt, None)
    return list(seen)[:MAX_REWORDED]


def describe(mix: dict[str, Any]) -> str:
    teacher_note = (" and other wordings of your requests, answered the way your examples show"
                    if mix.get("shots") else "")
    return (f"{mix.get('replay', 0)} general requests answered by the base model with your "
            f"examples in mind{teacher_note}, so it learns your way of answering while it keeps "
            "what it could already do")
