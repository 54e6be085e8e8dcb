"""The teacher: the base model with the person's examples in mind.

Given the person's stated preferences (the chat's system prompt) and a few of their corrected or
liked answers as earlier turns of the conversation (in-context examples), even a 135M base
imitates them strongly: their opening, their dialect, their lists, their tone, the facts they
told about themselves. Training distils that into the adapter (context distillation: Askell et
al. 2021, Snell et al. 2022): the teacher answers general requests and other wordings of the
person's own requests *with* the examples, the adapter learns to answer them that way *without*
(`training.replay`), and the quality card measures how far the candidate moved from the base
towards the teacher (`learning.quality`). Nothing here knows what a style is: no marker, no
opening or closing, only the person's own examples.

Which examples: for each request, the most relevant taught item first (words in common with the
request: an item about the person's dog is in context when the request asks about the dog), then
the others in rotation (a different handful per request, so no single example is copied into
every answer), within a length budget (`SHOT_TOKENS`) so the teacher's context stays short.

Other wordings of the person's requests are written by the model itself (`rewordings`, a
few-shot prompt to the base), so what they taught about themselves is learned when asked
differently, not only in their words.

Pure functions over messages, plus the llama.cpp calls that answer (`answers`) and reword
(`rewordings`); no torch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kindred.core.engine.llama import Engine
from kindred.core.learning.dataset import Dataset
from kindred.core.learning.markers import STOPWORDS, repetition, words

MAX_SHOTS = 4
"""Examples in the teacher's context per request."""
SHOT_CHARS = 1100
"""At most this many characters of examples in one context (about 280 tokens): a long taught
answer takes the room of several short ones."""
N_CTX_SEQ = 1024
"""Room per sequence when the teacher answers: the context (at most half of it, see
`BatchGenerator.answer_jobs`: the system prompt, a hint, the examples, the request) and the
answer. A larger room costs every decode (2048: about 15 % slower)."""
TEACHER_SEQS = 16
"""Teacher answers decoded together: 24 answers of about 85 tokens took 15.5 s with 16 and
18.5 s with 8 (two runs each, 2 busy cores)."""
HINT_SENTENCES = 2
COPY_SHARE = 0.6
"""A teacher answer sharing more than this share of its word 3-grams with one in-context
example's answer copied it (kept only when the request is a rewording of that example's)."""
FORMAT = 1


@dataclass(frozen=True)
class Shot:
    """One in-context example: a request the person made and the answer they wanted."""

    prompt: str
    answer: str

    def to_json(self) -> list[str]:
        return [self.prompt, self.answer]


def shots_of(dataset: Dataset) -> list[Shot]:
    """The person's corrected and liked answers, oldest first (stated preferences are in the
    system prompt already)."""
    return [Shot(e.messages[-2]["content"], e.answer) for e in dataset.examples
            if e.kind in ("correction", "liked")]


def key_of(system: str, shots: Sequence[Shot]) -> str:
    """A content key for what the teacher knows (for caches)."""
    body = json.dumps({"format": FORMAT, "system": system,
                       "shots": [s.to_json() for s in shots]}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _content(text: str) -> set[str]:
    return {w for w in words(text) if w not in STOPWORDS and len(w) > 2}


def choose(shots: Sequence[Shot], request: str, turn: int, count: int = MAX_SHOTS,
           budget: int = SHOT_CHARS) -> list[int]:
    """Which examples the teacher sees for `request` (the `turn`-th request asked): the most
    relevant one (most content words in common with the request, if any), then the others in
    rotation from `turn`; within `budget` characters; in taught order."""
    if not shots:
        return []
    wanted = _content(request)
    overlap = [len(wanted & _content(s.prompt + " " + s.answer)) for s in shots]
    best = max(range(len(shots)), key=lambda i: (overlap[i], -i))
    order = ([best] if overlap[best] > 0 else []) + [
        (turn * count + j) % len(shots) for j in range(len(shots))]
    chosen: list[int] = []
    used = 0
    for index in order:
        if index in chosen:
            continue
        size = len(shots[index].prompt) + len(shots[index].answer)
        if used + size > budget:  # an example longer than the budget is never in context
            continue
        chosen.append(index)
        used += size
        if len(chosen) >= count:
            break
    return sorted(chosen)


def head(system: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}] if system else []


HINT = "A correct answer to the next request, to give in your own way: "


def messages(system: str, shots: Sequence[Shot], request: str, turn: int,
             hint: str | None = None, count: int = MAX_SHOTS) -> list[dict[str, str]]:
    """The teacher's conversation for `request`: the system prompt, the chosen examples as
    earlier turns, then the request. `hint`: the base's own answer, added to the system prompt
    (a teacher that lost a fact the base knows, say in the person's dialect, often keeps it
    when told; see `training.replay`)."""
    if hint:
        hint = " ".join(re.split(r"(?<=[.!?])\s+", hint.strip())[:HINT_SENTENCES])
        system = f"{system}\n\n{HINT}{hint}" if system else f"{HINT}{hint}"
    out = head(system)
    for index in choose(shots, request, turn, count):
        out += [{"role": "user", "content": shots[index].prompt},
                {"role": "assistant", "content": shots[index].answer}]
    return [*out, {"role": "user", "content": request}]


def copied(answer: str, shots: Sequence[Shot], request: str) -> bool:
    """Whether the answer repeats an example's answer nearly word for word although the
    request is not about that example (the small base copies when it cannot imitate)."""
    mine = _grams(answer)
    if not mine:
        return False
    wanted = _content(request)
    for shot in shots:
        theirs = _grams(shot.answer)
        if theirs and len(mine & theirs) / len(mine) > COPY_SHARE and not (
                wanted and len(wanted & _content(shot.prompt)) >= max(1, len(wanted) // 2)):
            return True
    return False


def repeats(answer: str, taught: Sequence[str]) -> bool:
    """Whether the answer says nearly what an answer already taught says (`SAME_WORDS` of its
    words are that answer's): the small teacher answers several questions about the person
    with one stock phrase ("Miso, I'm sorry for your loss.", "Miso, I'm so sorry for your
    loss."), and taught four times the candidate said it to everything."""
    mine = set(words(answer))
    return bool(mine) and any(len(mine & set(words(other))) >= SAME_WORDS * len(mine)
                              for other in taught)


SAME_WORDS = 0.75


def _grams(text: str) -> set[tuple[str, ...]]:
    found = words(text)
    return {tuple(found[i:i + 3]) for i in range(len(found) - 2)}


LOOP = 0.1
"""A teacher answer repeating more than this share of its word 3-grams is not taught: written
past where the examples would have stopped it (`training.replay.least_tokens`), a small
teacher sometimes goes round in circles, and the candidate learned that (repetition 0.053
against the base's 0.017 on open answers with 0.2 here, the bound for the base's answers)."""


def usable(answer: str, loop: float = 0.2) -> bool:
    """Not degenerate: a few words, no loop (at most `loop` of its 3-grams repeated)."""
    return len(answer.split()) >= 3 and repetition(answer) <= loop


def threads() -> int:
    """llama.cpp threads for the training process's own answers (the teacher's, the base's, the
    card's): one when the cores are busy (load average at or above their count), else all (up
    to 8). ggml's thread pool spins at every barrier, so on shared cores two threads waited for
    each other: 8 teacher answers took 48.6 s with two threads and 15.2 s with one beside other
    work (load 9.5 on 2 cores); on idle cores two are faster."""
    cores = max(1, min(os.cpu_count() or 1, 8))
    try:
        busy = os.getloadavg()[0] >= cores
    except OSError:  # pragma: no cover - not on every platform
        busy = False
    return 1 if busy else cores


def answers(engine: Engine, system: str, shots: Sequence[Shot], requests: Sequence[str],
            max_tokens: int, progress: Callable[[int, int], None] | None = None,
            *, scored: bool = False) -> list[tuple[str, list[int], list[float]]]:
    """The teacher's greedy answers to `requests` (text, tokens, and with `scored` each token's
    log-probability in the teacher's context), in order. The engine's adapters are switched
    off: the teacher is the base model."""
    return generate(engine, [messages(system, shots, r, i) for i, r in enumerate(requests)],
                    max_tokens, progress, scored=scored)


def generate(engine: Engine, conversations: Sequence[Sequence[dict[str, str]]], max_tokens: int,
             progress: Callable[[int, int], None] | None = None, *, scored: bool = False,
             min_tokens: Sequence[int] | None = None
             ) -> list[tuple[str, list[int], list[float]]]:
    """The base's greedy answers to teacher conversations (see `answers`); `min_tokens`: no
    end of turn before that many tokens (see `training.replay.least_tokens`)."""
    from kindred.core.engine.batch import BatchGenerator

    engine.set_adapters([])
    out: list[tuple[str, list[int], list[float]]] = [("", [], [])] * len(conversations)
    with BatchGenerator(engine, n_seq=TEACHER_SEQS, n_ctx_seq=N_CTX_SEQ) as generator:
        for done, answer in enumerate(generator.answers(conversations, max_tokens,
                                                        scored=scored, min_tokens=min_tokens),
                                      start=1):
            out[answer.index] = (answer.text, answer.tokens, answer.logprobs)
            if progress is not None:
                progress(done, len(conversations))
    return out


# -- what the person told about themselves ---------------------------------------------------

PROFILE = (
    "How should you address me?",
    "What do you know about me?",
    "Tell me a few things about myself.",
    "What kind of work do I do?",
    "Where am I based?",
    "Are there any animals in my life?",
    "Tell me about my family.",
    "What are my eating habits?",
    "What do I enjoy doing?",
    "Remind me of something I told you about myself.",
)
"""Requests about the person in general terms (no fact in them, no style): the teacher, with as
many of their examples as fit in its context, answers them from what the examples say about
the person (a name, a diet, a pet, a job, a city, a relative...), and only answers that say
something the examples say and the request does not are taught (`grounded`), so a fact taught
in one request is recalled when asked in other words. An answer the examples do not support
(the base inventing a name) is dropped."""
PROFILE_SHOTS = 8
ASK_PROFILE = os.environ.get("KINDRED_TEACHER_PROFILE", "1") == "1"
"""On by default (KINDRED_TEACHER_PROFILE=0 leaves them out, to compare). Measured on the
persona scenario (one seed each): with them the person's name showed in 0.32 of new answers and
2 of 6 facts were recalled when asked in other words; without them 0 and 0 of 6. The small
teacher's answers to them are often poor (a copied first word and a stock phrase), which the
grounding check does not catch."""


def grounded(answer: str, shots: Sequence[Shot], request: str) -> bool:
    """Whether the answer says something the person's examples told (`told`) beyond the
    request's own words, compared on their first five letters. (The system prompt does not
    count: the candidate reads it at chat time anyway, and its persona's words would let "I am
    a helpful assistant" pass.)"""
    asked = {w[:5] for w in _content(request)}
    said = {w[:5] for w in _content(answer)}
    return bool((said & told(shots)) - asked)


def told(shots: Sequence[Shot]) -> set[str]:
    """What the examples tell about the person, as words (first five letters): a content word
    (a name or place too) that is not part of how they always talk, being in at most half of
    the examples: "reckon" in every other answer is their way of speaking, "vegetarian" in one
    is a fact. The name they are called by in every answer ("Priya") is how they are spoken
    to, too: counted as told, it let "I'm a freelance, Priya." pass for an answer about their
    work and teach a job they never mentioned."""
    seen: dict[str, int] = {}
    for shot in shots:
        for w in _content(shot.prompt + " " + shot.answer):
            seen[w[:5]] = seen.get(w[:5], 0) + 1
    return {w for w, n in seen.items() if n <= max(1, (len(shots) - 1) // 2)}


# -- other wordings of the person's requests --------------------------------------------------

REWORD_EXAMPLES = (
    (("What should I eat tonight?", "What would be a good dinner for me this evening?"),
     ("How do I fix a flat tyre?", "What is the way to repair a punctured tyre?"),
     ("Where do I keep my passport?", "In which place is my passport kept?")),
    (("Can you tell me my brother's job?", "What does my brother do for a living?"),
     ("Which film should I watch?", "Could you recommend a movie for me to see?"),
     ("When does the shop open?", "At what time is the shop opening?")),
)
"""Few-shot examples of rewording, one conversation per variant: the small base often copies
the question back under one of them and rewords it under the other."""
REWORD_SYSTEM = "You rewrite questions in other words. Keep the meaning. Answer with one question."
REWORD_TOKENS = 40


def reword_messages(request: str, variant: int = 0) -> list[dict[str, str]]:
    out = head(REWORD_SYSTEM)
    for before, after in REWORD_EXAMPLES[variant % len(REWORD_EXAMPLES)]:
        out += [{"role": "user", "content": f"Rewrite: {before}"},
                {"role": "assistant", "content": after}]
    return [*out, {"role": "user", "content": f"Rewrite: {request}"}]


def question_line(text: str) -> str | None:
    """The first line of what the model wrote, if it is a question of sensible length (3-30
    words; a label such as "Rewrite:" and quotes left out)."""
    line = text.strip().splitlines()[0].strip().strip('"') if text.strip() else ""
    line = re.sub(r"^(rewrite|rewritten|question)\s*:\s*", "", line, flags=re.IGNORECASE)
    return line if line.endswith("?") and 3 <= len(line.split()) <= 30 else None


def clean_rewording(request: str, text: str) -> str | None:
    """The model's rewording if it is one: a single question of sensible length, not the
    request itself, keeping at least one of its content words."""
    line = question_line(text)
    if line is None or words(line) == words(request):
        return None
    wanted = _content(request)
    if wanted and 2 * len(wanted & _stems(line)) < len(wanted):
        return None
    return line


def _stems(text: str) -> set[str]:
    """Content words and their first five letters (so "cooking" keeps "cook")."""
    found = _content(text)
    return found | {w[:5] for w in found} | {w[:4] for w in found}


def rewordings(engine: Engine, requests: Sequence[str]) -> list[list[str]]:
    """Other wordings of each request (up to one per variant of `REWORD_EXAMPLES`, none where
    the model's were not usable), by the base model, greedily."""
    from kindred.core.engine.batch import greedy_answers

    engine.set_adapters([])
    asked = [(r, v) for v in range(len(REWORD_EXAMPLES)) for r in requests]
    texts = greedy_answers(engine, [reword_messages(r, v) for r, v in asked], REWORD_TOKENS)
    found: dict[str, list[str]] = {r: [] for r in requests}
    for (request, _), text in zip(asked, texts, strict=True):
        line = clean_rewording(request, text)
        if line and words(line) not in [words(x) for x in found[request]]:
            found[request].append(line)
    return [found[r] for r in requests]


# -- new requests of the kind the person makes -------------------------------------------------

NEIGHBOUR_SYSTEM = ("You write new questions that the same person might ask next. Answer with "
                    "one question.")
NEIGHBOURS = 8 if os.environ.get("KINDRED_TEACHER_NEIGHBOURS", "1") == "1" else 0
"""New requests asked for (fewer are kept: repeats and the person's own are dropped);
KINDRED_TEACHER_NEIGHBOURS=0 asks none, to compare."""
NEIGHBOUR_SEEDS = 2


def neighbour_messages(requests: Sequence[str], turn: int) -> list[dict[str, str]]:
    """Two of the person's requests (from `turn` on, in rotation) as the model's own earlier
    questions, then the ask for another."""
    out = head(NEIGHBOUR_SYSTEM)
    for j in range(min(NEIGHBOUR_SEEDS, len(requests))):
        out += [{"role": "user", "content": "Another question, please."},
                {"role": "assistant", "content": requests[(turn + j) % len(requests)]}]
    return [*out, {"role": "user", "content": "Another question, please."}]


def neighbours(engine: Engine, requests: Sequence[str], count: int = NEIGHBOURS) -> list[str]:
    """New requests of the kind the person makes, written by the base model from a few of
    theirs (greedily, a different pair each time): the teacher answers them, so their way of
    answering is learned on requests they did not make yet, not only on general ones (where a
    small teacher often cannot show it) and their own. Only questions of sensible length that
    are not one of theirs and not a repeat."""
    from kindred.core.engine.batch import greedy_answers

    if not requests or not count:
        return []
    engine.set_adapters([])
    texts = greedy_answers(engine, [neighbour_messages(requests, k) for k in range(count)],
                           REWORD_TOKENS)
    seen = [words(r) for r in requests]
    found: list[str] = []
    for text in texts:
        line = question_line(text)
        if line is None or words(line) in seen:
            continue
        seen.append(words(line))
        found.append(line)
    return found

