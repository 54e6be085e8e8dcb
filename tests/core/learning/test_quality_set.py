"""A question set may name its own answer limits; the shipped set keeps its limits and keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kindred.core.basics.hashing import sha256_bytes
from kindred.core.engine.llama import Engine
from kindred.core.learning import quality


def _write(path: Path, tokens: dict[str, int] | None) -> Path:
    data = {"version": 5, "facts": [{"q": "What is the capital of France?", "a": ["paris"]}],
            "open": ["Explain how a bicycle works."], "style": ["Give me a tip for sleeping."]}
    if tokens is not None:
        data["tokens"] = tokens
    path.write_text(json.dumps(data))
    return path


def test_limits_come_from_the_file_and_change_the_base_cache_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINDRED_QUALITY_SET", str(_write(tmp_path / "plain.json", None)))
    plain = quality.QuestionSet.shipped()
    assert plain.tokens == (quality.FACT_TOKENS, quality.STYLE_TOKENS, quality.OPEN_TOKENS)
    # the key of a set with the usual limits is the one archived caches were written under
    old = sha256_bytes(json.dumps({"format": quality.FORMAT, "base": "b", "system": "s",
                                   "set": 5, "extra": []}, sort_keys=True).encode())
    assert quality.base_cache_key("b", "s", plain, []) == old
    monkeypatch.setenv("KINDRED_QUALITY_SET",
                       str(_write(tmp_path / "short.json", {"open": 12})))
    short = quality.QuestionSet.shipped()
    assert short.tokens == (quality.FACT_TOKENS, quality.STYLE_TOKENS, 12)
    assert quality.base_cache_key("b", "s", short, []) != old


@pytest.mark.slow
def test_answers_keep_to_the_sets_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         engine: Engine) -> None:
    monkeypatch.setenv("KINDRED_QUALITY_SET", str(_write(tmp_path / "set.json",
                                                         {"facts": 4, "style": 6, "open": 9})))
    questions = quality.QuestionSet.shipped()
    engine.set_adapters([])
    gen = quality.answers(engine, "", questions, [])
    while True:
        try:
            next(gen)
        except StopIteration as done:
            out: dict[str, list[str]] = done.value
            break
    lengths = {part: [len(engine.llm.tokenize(a.encode(), add_bos=False)) for a in answers]
               for part, answers in out.items()}
    assert all(0 < n <= 4 + 1 for n in lengths["facts"]), lengths
    assert all(0 < n <= 6 + 1 for n in lengths["style"]), lengths
    assert all(5 < n <= 9 + 1 for n in lengths["open"]), lengths
