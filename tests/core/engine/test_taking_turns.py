"""Two engines of one process answering at once take turns at every llama.cpp decode
(`foreground.computing`): at once, each ran at a small fraction of its speed alone (their
threads spin for partners the other engine took the cores from). Real llama.cpp; a spy on
llama_decode only counts who is inside it."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import llama_cpp
import llama_cpp.llama_cpp as low
import pytest

from kindred.core.basics.sampling import Sampling
from kindred.core.engine.batch import BatchGenerator
from kindred.core.engine.llama import Engine

GREEDY = Sampling(temperature=0.0, top_p=1.0, top_k=1, repeat_penalty=1.1, max_tokens=24)


class Inside:
    """Who is inside llama_decode, and the most at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.order: list[int] = []

    def spy(self, real):  # type: ignore[no-untyped-def]
        def decode(ctx, batch):  # type: ignore[no-untyped-def]
            with self.lock:
                self.now += 1
                self.most = max(self.most, self.now)
                self.order.append(threading.get_ident())
            try:
                return real(ctx, batch)
            finally:
                with self.lock:
                    self.now -= 1
        return decode


def test_two_engines_answering_at_once_take_turns(engine: Engine, model_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    inside = Inside()
    monkeypatch.setattr(low, "llama_decode", inside.spy(low.llama_decode))
    monkeypatch.setattr(llama_cpp, "llama_decode", inside.spy(llama_cpp.llama_decode))
    second, third = Engine(model_path, n_ctx=512), Engine(model_path, n_ctx=512)
    said: dict[str, str] = {}
    chats: dict[str, int] = {}
    go = threading.Barrier(4)

    def chat(name: str, which: Engine) -> None:
        chats[name] = threading.get_ident()
        go.wait()
        said[name] = which.chat([{"role": "user", "content": "Tell me about the sea."}],
                                GREEDY).read()

    def batched() -> None:  # an insight's batched work: it waits for the answers, then goes on
        go.wait()
        with BatchGenerator(third, n_seq=2, n_ctx_seq=128) as generator:
            said["batch"] = " ".join(a.text for a in generator.answers(
                [[{"role": "user", "content": "Name a fruit."}]] * 2, 8))

    try:
        threads = [threading.Thread(target=chat, args=("one", engine)),
                   threading.Thread(target=chat, args=("two", second)),
                   threading.Thread(target=batched)]
        for thread in threads:
            thread.start()
        go.wait()
        for thread in threads:
            thread.join(300)
    finally:
        second.close()
        third.close()
    assert said.get("one") and said.get("two") and said.get("batch"), said
    assert said["one"] == said["two"]  # the same greedy answer, turns or not
    assert inside.most == 1, inside.most  # never two decodes at once
    answering = [t for t in inside.order if t in chats.values()]
    switches = sum(a != b for a, b in itertools.pairwise(answering))
    assert switches >= 4, switches  # the two answers took turns, not one after the other
