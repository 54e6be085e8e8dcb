"""The second base models of the migration tests, and the plain chat template for models
without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindred.core.basics.hashing import sha256_file
from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import Engine
from kindred.core.engine.template import PLAIN_TEMPLATE, template_of
from kindred.core.formats.gguf_info import read_gguf
from kindred.core.home.models import add_model
from kindred.core.learning.dataset import Example
from kindred.core.session import Session
from kindred.core.training.tokens import ChatTokenizer
from support.bases import gemma_expected_sha256

MESSAGES = [{"role": "system", "content": "Be kind."},
            {"role": "user", "content": "What is the capital of France?"}]


def test_template_of_prefers_the_models_own() -> None:
    assert template_of({"tokenizer.chat_template": "{{ x }}"}) == ("{{ x }}", False)
    assert template_of({}) == (PLAIN_TEMPLATE, True)
    assert template_of({"tokenizer.chat_template": "  "}) == (PLAIN_TEMPLATE, True)


def test_sibling_is_the_same_family_with_another_sha(model_path: Path,
                                                     sibling_model_path: Path,
                                                     session: Session) -> None:
    old, new = read_gguf(model_path), read_gguf(sibling_model_path)
    assert new.architecture == old.architecture == "llama"
    assert new.metadata["tokenizer.ggml.tokens"] == old.metadata["tokenizer.ggml.tokens"]
    assert new.metadata["general.file_type"] != old.metadata["general.file_type"]
    assert sha256_file(sibling_model_path) != sha256_file(model_path)
    model = add_model(session.store, sibling_model_path)
    assert model.architecture == "llama" and model.metadata["chat_template"] is True


def test_gemma_matches_its_sha256sums_and_registers(gemma_model_path: Path,
                                                    session: Session) -> None:
    assert sha256_file(gemma_model_path) == gemma_expected_sha256()
    assert not str(gemma_model_path).startswith(str(session.home.root))
    model = add_model(session.store, gemma_model_path)
    assert model.architecture == "gemma3"
    assert model.metadata["chat_template"] is False


def test_training_tokenizer_uses_the_plain_template_for_gemma(gemma_model_path: Path) -> None:
    example = Example("correction", 1, [*MESSAGES, {"role": "assistant", "content": "Paris."}])
    with ChatTokenizer(gemma_model_path) as tokenizer:
        encoded = tokenizer.encode(example)
        eos = tokenizer._model.token_eos()
        prompt = tokenizer._model.detokenize(encoded.ids[:encoded.n_prompt]).decode()
        answer = encoded.ids[encoded.n_prompt:]
    assert prompt.endswith("Be kind.\n\nUser: What is the capital of France?\nAssistant:")
    assert eos in answer  # the answer ends its turn: an adapter learns where to stop
    assert answer.index(eos) == len(answer) - 2  # then the newline before the next turn


@pytest.mark.slow
def test_engine_chats_with_gemma_through_the_same_template(gemma_model_path: Path) -> None:
    engine = Engine(gemma_model_path, n_ctx=512)
    try:
        prompt = engine._formatter(messages=MESSAGES).prompt
        assert prompt.endswith("User: What is the capital of France?\nAssistant:")
        with ChatTokenizer(gemma_model_path) as tokenizer:
            encoded = tokenizer.encode(Example("correction", 1, [
                *MESSAGES, {"role": "assistant", "content": "Paris."}]))
        assert engine.tokenize_chat(MESSAGES) == encoded.ids[:encoded.n_prompt]
        answer = engine.chat(MESSAGES, Sampling(temperature=0, top_k=1, max_tokens=3))
        answer.read()
        assert answer.stats.tokens_out >= 1
    finally:
        engine.close()
