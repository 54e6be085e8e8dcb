"""What an adapter version learned, shown with evidence: computed with llama.cpp (by switching
adapters on one engine) and numpy over the adapter's weights. No torch.

Results are cached per (version, comparison, probe set): versions are immutable, so a cached
insight never goes stale. `compute` is a generator of progress events, like every slow core step.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kindred.core.archive import objects as archive
from kindred.core.archive.versions import Version, get_version
from kindred.core.basics.errors import KindredError
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.progress import Progress as Progress
from kindred.core.basics.sampling import Sampling
from kindred.core.basics.states import VersionStatus
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.engine.window import common_prefix
from kindred.core.formats.lora_gguf import read_lora_gguf
from kindred.core.home.atomic import write_atomic
from kindred.core.home.ledger import canonical
from kindred.core.home.store import Store
from kindred.core.learning import style
from kindred.core.learning.evidence import Evidence, evidence_for
from kindred.core.learning.scoring import Scorer
from kindred.core.learning.words import WordTally, word_changes

FORMAT = 3  # 2: fit told as a likelihood factor; 3: whole words favoured/avoided
PROBE_TOKENS = 64
TOP_TOKENS = 12
USER_PROBES = 3
N_SEQ, N_CTX_SEQ, N_CTX = 16, 768, 6912  # sequences at once (the 6 built-in probes and 3 of
# the person's answered, the others scoring taught answers in the same decodes), tokens per
# sequence at most (prompt + answer), cache cells in all
GREEDY = Sampling(temperature=0.0, top_k=1, repeat_penalty=1.1, max_tokens=PROBE_TOKENS)


def builtin_probes() -> list[str]:
    text = resources.files("kindred.resources").joinpath("probes.json").read_text("utf-8")
    return [str(p) for p in json.loads(text)["probes"]]


def user_probes(store: Store, assistant_id: AssistantId, limit: int = USER_PROBES) -> list[str]:
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


def layer_norms(gguf_path: Path, depth: int | None = None) -> list[dict[str, Any]]:
    """‖B·A‖ (Frobenius, times alpha/rank) per layer and module, from the adapter's weights;
    with the base's `depth`, a row (with no modules) for each layer the adapter leaves alone too
    (new adapters adapt only the upper layers), so the picture shows the whole model.

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
    for index in range(depth or 0):
        rows.setdefault(index, {})
    return [{"layer": layer, "modules": rows[layer], "total": round(sum(rows[layer].values()), 6)}
            for layer in sorted(rows)]


def _chat_tokens(engine: Engine, prompt: str, answer: str, system: str) -> tuple[list[int], int]:
    """Tokens of a whole exchange and where the answer starts."""
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    head = engine.tokenize_chat(messages)
    body = list(engine.llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False))
    return head + body, len(head)


def cache_key(version_id: VersionId, against: str, probes: list[str], system: str = "") -> str:
    """Everything the result depends on: the immutable versions, the probes and the system
    prompt the answers were given under (preferences change it)."""
    return sha256_bytes(canonical({"format": FORMAT, "version": version_id, "against": against,
                                   "probes": probes, "system": system}))


def cache_path(store: Store, key: str) -> Path:
    return store.home.cache / "insight" / f"{key}.json"


def comparison_id(store: Store, version: Version, against: str) -> VersionId | Literal["base"]:
    """What the version is compared with: "base" (the bare base), its parent, another version."""
    if against == "base" or (against == "parent" and not version.parent):
        return "base"
    if against != "parent":
        return get_version(store, against, assistant_id=version.assistant_id).id
    assert version.parent is not None
    return version.parent


def comparison(store: Store, version: Version, against: str) -> tuple[str, list[AdapterRef]]:
    """The comparison's id and adapters (verified)."""
    other = comparison_id(store, version, against)
    if other == "base":
        return "base", []
    return other, [AdapterRef(other, archive.verified_path(store, other), 1.0)]


class SideCache:
    """What one side (a base model and its adapter set) answered and scored, by content.

    Both are deterministic for the same base, adapters and tokens (versions are immutable), so
    they carry over between insights: the next version of an assistant is compared with the
    same base (or with the version before, whose side was measured as "the adapter" last time),
    on mostly the same taught answers and probe questions, and only what is new is computed.
    Kept in the rebuildable cache (cache/insight/sides), written once the insight is done.
    """

    def __init__(self, store: Store, base_sha256: str, adapters: list[str]) -> None:
        key = sha256_bytes(canonical({"format": 1, "base": base_sha256, "adapters": adapters}))
        self.path = store.home.cache / "insight" / "sides" / f"{key}.json"
        self.answers: dict[str, str] = {}
        self.scores: dict[str, list[float]] = {}
        try:
            data = json.loads(self.path.read_text("utf-8"))
            self.answers = {str(k): str(v) for k, v in data["answers"].items()}
            self.scores = {str(k): [float(x) for x in v] for k, v in data["scores"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # none yet, or unreadable: it is only a cache

    @staticmethod
    def answer_key(conversation: list[dict[str, str]]) -> str:
        return sha256_bytes(canonical({"conversation": conversation, "tokens": PROBE_TOKENS,
                                       "penalty": GREEDY.repeat_penalty}))

    @staticmethod
    def score_key(tokens: list[int], start: int) -> str:
        return sha256_bytes(canonical({"tokens": tokens, "start": start}))

    def save(self) -> None:
        write_atomic(self.path, json.dumps({"answers": self.answers,
                                            "scores": self.scores}).encode())


def _cached_at(store: Store, version: Version, against_id: str, system: str
               ) -> tuple[list[str], Path]:
    probes = builtin_probes() + [p for p in user_probes(store, version.assistant_id)
                                 if p not in builtin_probes()]
    return probes, cache_path(store, cache_key(version.id, against_id, probes, system))


def cached(store: Store, version_key: str, *, against: str = "base", system: str = ""
           ) -> dict[str, Any] | None:
    """The insight if it was computed before: no model needed (the CLI asks this first)."""
    version = get_version(store, version_key)
    if version.status == VersionStatus.DELETED:
        return None
    _, path = _cached_at(store, version, comparison_id(store, version, against), system)
    return dict(json.loads(path.read_text("utf-8"))) if path.exists() else None


def compute(store: Store, engine: Engine, version_key: str, *, against: str = "base",
            system: str = "") -> Iterator[Progress | dict[str, Any]]:
    """Yield Progress events, then the insight dict (also cached). The engine's adapters are
    restored to what they were when done."""
    version = get_version(store, version_key)
    if version.status == VersionStatus.DELETED:
        raise KindredError(f"Version {version.short} was deleted; there is nothing to inspect.")
    gguf = archive.verified_path(store, version.id)
    against_id, old_refs = comparison(store, version, against)
    probes, cached = _cached_at(store, version, against_id, system)
    if cached.exists():
        yield Progress(1.0, "Loaded from cache")
        yield dict(json.loads(cached.read_text("utf-8")))
        return
    evidence = evidence_for(store, version)
    new_refs = [AdapterRef(version.id, gguf, 1.0)]
    previous = engine.adapters
    try:
        result = yield from _compute(store, engine, version, against_id, old_refs, new_refs,
                                     probes, evidence, system)
    finally:
        engine.set_adapters(previous)
    write_atomic(cached, json.dumps(result, ensure_ascii=False).encode("utf-8"))
    yield result


def _compute(store: Store, engine: Engine, version: Version, against_id: str,
             old_refs: list[AdapterRef], new_refs: list[AdapterRef], probes: list[str],
             evidence: Evidence, system: str) -> Generator[Progress, None, dict[str, Any]]:
    """Both sides get their own context (see `scoring`): on each, the probe answers are
    generated while the taught answers are scored in the same decodes; the adapter's side
    takes the comparison's answers as drafts (scored as they are checked); what is left (the
    adapter's answers on the comparison's side) continues from the probes' cache there."""
    conversations = [([{"role": "system", "content": system}] if system else [])
                     + [{"role": "user", "content": prompt}] for prompt in probes]
    sides = [SideCache(store, version.base_sha256, [r.key for r in refs])
             for refs in (old_refs, new_refs)]
    engine.set_adapters(old_refs)
    old = Scorer(engine, n_seq=N_SEQ, n_ctx_seq=N_CTX_SEQ, n_ctx=N_CTX)
    try:
        engine.set_adapters(new_refs)
        new = Scorer(engine, n_seq=N_SEQ, n_ctx_seq=N_CTX_SEQ, n_ctx=N_CTX)
        try:
            result = yield from _measure(engine, (old, sides[0]), (new, sides[1]),
                                         conversations, probes, evidence, system)
        finally:
            new.close()
    finally:
        old.close()
    for side in sides:
        side.save()
    result.update(version=version.id, against=against_id,
                  layers=layer_norms(new_refs[0].path, engine.base_info.arch_int("block_count")))
    return result


Exchange = Callable[[int, str], tuple[list[int], int]]


def _side(side: tuple[Scorer, SideCache], conversations: list[list[dict[str, str]]],
          taught: list[tuple[list[int], int]], at: float, who: str, exchange: Exchange,
          drafts: list[str] | None = None) -> Generator[Progress, None, list[str]]:
    """One side's greedy probe answers (what `Engine.chat` gives at temperature 0; those given
    before from the side's cache) and its scores of the taught answers, in one run of decodes;
    a progress event as each answer is done. Each new answer is scored as it is written, and
    `drafts` (the other side's answers) as they are checked, when their text tokenizes back to
    the same tokens (`exchange` gives the scored sequence). The probes' cache stays in the
    context (`hold`) for scoring other answers to them (`_scores`)."""
    scorer, cache = side
    keys = [SideCache.answer_key(c) for c in conversations]
    found = [cache.answers.get(k) for k in keys]
    missing = [i for i, text in enumerate(found) if text is None]
    half = N_CTX_SEQ // 2
    draft_seqs = {i: exchange(i, drafts[i]) for i in missing if drafts and drafts[i]}
    jobs = scorer.answer_jobs(
        [conversations[i] for i in missing], PROBE_TOKENS,
        [draft_seqs[i][0][draft_seqs[i][1]:] if i in draft_seqs and draft_seqs[i][1] <= half
         else [] for i in missing], hold=True)
    unscored = [j for j, seq in enumerate(taught) if SideCache.score_key(*seq) not in cache.scores]
    jobs += scorer.score_jobs([taught[j] for j in unscored], first=len(missing))
    done = len(conversations) - len(missing)
    for job in scorer.run(jobs, GREEDY.repeat_penalty):
        if job.index >= len(missing):
            seq = taught[unscored[job.index - len(missing)]]
            cache.scores[SideCache.score_key(*seq)] = job.scores
            continue
        index = missing[job.index]
        answer = scorer.answer_of(job)
        found[index] = cache.answers[keys[index]] = answer.text
        tokens, start = exchange(index, answer.text)
        if start <= half and tokens[start:] == answer.tokens:
            cache.scores[SideCache.score_key(tokens, start)] = answer.logprobs
        if index in draft_seqs:
            tokens, start = draft_seqs[index]
            if start <= half and len(job.scores) == len(tokens) - start:
                cache.scores[SideCache.score_key(tokens, start)] = job.scores
        done += 1
        yield Progress(at + 0.3 * done / len(conversations), f"{who} answered "
                       f"{done} of {len(conversations)} probe questions")
    return [text or "" for text in found]


def _scores(side: tuple[Scorer, SideCache], sequences: list[tuple[list[int], int]]
            ) -> list[np.ndarray]:
    """Each answer's token log-probabilities on one side; scored before: from its cache. An
    answer that starts like one scored already (another answer to the same prompt) takes those
    first values from it and is evaluated from where they part, continuing from that prompt's
    cache when the context still holds it."""
    scorer, cache = side
    keys = [SideCache.score_key(tokens, start) for tokens, start in sequences]
    missing = [i for i, k in enumerate(keys) if k not in cache.scores]
    todo, priors = [], []
    for i in missing:
        tokens, start = sequences[i]
        prior: list[float] = []
        for j, (other, begin) in enumerate(sequences):
            known = cache.scores.get(keys[j])
            if known is None or j == i or begin != start or other[:start] != tokens[:start]:
                continue
            shared = min(common_prefix(other[start:], tokens[start:]), len(known))
            if shared > len(prior):
                prior = known[:shared]
        if len(prior) >= len(tokens) - start:
            cache.scores[keys[i]] = prior[:len(tokens) - start]
        else:
            todo.append(i)
            priors.append(prior)
    values = scorer.score([sequences[i] for i in todo], priors)
    for i, row in zip(todo, values, strict=True):
        cache.scores[keys[i]] = [float(v) for v in row]
    return [np.asarray(cache.scores[k], dtype=np.float32) for k in keys]


def _measure(engine: Engine, old: tuple[Scorer, SideCache], new: tuple[Scorer, SideCache],
             conversations: list[list[dict[str, str]]], probes: list[str], evidence: Evidence,
             system: str) -> Generator[Progress, None, dict[str, Any]]:
    yield Progress(0.02, "Asking the probe questions")

    def exchange(index: int, answer: str) -> tuple[list[int], int]:
        return _chat_tokens(engine, probes[index], answer, system)

    lessons = [_chat_tokens(engine, prompt, answer, system)
               for prompt, answer in evidence.examples]
    base_answers = yield from _side(old, conversations, lessons, 0.02, "The comparison", exchange)
    adapter_answers = yield from _side(new, conversations, lessons, 0.32, "The adapter", exchange,
                                       base_answers)
    answers = [{"prompt": p, "base": b, "adapter": a}
               for p, b, a in zip(probes, base_answers, adapter_answers, strict=True)]
    texts = [*[(p["prompt"], p["adapter"]) for p in answers],
             *[(p["prompt"], p["base"]) for p in answers]]
    sequences = lessons + [_chat_tokens(engine, prompt, answer, system) for prompt, answer in texts]
    yield Progress(0.65, "Scoring your preferred answers and the probe answers")
    before, after = _scores(old, sequences), _scores(new, sequences)
    yield Progress(0.9, "Naming the words that changed")
    taught = len(evidence.examples)
    fit_old = float(-sum(lp.sum() for lp in before[:taught]))
    fit_new = float(-sum(lp.sum() for lp in after[:taught]))
    count = sum(len(lp) for lp in after[:taught])
    fit = {"base_nll": round(fit_old / count, 4) if count else None,
           "adapter_nll": round(fit_new / count, 4) if count else None, "tokens": count}
    tally = WordTally()
    for (tokens, start), lp_old, lp_new in zip(sequences, before, after, strict=True):
        pieces = [engine.llm.detokenize([t]) for t in tokens[start:start + len(lp_new)]]
        tally.add(word_changes(pieces, list(lp_new - lp_old)))
    style_before = style.measure(base_answers, evidence.user_name)
    style_after = style.measure(adapter_answers, evidence.user_name)
    sentences = style.describe(style_before, style_after)
    return {
        "preferences": evidence.preferences,
        "examples": [{"prompt": p, "answer": a} for p, a in evidence.examples],
        "probes": answers,
        "style": {"base": style_before.to_json(), "adapter": style_after.to_json(),
                  "sentences": sentences},
        "tokens": tally.ranked(TOP_TOKENS),
        "fit": fit,
        "summary": summary_sentences(sentences, fit, evidence),
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
