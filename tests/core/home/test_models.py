from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kindred.core.basics.hashing import sha256_file
from kindred.core.formats.gguf_info import InvalidGGUFError, read_gguf
from kindred.core.home.models import add_model, embedded_model_path, get_model, list_models
from kindred.core.session import Session
from support.lora import make_lora_gguf


def _snapshot(session: Session) -> list[dict[str, object]]:
    return [dict(r) for r in session.store.db.query("SELECT * FROM models ORDER BY id")]


def test_embedded_model_is_registered_on_first_run(session: Session) -> None:
    models = list_models(session.store)
    assert len(models) == 1
    model = models[0]
    assert model.embedded and model.architecture == "llama"
    assert model.name == "SmolLM2 135M Instruct (built-in)"
    assert model.sha256 == sha256_file(embedded_model_path())
    assert model.metadata["chat_template"] is True
    assert model.metadata["attention.head_count"] == 9
    assert get_model(session.store, model.id[:6]) == model


def test_gguf_header_is_read_fully(model_path: Path) -> None:
    info = read_gguf(model_path)
    assert info.file_type == "model"
    assert info.metadata["tokenizer.ggml.tokens"] == {"array_length": 49152}
    assert info.tensors["blk.0.attn_q.weight"] == (576, 576)
    assert len(info.tensors) == 272


def test_adding_the_same_file_again_is_idempotent(session: Session, model_path: Path,
                                                  tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(model_path, copy)
    again = add_model(session.store, copy)
    assert again.embedded and len(list_models(session.store)) == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p, src: p.write_text("hello, I am text"), "not a GGUF file"),
        (lambda p, src: p.write_bytes(src.read_bytes()[:5_000_000]), "truncated"),
        (lambda p, src: p.write_bytes(src.read_bytes()[:2000]), "truncated"),
        (lambda p, src: p.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 64), "damaged"),
        (lambda p, src: None, "no such file"),
        (lambda p, src: p.mkdir(), "not a regular file"),
        (lambda p, src: make_lora_gguf(src, p), "LoRA adapter, not a base model"),
    ],
    ids=["text", "truncated-data", "truncated-header", "garbage-header", "missing", "folder",
         "adapter"],
)
def test_bad_model_files_change_nothing(session: Session, model_path: Path, tmp_path: Path,
                                        make, message: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.gguf"
    make(bad, model_path)
    before = _snapshot(session)
    ledger_before = session.store.db.execute("SELECT count(*) FROM ledger").fetchone()[0]
    with pytest.raises(InvalidGGUFError, match=message):
        add_model(session.store, bad)
    assert _snapshot(session) == before
    assert session.store.db.execute("SELECT count(*) FROM ledger").fetchone()[0] == ledger_before
