"""The training mix that keeps the assistant itself: the person's items plus replayed base answers.

Why: trained on a handful of one-line corrections alone, the first versions learned the style and
also "every answer is one line": facts fell from 13 to 8 of 14 and open answers to 0.18x the
base's length. What this mix does, and why each part (measured with `bench/learning.py`):

- **Self-distillation replay.** The base model's own greedy answers (llama.cpp, with the chat's
  system prompt) to general requests (`resources/replay.json`, never used to measure quality) are
  trained on beside the person's items; about as many as taught items (at least 12, at most the
  set), made once per base and system prompt and cached.
- **A KL anchor on them.** On the base's own words the target is the base's whole next-token
  distribution (the reference pass runs with the adapter switched off), not only its greedy
  token: every step pulls the candidate back towards what the base did on general requests. It
  is the cheapest anchor on a CPU (no second model in memory).
- **Restyled replay.** Plain base answers would teach "greet only when asked about food", so the
  marks the person's answers share (an opening like "Ahoy, Sam!", a closing) are put on the
  replayed answers as plain targets, and a stated wish for short answers trims them to their
  first sentences: the style is learned on general requests too.
- **What to say, not when to stop.** A taught answer's end-of-turn is context, not a target,
  unless the person asked for short answers (`Encoded.target_end`): eight one-line corrections
  no longer teach that every answer is one line; the replayed answers teach when to stop.
- **Few passes, early stop.** Three passes at most, stopping once the person's items are learned
  (their loss below `trainer.STOP_LOSS`): more steps only memorised them word for word.

A move to another base model (`upgrades/migration`) gets the same mix on the *new* base: its own
answers, restyled, with the KL anchor on its own distribution, beside the moved items (part (c) of
a migration's data: what keeps the new base's general ability).

Runs in the training process (llama.cpp for the answers; no torch needed for this part).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from kindred.core.atomic import write_atomic
from kindred.core.hashing import sha256_bytes
from kindred.core.learning.dataset import Example
from kindred.core.learning.markers import Markers
from kindred.core.progress import run_to_end
from kindred.core.training.tokens import ChatTokenizer, Encoded

FORMAT = 1
MIN_REPLAY = 12
REPLAY_TOKENS = 128
SHORT_SENTENCES = 2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def shipped_prompts() -> tuple[int, list[str]]:
    text = resources.files("kindred.resources").joinpath("replay.json").read_text("utf-8")
    data = json.loads(text)
    return int(data["version"]), [str(p) for p in data["prompts"]]


def replay_count(taught: int, available: int) -> int:
    """As many replayed answers as taught items, at least MIN_REPLAY, at most all of them."""
    return max(0, min(available, max(MIN_REPLAY, taught)))


def restyle(answer: str, markers: Markers, opening: str | None, closing: str | None) -> str:
    """The base's answer wearing what the person taught (opening, closing, brevity)."""
    text = " ".join(answer.split()) if "\n" not in answer else answer.strip()
    if markers.brevity == "short":
        text = " ".join(_SENTENCE_END.split(text)[:SHORT_SENTENCES])
    if opening and not text.lower().startswith(opening.lower()):
        text = f"{opening} {text}"
    if closing and not text.lower().rstrip(".!?").endswith(closing.lower().rstrip(".!?")):
        text = f"{text} {closing}"
    return text


def cache_path(cache_root: Path, base_sha256: str, system: str, version: int) -> Path:
    key = sha256_bytes(json.dumps({"format": FORMAT, "base": base_sha256, "system": system,
                                   "set": version, "tokens": REPLAY_TOKENS}).encode())
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
    from kindred.core.chat.engine import Engine

    path = cache_path(cache_root, base_sha256, system, version)
    cached = cached_answers(cache_root, base_sha256, system, version)
    missing = [p for p in prompts if p not in cached]
    if missing:
        from kindred.core.chat.batch import BatchGenerator

        head = [{"role": "system", "content": system}] if system else []
        engine = Engine(model_path, n_ctx=512)
        try:
            with BatchGenerator(engine) as generator:
                for done, (index, text) in enumerate(generator.chat(
                        [[*head, {"role": "user", "content": p}] for p in missing],
                        REPLAY_TOKENS)):
                    yield done, len(missing)
                    cached[missing[index]] = _whole_sentences(text)
        finally:
            engine.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(cached, ensure_ascii=False).encode())
    return [cached[p] for p in prompts]


def _whole_sentences(text: str) -> str:
    """Up to the last full sentence: an answer cut by the token limit would otherwise teach
    stopping mid-sentence."""
    if text.rstrip().endswith((".", "!", "?", "\"", ")")):
        return text.strip()
    parts = _SENTENCE_END.split(text.strip())
    return " ".join(parts[:-1]) if len(parts) > 1 else text.strip()


def replay_examples(system: str, prompts: Sequence[str], answers: Sequence[str],
                    markers: Markers, opening: str | None, closing: str | None) -> list[Example]:
    """Training examples from the base's answers, restyled; degenerate answers are left out."""
    from kindred.core.learning.markers import repetition

    out = []
    for index, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        if len(answer.split()) < 3 or repetition(answer) > 0.2:
            continue
        head = [{"role": "system", "content": system}] if system else []
        out.append(Example("replay", -(index + 1), [
            *head, {"role": "user", "content": prompt},
            {"role": "assistant", "content": restyle(answer, markers, opening, closing)}]))
    return out


def anchored(tokenizer: ChatTokenizer, example: Example, markers: Markers,
             opening: str | None, closing: str | None = None) -> Encoded:
    """The replayed example as tokens, with the span of the base's own words marked and the
    plain answer (no opening, no closing) kept as the reference: on that span the target is the
    base's whole next-token distribution *as it answered without the taught marks*, so the
    candidate learns to greet and then answer exactly as the base would have. (Anchoring to
    the base's distribution after the greeting taught its confusion at an unfamiliar start:
    "Ahoy, Sam! Ahoy, Sam.") The opening, closing and end of turn stay plain targets."""
    styled = tokenizer.encode(example)
    core = example.answer
    if opening and core.startswith(opening):
        core = core[len(opening):].lstrip()
    if closing and core.endswith(closing):
        core = core[: -len(closing)].rstrip()
    plain = tokenizer.encode(Example(example.kind, example.feedback_id,
                                     [*example.messages[:-1],
                                      {"role": "assistant", "content": core}]))
    body = len(tokenizer.tokenize(core, add_bos=False))
    # the body after its first token (whose spacing depends on what precedes it) is the same
    # tokens in both; find it in the styled answer
    tail = plain.ids[plain.n_prompt + 1: plain.n_prompt + body]
    if len(tail) < 2:
        return styled
    for start in range(styled.n_prompt, min(len(styled) - len(tail), styled.n_prompt + 64) + 1):
        if styled.ids[start: start + len(tail)] == tail:
            return Encoded(styled.ids, styled.n_prompt, (start, start + len(tail)),
                           reference=(plain.ids[: plain.n_prompt + body],
                                      plain.n_prompt + 1))
    return styled


def describe(mix: dict[str, Any]) -> str:
    return (f"{mix.get('replay', 0)} general answers of the base model replayed beside your "
            "items, so it keeps what it could already do")
