"""What an adapter version learned, shown with evidence: computed with llama.cpp (by switching
adapters on one engine) and numpy over the adapter's weights. No torch.

Results are cached per (version, comparison, probe set): versions are immutable, so a cached
insight never goes stale. `compute` is a generator of progress events, like every slow core step.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from kindred.core.archive import objects as archive
from kindred.core.archive.ledger import canonical
from kindred.core.archive.versions import Version, get_version
from kindred.core.chat.engine import AdapterRef, Engine, SamplingParams
from kindred.core.errors import KindredError
from kindred.core.formats.lora_gguf import read_lora_gguf
from kindred.core.hashing import sha256_bytes
from kindred.core.learning import style
from kindred.core.learning.evidence import Evidence, evidence_for
from kindred.core.store import Store

FORMAT = 2  # 2: fit told as a likelihood factor
PROBE_TOKENS = 64
TOP_TOKENS = 12
PLAUSIBLE_TOP = 20
USER_PROBES = 3
GREEDY = SamplingParams(temperature=0.0, top_k=1, repeat_penalty=1.1, max_tokens=PROBE_TOKENS)


@dataclass(frozen=True)
class Progress:
    fraction: float
    message: str


def builtin_probes() -> list[str]:
    text = resources.files("kindred.resources").joinpath("probes.json").read_text("utf-8")
    return [str(p) for p in json.loads(text)["probes"]]


def user_probes(store: Store, assistant_id: int, limit: int = USER_PROBES) -> list[str]:
    """The person's own most frequent kinds of request: their prompts grouped by opening words."""
    rows = store.db.execute(
        "SELECT m.content FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.assistant_id = ? AND m.role = 'user' ORDER BY m.id DESC LIMIT 500",
        [assistant_id],
    ).fetchall()
    groups: Counter[str] = Counter()
    example: dict[str, str] = {}
    for (content,) in rows:
        text = " ".join(str(content).split())
        if not text or len(text) > 300:
            continue
        key = " ".join(text.lower().split()[:2])
        groups[key] += 1
        example.setdefault(key, text)
    return [example[key] for key, _ in groups.most_common(limit)]


def layer_norms(gguf_path: Path) -> list[dict[str, Any]]:
    """‖B·A‖ (Frobenius, times alpha/rank) per layer and module, from the adapter's weights.

    Uses ‖BA‖² = Σ (BᵀB ∘ AAᵀ), which needs only r×r products.
    """
    tensors, alpha = read_lora_gguf(gguf_path)
    rows: dict[int, dict[str, float]] = {}
    for name, a in tensors.items():
        if not name.endswith(".lora_a"):
            continue
        stem = name[: -len(".lora_a")]
        b = tensors[stem + ".lora_b"]
        _, layer, module, _ = stem.split(".", 3)
        rank = a.shape[0]
        gram = (b.T @ b) * (a @ a.T)
        norm = float(np.sqrt(max(gram.sum(), 0.0))) * alpha / rank
        rows.setdefault(int(layer), {})[module] = round(norm, 6)
    return [{"layer": layer, "modules": rows[layer], "total": round(sum(rows[layer].values()), 6)}
            for layer in sorted(rows)]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out


def _chat_tokens(engine: Engine, prompt: str, answer: str, system: str) -> tuple[list[int], int]:
    """Tokens of a whole exchange and where the answer starts."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    head = engine.tokenize_chat(messages)
    body = list(engine.llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False))
    return head + body, len(head)


@dataclass
class _Scores:
    nll_sum: float = 0.0
    nll_count: int = 0


class _Comparer:
    """Runs the same texts through two adapter sets and accumulates the differences."""

    def __init__(self, engine: Engine, old: list[AdapterRef], new: list[AdapterRef]) -> None:
        self.engine, self.old, self.new = engine, old, new
        self.diff_sum = np.zeros(engine.llm.n_vocab(), dtype=np.float64)
        self.diff_count = 0
        # Tokens that either side ever ranks among its likeliest: the only ones worth naming
        # (rare tokens get huge relative changes of negligible probability).
        self.plausible = np.zeros(engine.llm.n_vocab(), dtype=bool)
        self.fit = {"old": _Scores(), "new": _Scores()}

    def logprobs(self, refs: list[AdapterRef], tokens: list[int]) -> np.ndarray:
        self.engine.set_adapters(refs)
        return _log_softmax(self.engine.sequence_logits(tokens))

    def add(self, tokens: list[int], start: int, *, score_fit: bool) -> None:
        old, new = self.logprobs(self.old, tokens), self.logprobs(self.new, tokens)
        positions = slice(max(start - 1, 0), len(tokens) - 1)
        self.diff_sum += (new[positions] - old[positions]).sum(axis=0)
        for side in (old[positions], new[positions]):
            top = np.argpartition(-side, PLAUSIBLE_TOP, axis=1)[:, :PLAUSIBLE_TOP]
            self.plausible[top.ravel()] = True
        self.diff_count += len(range(*positions.indices(len(tokens))))
        if score_fit:
            targets = np.array(tokens[start:])
            rows = np.arange(start - 1, len(tokens) - 1)
            for key, lp in (("old", old), ("new", new)):
                self.fit[key].nll_sum += float(-lp[rows, targets].sum())
                self.fit[key].nll_count += len(targets)


def _token_lists(engine: Engine, diff: np.ndarray, plausible: np.ndarray
                 ) -> dict[str, list[dict[str, Any]]]:
    def entry(token: int) -> dict[str, Any]:
        text = engine.llm.detokenize([int(token)]).decode("utf-8", "replace")
        return {"token": text, "score": round(float(diff[token]), 4)}

    candidates = np.flatnonzero(plausible)
    order = candidates[np.argsort(diff[candidates])]
    return {"promoted": [entry(t) for t in order[::-1][:TOP_TOKENS] if diff[t] > 0],
            "demoted": [entry(t) for t in order[:TOP_TOKENS] if diff[t] < 0]}


def cache_key(version_id: str, against: str, probes: list[str], system: str = "") -> str:
    """Everything the result depends on: the immutable versions, the probes and the system
    prompt the answers were given under (preferences change it)."""
    return sha256_bytes(canonical({"format": FORMAT, "version": version_id, "against": against,
                                   "probes": probes, "system": system}))


def cache_path(store: Store, key: str) -> Path:
    return store.home.cache / "insight" / f"{key}.json"


def comparison(store: Store, version: Version, against: str) -> tuple[str, list[AdapterRef]]:
    """What the version is compared with: the bare base, or its parent version."""
    if against == "base" or (against == "parent" and not version.parent):
        return "base", []
    if against != "parent":
        other = get_version(store, against, assistant_id=version.assistant_id)
        return other.id, [AdapterRef(other.id, archive.verified_path(store, other.id), 1.0)]
    assert version.parent is not None
    return version.parent, [AdapterRef(version.parent,
                                       archive.verified_path(store, version.parent), 1.0)]


def compute(store: Store, engine: Engine, version_key: str, *, against: str = "base",
            system: str = "") -> Iterator[Progress | dict[str, Any]]:
    """Yield Progress events, then the insight dict (also cached). The engine's adapters are
    restored to what they were when done."""
    version = get_version(store, version_key)
    if version.status == "deleted":
        raise KindredError(f"Version {version.short} was deleted; there is nothing to inspect.")
    gguf = archive.verified_path(store, version.id)
    against_id, old_refs = comparison(store, version, against)
    probes = builtin_probes() + [p for p in user_probes(store, version.assistant_id)
                                 if p not in builtin_probes()]
    key = cache_key(version.id, against_id, probes, system)
    cached = cache_path(store, key)
    if cached.exists():
        yield Progress(1.0, "Loaded from cache")
        yield dict(json.loads(cached.read_text("utf-8")))
        return
    evidence = evidence_for(store, version)
    new_refs = [AdapterRef(version.id, gguf, 1.0)]
    previous = engine.adapters
    try:
        result = yield from _compute(engine, version, against_id, old_refs, new_refs, probes,
                                     evidence, system)
    finally:
        engine.set_adapters(previous)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False), "utf-8")
    tmp.replace(cached)
    yield result


def _compute(engine: Engine, version: Version, against_id: str, old_refs: list[AdapterRef],
             new_refs: list[AdapterRef], probes: list[str], evidence: Evidence, system: str
             ) -> Generator[Progress, None, dict[str, Any]]:
    steps = 2 * len(probes) + len(probes) + len(evidence.examples) + 1
    done = 0

    def tick(message: str) -> Progress:
        nonlocal done
        done += 1
        return Progress(min(done / steps, 0.99), message)

    answers: list[dict[str, str]] = []
    for prompt in probes:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}]
        pair: dict[str, str] = {"prompt": prompt}
        for side, refs in (("base", old_refs), ("adapter", new_refs)):
            engine.set_adapters(refs)
            pair[side] = engine.chat(messages, GREEDY).read().strip()
            yield tick(f"Asking {'the adapter' if side == 'adapter' else 'the comparison'}: "
                       f"{prompt[:40]}")
        answers.append(pair)
    comparer = _Comparer(engine, old_refs, new_refs)
    for pair in answers:
        tokens, start = _chat_tokens(engine, pair["prompt"], pair["adapter"], system)
        comparer.add(tokens, start, score_fit=False)
        yield tick("Comparing next-token choices")
    for prompt, answer in evidence.examples:
        tokens, start = _chat_tokens(engine, prompt, answer, system)
        comparer.add(tokens, start, score_fit=True)
        yield tick("Scoring your preferred answers")
    diff = comparer.diff_sum / max(comparer.diff_count, 1)
    before = style.measure([p["base"] for p in answers], evidence.user_name)
    after = style.measure([p["adapter"] for p in answers], evidence.user_name)
    fit_old, fit_new = comparer.fit["old"], comparer.fit["new"]
    fit = {"base_nll": round(fit_old.nll_sum / fit_old.nll_count, 4) if fit_old.nll_count
           else None,
           "adapter_nll": round(fit_new.nll_sum / fit_new.nll_count, 4) if fit_new.nll_count
           else None,
           "tokens": fit_new.nll_count}
    yield tick("Measuring the update per layer")
    return {
        "version": version.id,
        "against": against_id,
        "preferences": evidence.preferences,
        "examples": [{"prompt": p, "answer": a} for p, a in evidence.examples],
        "probes": answers,
        "style": {"base": before.to_json(), "adapter": after.to_json(),
                  "sentences": style.describe(before, after)},
        "tokens": _token_lists(engine, diff, comparer.plausible),
        "layers": layer_norms(new_refs[0].path),
        "fit": fit,
        "summary": summary_sentences(style.describe(before, after), fit, evidence),
    }


def fit_sentences(fit: dict[str, Any]) -> list[str]:
    """How much likelier the taught answers became, per word piece (exp of the loss drop).

    A ratio of losses ("99% better") overstates an adapter that memorised a few answers; the
    per-token likelihood factor is what the loss really says, and we name what it was measured
    on (the taught answers themselves), so nobody reads it as skill on new questions."""
    if fit.get("base_nll") is None or fit.get("adapter_nll") is None:
        return []
    factor = math.exp(float(fit["base_nll"]) - float(fit["adapter_nll"]))
    if factor < 1.05:
        return ["It does not yet expect the answers you taught it more than before."]
    shown = f"{factor:.1f}" if factor < 10 else f"{factor:,.0f}"
    return [f"Word for word, the answers you taught it are now {shown}× as likely as before "
            "(measured on those same answers)."]


def summary_sentences(style_sentences: list[str], fit: dict[str, Any], evidence: Evidence
                      ) -> list[str]:
    """The first lines a person reads: what changed, in words, with what taught it."""
    out = []
    taught = []
    if evidence.preferences:
        taught.append(f"{len(evidence.preferences)} stated preference"
                      f"{'s' if len(evidence.preferences) != 1 else ''}")
    if evidence.examples:
        taught.append(f"{len(evidence.examples)} corrected answer"
                      f"{'s' if len(evidence.examples) != 1 else ''}")
    if taught:
        out.append("It learned from " + " and ".join(taught) + ".")
    out += fit_sentences(fit)
    out += [s[0].upper() + s[1:] + "." for s in style_sentences[:4]]
    if not style_sentences:
        out.append("Its answers to the probe questions read much like before.")
    return out


def run(store: Store, engine: Engine, version_key: str, **kwargs: Any) -> dict[str, Any]:
    """`compute` without progress events (for the CLI and tests)."""
    result: dict[str, Any] | None = None
    for event in compute(store, engine, version_key, **kwargs):
        if isinstance(event, dict):
            result = event
    assert result is not None
    return result
