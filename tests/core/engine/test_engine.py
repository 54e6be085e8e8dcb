"""The real llama.cpp engine on the embedded model: streaming, stop, limits, overflow."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from kindred.core.basics.errors import KindredError
from kindred.core.basics.sampling import Sampling
from kindred.core.chat.runtime import load_engine
from kindred.core.engine.llama import Engine
from kindred.core.home.assistants import create_assistant
from kindred.core.home.models import add_model
from kindred.core.session import Session
from support.archive_helpers import db_dump

GREEDY = Sampling(temperature=0.0, max_tokens=40)
ASK = [{"role": "system", "content": "You are helpful."},
       {"role": "user", "content": "Write three sentences about the sea."}]


def test_streams_pieces_and_measures(engine: Engine) -> None:
    generation = engine.chat(ASK, GREEDY)
    pieces = list(generation)
    assert len(pieces) > 5
    assert generation.text == "".join(pieces) and "sea" in generation.text.lower()
    stats = generation.stats
    assert stats.tokens_in > 10 and 5 < stats.tokens_out <= 40
    assert stats.ttft_s is not None and stats.ttft_s > 0
    assert stats.tok_s is not None and stats.tok_s > 1
    assert stats.finish_reason in ("stop", "length")


def test_greedy_is_reproducible_and_chat_template_is_used(engine: Engine) -> None:
    first = engine.chat(ASK, GREEDY).read()
    assert engine.chat(ASK, GREEDY).read() == first
    tokens = engine.tokenize_chat(ASK)
    text = engine.llm.detokenize(tokens, special=True).decode()
    assert "<|im_start|>user" in text and text.rstrip().endswith("<|im_start|>assistant")


def test_max_tokens_ends_with_length(engine: Engine) -> None:
    generation = engine.chat(ASK, Sampling(temperature=0.0, max_tokens=3))
    generation.read()
    assert generation.stats.tokens_out == 3 and generation.stats.finish_reason == "length"


def test_cancel_stops_mid_answer(engine: Engine) -> None:
    generation = engine.chat(ASK, Sampling(temperature=0.0, max_tokens=200))
    got = []
    for piece in generation:
        got.append(piece)
        if len(got) == 4:
            threading.Thread(target=engine.cancel).start()
    assert generation.stats.finish_reason == "cancelled"
    assert generation.stats.tokens_out < 20
    # the next answer is not affected by the earlier cancel
    after = engine.chat(ASK, GREEDY)
    after.read()
    assert after.stats.finish_reason != "cancelled"


def test_context_overflow_drops_oldest_turns(model_path: Path) -> None:
    small = Engine(model_path, n_ctx=512)
    try:
        history = [{"role": "system", "content": "You are helpful."}]
        for i in range(30):
            history.append({"role": "user", "content": f"Message {i}: " + "tell me more " * 10})
            history.append({"role": "assistant", "content": "Sure, here is more. " * 8})
        history.append({"role": "user", "content": "What is 2 + 2?"})
        generation = small.chat(history, Sampling(temperature=0.0, max_tokens=32))
        assert generation.read()
        stats = generation.stats
        assert stats.dropped_messages > 30
        assert stats.tokens_in + stats.tokens_out <= 512
        kept, _, _ = small.fit_messages(history, 32)
        assert kept[0]["role"] == "system" and kept[-1]["content"] == "What is 2 + 2?"
        # a single message longer than the whole context keeps its end, never an error
        huge = [{"role": "user", "content": "blah " * 2000 + "Say OK."}]
        long = small.chat(huge, Sampling(temperature=0.0, max_tokens=8))
        long.read()
        assert long.stats.tokens_in + long.stats.tokens_out <= 512
    finally:
        small.close()


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KindredError, match="not found"):
        Engine(tmp_path / "nope.gguf")


def test_a_model_file_damaged_after_it_was_added_is_a_clear_error(
        session: Session, model_path: Path, tmp_path: Path) -> None:
    """Added, then overwritten with junk: loading says so (and how to fix it), no traceback."""
    copy = tmp_path / "mine.gguf"
    copy.write_bytes(model_path.read_bytes() + b"\0" * 32)  # another file, so a new model entry
    model = add_model(session.store, copy)
    assistant = create_assistant(session.store, "Mine", model_id=model.id)
    copy.write_bytes(b"GGUF" + b"\0" * 4096)
    before = db_dump(session)
    with pytest.raises(KindredError, match=r"could not load .*damaged.*add the model again"):
        load_engine(session, assistant)
    assert db_dump(session) == before


def test_sequence_logits_match_step_by_step(engine: Engine) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    ids = engine.llm.tokenize(text.encode(), add_bos=True, special=True)
    rows = engine.sequence_logits(ids)
    assert rows.shape == (len(ids), engine.llm.n_vocab())
    for n in (3, len(ids)):
        prefix = engine.llm.detokenize(ids[:n]).decode()
        step = engine.next_token_logits(prefix)
        assert engine.llm.tokenize(prefix.encode(), add_bos=True, special=True) == ids[:n]
        assert int(step.argmax()) == int(rows[n - 1].argmax())
        assert np.corrcoef(step, rows[n - 1])[0, 1] > 0.999
