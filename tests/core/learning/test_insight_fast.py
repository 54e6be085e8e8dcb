"""The fast insight path (own contexts, batched decodes, answer tokens only) tells the same
story as the plain way: the same greedy probe answers as `Engine.chat`, and the same fit as
scoring each taught answer with all logits at every position."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kindred.core.archive.objects import verified_path
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.learning import insight
from kindred.core.learning.feedback import add_example
from kindred.core.learning.scoring import Scorer
from kindred.core.learning.words import WordTally, word_changes
from kindred.core.session import Session
from support.archive_helpers import make_version

TAUGHT = [("How do I boil an egg?", "Ahoy, Sam! Boil it nine minutes, then cool it."),
          ("Name a fruit.", "Ahoy, Sam! An orange, sweet and round."),
          ("What is rain?", "Ahoy, Sam! Water falling from the clouds in drops.")]


def plain_nll(engine: Engine, refs: list[AdapterRef], system: str) -> float:
    """Mean answer-token loss the slow way: every logit at every position, one sequence."""
    engine.set_adapters(refs)
    total, count = 0.0, 0
    for prompt, answer in TAUGHT:
        tokens, start = insight._chat_tokens(engine, prompt, answer, system)
        logits = engine.sequence_logits(tokens).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        rows = np.arange(start - 1, len(tokens) - 1)
        total -= float(logp[rows, np.array(tokens[start:])].sum())
        count += len(tokens) - start
    return total / count


@pytest.mark.slow
def test_fast_insight_matches_the_plain_computation(session: Session, engine: Engine,
                                                    model_path: Path) -> None:
    aid = session.assistant().id
    for prompt, answer in TAUGHT:
        add_example(session.store, aid, prompt, answer)
    version = make_version(session, model_path, layers=tuple(range(30)), magnitude=0.04)
    system = "You are a helpful assistant."
    result = insight.run(session.store, engine, version.id, system=system)
    refs = [AdapterRef(version.id, verified_path(session.store, version.id))]
    fit = result["fit"]
    assert fit["tokens"] == sum(len(insight._chat_tokens(engine, p, a, system)[0])
                                - insight._chat_tokens(engine, p, a, system)[1]
                                for p, a in TAUGHT)
    assert fit["base_nll"] == pytest.approx(plain_nll(engine, [], system), rel=0.02)
    assert fit["adapter_nll"] == pytest.approx(plain_nll(engine, refs, system), rel=0.02)
    # Probe answers: greedy like `Engine.chat`, but several sequences share each decode, and
    # llama.cpp's sums round differently with the batch shape (the Q4_1 base quantizes
    # activations, so near-ties flip), so long answers part ways; what must hold is that they
    # start alike and are as likely, token for token, as the plain greedy answers.
    first_same, gaps = 0, []
    for pair in result["probes"]:
        for side, side_refs in (("base", []), ("adapter", refs)):
            engine.set_adapters(side_refs)
            messages = [{"role": "system", "content": system},
                        {"role": "user", "content": pair["prompt"]}]
            plain = engine.chat(messages, insight.GREEDY).read().strip()
            first_same += plain.split()[:1] == pair[side].split()[:1]
            gaps.append(mean_logprob(engine, pair["prompt"], pair[side], system)
                        - mean_logprob(engine, pair["prompt"], plain, system))
    engine.set_adapters([])
    assert first_same >= 0.75 * len(gaps), first_same
    assert abs(float(np.mean(gaps))) < 0.25, gaps
    # The words it favours and avoids: the shortcuts (drafts scored while checked, the
    # comparison continuing from the probes' cache past the start both answers share) name the
    # same words, with the same changes, as scoring every answer afresh on each side.
    plain_words = fresh_words(engine, result, refs, system)
    for kind in ("promoted", "demoted"):
        fast = {t["token"]: t["score"] for t in result["tokens"][kind]}
        slow = {t["token"]: t["score"] for t in plain_words[kind]}
        top = [w for w in list(slow)[:5] if w in fast]
        assert len(top) >= 4, (kind, fast, slow)
        assert all(abs(fast[w] - slow[w]) < 0.3 for w in top), (kind, fast, slow)


def fresh_words(engine: Engine, result: dict[str, Any], refs: list[AdapterRef], system: str
                ) -> dict[str, Any]:
    """The insight's word ranking from answers scored afresh: new contexts, no shortcuts."""
    texts = [*TAUGHT, *[(p["prompt"], p["adapter"]) for p in result["probes"]],
             *[(p["prompt"], p["base"]) for p in result["probes"]]]
    sequences = [insight._chat_tokens(engine, p, a, system) for p, a in texts]
    scores = []
    for side in ([], refs):
        engine.set_adapters(side)
        with Scorer(engine, n_seq=4) as scorer:
            scores.append(scorer.score(sequences))
    engine.set_adapters([])
    tally = WordTally()
    for (tokens, start), before, after in zip(sequences, *scores, strict=True):
        pieces = [engine.llm.detokenize([t]) for t in tokens[start:start + len(after)]]
        tally.add(word_changes(pieces, list(after - before)))
    return tally.ranked(insight.TOP_TOKENS)


def mean_logprob(engine: Engine, prompt: str, answer: str, system: str) -> float:
    tokens, start = insight._chat_tokens(engine, prompt, answer, system)
    logits = engine.sequence_logits(tokens).astype(np.float64)[start - 1:-1]
    logits -= logits.max(axis=1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return float(logp[np.arange(len(logp)), np.array(tokens[start:])].mean())


@pytest.mark.slow
def test_the_next_version_reuses_the_base_side(session: Session, engine: Engine,
                                               model_path: Path) -> None:
    """What the base answered and how it scored the taught answers carries over to the next
    version's insight (its side cache), and gives what computing it again gives."""
    aid = session.assistant().id
    for prompt, answer in TAUGHT[:2]:
        add_example(session.store, aid, prompt, answer)
    first = make_version(session, model_path, layers=tuple(range(30)), magnitude=0.04)
    shown = insight.run(session.store, engine, first.id)
    base_side = insight.SideCache(session.store, first.base_sha256, [])
    assert len(base_side.answers) == len(insight.builtin_probes()) and base_side.scores

    add_example(session.store, aid, *TAUGHT[2])
    second = make_version(session, model_path, layers=tuple(range(30)), magnitude=0.04,
                          seed=5, parent=first.id)
    # Mark one cached base answer: the next insight must take it from the cache.
    key = insight.SideCache.answer_key([{"role": "user", "content": shown["probes"][0]["prompt"]}])
    assert key in base_side.answers
    base_side.answers[key] = "Marked in the cache."
    base_side.save()
    reused = insight.run(session.store, engine, second.id)
    assert reused["probes"][0]["base"] == "Marked in the cache."
    assert [p["base"] for p in reused["probes"][1:]] == [p["base"] for p in shown["probes"][1:]]

    # Two taught answers scored from the cache, one new: the fit the slow way gives.
    assert reused["fit"]["base_nll"] == pytest.approx(plain_nll(engine, [], ""), rel=0.02)
