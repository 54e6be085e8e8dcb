"""Insight on real archived versions (llama.cpp, numpy) and usage counts from real messages."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kindred.core.basics.sampling import Sampling
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import create_conversation
from kindred.core.chat.usage import usage
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.learning import insight
from kindred.core.learning.feedback import add_preference, rate
from kindred.core.session import Session
from support.archive_helpers import make_version

ALL_LAYERS = tuple(range(30))


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_insight_sections_layers_and_cache(session: Session, engine: Engine,
                                           model_path: Path, tmp_path: Path) -> None:
    version = make_version(session, model_path, layers=ALL_LAYERS, magnitude=0.04)
    add_preference(session.store, session.assistant().id, "Call me Sam.")
    sentinel = AdapterRef("sentinel", version_path(session, version.id), 0.25)
    engine.set_adapters([sentinel])
    events = list(insight.compute(session.store, engine, version.id))
    result = events[-1]
    assert isinstance(result, dict)
    fractions = [e.fraction for e in events[:-1] if isinstance(e, insight.Progress)]
    assert fractions == sorted(fractions) and len(fractions) > 5
    assert engine.adapters == [AdapterRef("sentinel", sentinel.path.resolve(), 0.25)]
    assert result["version"] == version.id and result["against"] == "base"
    assert result["preferences"] == ["Call me Sam."]
    assert len(result["probes"]) == len(insight.builtin_probes())
    assert all(p["prompt"] and p["base"] and p["adapter"] for p in result["probes"])
    assert any(p["base"] != p["adapter"] for p in result["probes"])
    assert [row["layer"] for row in result["layers"]] == list(range(30))
    assert set(result["layers"][0]["modules"]) == {"attn_q", "attn_v", "ffn_down"}
    assert all(row["total"] > 0 for row in result["layers"])
    promoted, demoted = result["tokens"]["promoted"], result["tokens"]["demoted"]
    assert 1 <= len(promoted) <= insight.TOP_TOKENS and 1 <= len(demoted) <= insight.TOP_TOKENS
    assert all(t["score"] > 0 for t in promoted) and all(t["score"] < 0 for t in demoted)
    assert [t["score"] for t in promoted] == sorted((t["score"] for t in promoted), reverse=True)
    assert set(result["style"]) == {"base", "adapter", "sentences"}
    assert result["summary"] and result["fit"]["base_nll"] is None  # no corrections yet
    # immutable version: the second call reads the cache
    started = time.perf_counter()
    again = insight.run(session.store, engine, version.id)
    assert time.perf_counter() - started < 1.0
    assert again == json.loads(json.dumps(result))
    engine.set_adapters([])


def version_path(session: Session, version_id: str) -> Path:
    from kindred.core.archive.objects import verified_path

    return verified_path(session.store, version_id)


def test_layer_norms_match_the_dense_product(session: Session, model_path: Path) -> None:
    import numpy as np

    from kindred.core.formats.lora_gguf import read_lora_gguf

    version = make_version(session, model_path, layers=(0, 1), rank=4)
    path = version_path(session, version.id)
    rows = insight.layer_norms(path)
    tensors, alpha = read_lora_gguf(path)
    a, b = tensors["blk.1.ffn_down.weight.lora_a"], tensors["blk.1.ffn_down.weight.lora_b"]
    dense = float(np.linalg.norm(b @ a)) * alpha / 4
    assert abs(rows[1]["modules"]["ffn_down"] - dense) < 1e-3 * dense


def test_usage_counts_match_messages_written(session: Session, engine: Engine,
                                             model_path: Path) -> None:
    assistant = session.assistant()
    version = make_version(session, model_path)
    short = Sampling(temperature=0.0, max_tokens=4)
    written = {"base": 0, version.id: 0}
    answers = []
    for refs, key, conversations in (([], "base", 2), ([AdapterRef(version.id,
                                      version_path(session, version.id), 1.0)], version.id, 1)):
        engine.set_adapters(refs)
        for _ in range(conversations):
            conv = create_conversation(session.store, assistant.id)
            for text in ("Hi", "And again"):
                turn = chat.prepare(session.store, assistant, conv.id, text)
                gen = engine.chat(turn.messages, short)
                answers.append(chat.save_answer(session.store, conv.id, gen.read(), gen.stats))
                written[key] += 1
    engine.set_adapters([])
    rate(session.store, answers[0].id, 1)
    rate(session.store, answers[-1].id, -1)
    data = usage(session.store, assistant.id)
    assert data.per_version["base"]["messages"] == written["base"] == 4
    assert data.per_version[version.id]["messages"] == written[version.id] == 2
    assert data.per_version["base"]["conversations"] == 2
    assert data.per_version[version.id]["conversations"] == 1
    assert data.per_version["base"]["ratings_up"] == 1
    assert data.per_version[version.id]["ratings_down"] == 1
    assert sum(d["messages"] for d in data.per_day.values()) == 6
    assert data.days_together == 1
    assert sum(data.per_day_version[next(iter(data.per_day_version))].values()) == 6
    out = sum(a.tokens_out or 0 for a in answers)
    assert sum(v["tokens_out"] for v in data.per_version.values()) == out


def test_cache_key_covers_what_the_result_depends_on() -> None:
    key = insight.cache_key("v1", "base", ["p"], "Be brief.")
    assert key != insight.cache_key("v1", "base", ["p"], "Call me Sam.")
    assert key != insight.cache_key("v1", "parent-id", ["p"], "Be brief.")
    assert key != insight.cache_key("v1", "base", ["p", "q"], "Be brief.")
    assert key == insight.cache_key("v1", "base", ["p"], "Be brief.")


def test_fit_is_told_as_a_likelihood_factor_on_the_taught_answers() -> None:
    # a memorised answer: loss 3.0 -> 0.02 is ~20x per word piece, never "99% better"
    said = insight.fit_sentences({"base_nll": 3.0, "adapter_nll": 0.02, "tokens": 40})
    assert said == ["Word for word, the answers you taught it are now 20× as likely as before "
                    "(measured on those same answers)."]
    assert "1.6×" in insight.fit_sentences({"base_nll": 2.0, "adapter_nll": 1.5})[0]
    assert "not yet" in insight.fit_sentences({"base_nll": 2.0, "adapter_nll": 2.01})[0]
    assert insight.fit_sentences({"base_nll": None, "adapter_nll": None}) == []
