"""What a new base model learns from when an assistant moves to it.

A LoRA cannot be copied across bases (other shapes, other tokenizer), so the new version is
re-learned from text, which every base can read:

(a) **replay**: every taught item of the source version, exactly as its archived dataset snapshot
    holds it (corrections, liked answers, stated preferences, with the system prompt they were
    taught under);
(b) **distillation**: the old version's own answers (old base + its adapter, llama.cpp, greedy) to
    the person's past prompts and to a shipped prompt set (resources/migration.json `distill`).
    Sequence-level distillation (Kim & Rush 2016; Trans-LoRA, NeurIPS 2024) transfers behaviour
    as text, so it works across tokenizers. Answers that would teach bad habits are dropped:
    empty, cut off mid-way with no full sentence, degenerate or repetitive (repeated n-grams).

The shipped `card` prompts and a share of the person's past prompts are held out: the migration
card measures on them, so they are never training data.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from kindred.core.archive import objects as archive
from kindred.core.archive.catalog import Version
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.progress import Progress as Progress
from kindred.core.basics.sampling import Sampling
from kindred.core.basics.states import TAUGHT_KINDS
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home.assistants import Assistant
from kindred.core.home.store import Store
from kindred.core.learning.dataset import Dataset, Example, build_dataset

DISTILL_TOKENS = 96
GREEDY = Sampling(temperature=0.0, top_k=1, repeat_penalty=1.1, max_tokens=DISTILL_TOKENS)
MAX_PAST_PROMPTS = 60
MAX_PROMPT_CHARS = 300
HELD_OUT_EVERY = 4
"""Every 4th of the person's past prompts is held out for the card (never distilled)."""
DISTILLED = "distilled"


@dataclass(frozen=True)
class Prompts:
    distill: list[str]
    card: list[str]


@dataclass
class MigrationData:
    """The examples for the new base, and what was left out (and why)."""

    system_prompt: str
    replayed: list[Example]
    distilled: list[Example] = field(default_factory=list)
    rejected: list[dict[str, str]] = field(default_factory=list)
    card_prompts: list[str] = field(default_factory=list)

    @property
    def examples(self) -> list[Example]:
        return [*self.replayed, *self.distilled]

    def counts(self) -> dict[str, int]:
        found = Counter(e.kind for e in self.replayed)
        return {**{k: found.get(k, 0) for k in TAUGHT_KINDS}, DISTILLED: len(self.distilled),
                "rejected": len(self.rejected)}


def shipped_prompts() -> Prompts:
    text = resources.files("kindred.resources").joinpath("migration.json").read_text("utf-8")
    data = json.loads(text)
    return Prompts([str(p) for p in data["distill"]], [str(p) for p in data["card"]])


def taught_dataset(store: Store, version: Version, assistant: Assistant) -> Dataset:
    """The source version's archived learning data; the assistant's current feedback for a
    version that has none (imported). Raises when it is damaged or there is nothing taught."""
    if version.dataset:
        path = archive.dataset_path(store, version.dataset)
        if not path.is_file():
            raise KindredError(f"The learning data of version {version.short} "
                               f"({version.dataset[:12]}) is missing from the archive, so it "
                               "cannot be carried over. Nothing was changed.")
        raw = path.read_bytes()
        from kindred.core.basics.hashing import sha256_bytes

        if sha256_bytes(raw) != version.dataset:
            raise KindredError(f"The learning data of version {version.short} is damaged (its "
                               "hash does not match). Nothing was changed.")
        dataset = Dataset.from_bytes(raw, assistant.id)
    else:
        dataset = build_dataset(store, assistant, version.base_sha256)
    if not any(e.kind in TAUGHT_KINDS for e in dataset.examples):
        raise KindredError(f"Version {version.short} holds no taught items (corrections, liked "
                           "answers or preferences), so there is nothing to carry over to "
                           "another model. Nothing was changed.")
    return dataset


def past_prompts(store: Store, assistant_id: AssistantId,
                 limit: int = MAX_PAST_PROMPTS) -> list[str]:
    """The person's own questions, newest first, each once, of a reasonable length."""
    rows = store.db.execute(
        "SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.assistant_id = ? AND m.role = 'user' ORDER BY m.id DESC LIMIT 2000",
        [assistant_id]).fetchall()
    seen: set[str] = set()
    out: list[str] = []
    for (content,) in rows:
        text = " ".join(str(content).split())
        if text and len(text) <= MAX_PROMPT_CHARS and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
        if len(out) >= limit:
            break
    return out


def split_prompts(store: Store, assistant_id: AssistantId, taught: Sequence[str],
                  limit: int | None = None) -> Prompts:
    """(distill, card): the person's past prompts (every HELD_OUT_EVERY-th held out for the
    card) and the shipped sets; prompts that were taught are left out of both. `limit`: at most
    that many of each (a quick migration, e.g. in tests)."""
    shipped = shipped_prompts()
    skip = {p.lower() for p in taught}
    own = [p for p in past_prompts(store, assistant_id) if p.lower() not in skip]
    card = [p for i, p in enumerate(own) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1]
    distill = [p for i, p in enumerate(own) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    card_set = {p.lower() for p in card + shipped.card}
    distill += [p for p in shipped.distill if p.lower() not in skip | card_set]
    card += [p for p in shipped.card if p.lower() not in skip]
    return Prompts(distill[:limit], card[:limit])


# -- the quality rules for a distilled answer ------------------------------------------------

_WORD = re.compile(r"\w+(?:'\w+)?", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?…)\]\"'](?=\s|$)")


def repeated_ngram_share(text: str, n: int = 3) -> float:
    """Share of the word n-grams that occur more than once (0: none repeat)."""
    words = [w.lower() for w in _WORD.findall(text)]
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    counts = Counter(grams)
    return sum(c for c in counts.values() if c > 1) / len(grams)


def trim_unfinished(text: str) -> str:
    """An answer cut off by the token limit, shortened to its last full sentence ('' if none)."""
    ends = list(_SENTENCE_END.finditer(text))
    return text[:ends[-1].end()].rstrip() if ends else ""


def answer_problem(text: str) -> str | None:
    """Why an answer must not be learned from, or None when it is fine."""
    words = _WORD.findall(text)
    if not text.strip() or not words:
        return "empty"
    letters = sum(ch.isalpha() for ch in text)
    if letters < 0.5 * len(text.replace(" ", "")):
        return "degenerate (mostly symbols)"
    if repeated_ngram_share(text) > 0.25:
        return "repetitive"
    lines = [ln.strip().lower() for ln in text.splitlines() if ln.strip()]
    if len(lines) >= 3 and len(set(lines)) <= len(lines) // 2:
        return "repetitive"
    longest = max(len(w) for w in words)
    if longest > 40:
        return "degenerate (run-on word)"
    return None


def _turn(system: str, prompt: str, answer: str = "") -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    tail = [{"role": "assistant", "content": answer}] if answer else []
    return [*head, {"role": "user", "content": prompt}, *tail]


def settle(text: str, cut: bool) -> tuple[str, str | None]:
    """(answer, problem): an answer `cut` by the token limit shortened to its last full
    sentence, and why it must not be learned from (None when it is fine)."""
    text = text.strip()
    if cut:
        text = trim_unfinished(text)
    return text, answer_problem(text)


def old_answers(engine: Engine, system: str, prompts: Sequence[str]
                ) -> Iterator[tuple[int, str, str | None]]:
    """(index, answer, problem) for each prompt as it is answered, greedily under the engine's
    current adapters: what `Engine.chat` says at temperature 0 with the same repeat penalty,
    several prompts per llama.cpp decode (`chat.batch`; one after another took 20 s for the
    20 shipped prompts, most of a move's planning)."""
    from kindred.core.engine.batch import BatchGenerator

    with BatchGenerator(engine) as generator:
        for answer in generator.answers([_turn(system, p) for p in prompts], GREEDY.max_tokens,
                                        GREEDY.repeat_penalty):
            # cut by the limit, as Engine.chat's finish reason "length" said
            cut = len(answer.tokens) >= GREEDY.max_tokens
            yield (answer.index, *settle(answer.text, cut))


def collect(store: Store, assistant: Assistant, version: Version, *,
            engine: Engine | None = None, limit: int | None = None
            ) -> Iterator[Progress | MigrationData]:
    """Yield Progress, then the MigrationData. `engine`: one already on the old version's base
    (its adapters are restored when done); else the old base is loaded here. `limit`: see
    `split_prompts`."""
    dataset = taught_dataset(store, version, assistant)
    replayed = [e for e in dataset.examples if e.kind in TAUGHT_KINDS]
    taught_prompts = [e.messages[-2]["content"] for e in replayed]
    prompts = split_prompts(store, assistant.id, taught_prompts, limit)
    data = MigrationData(dataset.system_prompt, replayed, card_prompts=prompts.card)
    yield Progress(0.0, f"Replaying {len(replayed)} taught items; asking the old version "
                        f"{len(prompts.distill)} questions")
    gguf = archive.verified_path(store, version.id)
    own = engine is None
    if engine is None:
        from kindred.core.home.models import get_model

        base = _models_with_sha(store, version.base_sha256)
        if not base:
            raise KindredError(f"The base model of version {version.short} "
                               f"({version.base_sha256[:12]}) is not registered, so the old "
                               "version cannot answer. Add that model again. Nothing was "
                               "changed.")
        # its own context only tokenizes: the answers come from a batched one
        engine = Engine(get_model(store, base[0]).path, n_ctx=512)
    previous = engine.adapters
    try:
        engine.set_adapters([AdapterRef(version.id, gguf, 1.0)])
        found: list[tuple[str, str | None]] = [("", None)] * len(prompts.distill)
        for done, (index, answer, problem) in enumerate(
                old_answers(engine, dataset.system_prompt, prompts.distill), start=1):
            found[index] = answer, problem
            yield Progress(done / len(prompts.distill),
                           f"The old version answered: {prompts.distill[index][:40]}")
        for prompt, (answer, problem) in zip(prompts.distill, found, strict=True):
            if problem is None:
                data.distilled.append(Example(DISTILLED, 0, _turn(dataset.system_prompt, prompt,
                                                                  answer)))
            else:
                data.rejected.append({"prompt": prompt, "answer": answer, "why": problem})
    finally:
        if own:
            engine.close()
        else:
            engine.set_adapters(previous)
    yield data


def _models_with_sha(store: Store, sha256: str) -> list[str]:
    rows = store.db.execute("SELECT id FROM models WHERE sha256 = ?", [sha256]).fetchall()
    return [str(r[0]) for r in rows]


def to_dataset(data: MigrationData, assistant_id: AssistantId, base_sha256: str) -> Dataset:
    """The run's learning-data snapshot: replayed and distilled examples, for the new base."""
    return Dataset(assistant_id, base_sha256, data.system_prompt, data.examples)


def describe(data: MigrationData) -> dict[str, Any]:
    return {"counts": data.counts(), "rejected": data.rejected[:20],
            "card_prompts": data.card_prompts}
