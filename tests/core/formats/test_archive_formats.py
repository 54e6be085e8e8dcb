"""Archive formats: format 2 stores the weights once in fp16 and derives the GGUF; versions
archived before it (format 1: fp32, stored twice) still verify, load and export unchanged."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.archive.catalog import FILES_1, FORMAT_1, MANIFEST, manifest_bytes
from kindred.core.archive.derived import cache_path, disk_usage
from kindred.core.basics.hashing import sha256_bytes, sha256_file
from kindred.core.bundles.bundle import export_bundle, import_bundle
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.formats.lora_gguf import write_lora_gguf
from kindred.core.formats.peft_files import CONFIG, SAFETENSORS, write_safetensors
from kindred.core.home import ledger
from kindred.core.home.atomic import scratch, seal_dir
from kindred.core.home.store import now
from kindred.core.session import Session, open_session
from support.archive_helpers import lora_config
from support.lora import peft_tensors

TEXTS = ("The weather today is", "My favourite food is", "Once upon a time")
ALL_LAYERS = tuple(range(30))


def archive_format_1(session: Session, tensors: dict[str, np.ndarray], rank: int
                     ) -> versions.Version:
    """A version exactly as Kindred archived it before format 2 (fp32 safetensors and fp32
    adapter.gguf in the folder, format 1 manifest), published the same way."""
    assistant = session.assistant()
    model = session.model_for(assistant)
    base = archive.base_info(model)
    config = lora_config(rank)
    with scratch(session.home, "version") as work:
        write_safetensors(work / SAFETENSORS, tensors)
        (work / CONFIG).write_bytes(json.dumps(config, indent=2, sort_keys=True).encode())
        write_lora_gguf(work / "adapter.gguf", archive.to_gguf_tensors(tensors, base, "old"),
                        architecture=base.architecture, alpha=float(config["lora_alpha"]),
                        metadata={"kindred.base_sha256": model.sha256})
        files = {f: sha256_file(work / f) for f in FILES_1}
        manifest = {"format": FORMAT_1, "base": {"sha256": model.sha256, "name": model.name,
                                                 "architecture": base.architecture},
                    "parent": None, "source": "trained", "dataset": None,
                    "lora": {"rank": rank, "alpha": float(config["lora_alpha"]),
                             "tensors": len(tensors)},
                    "created_at": now(), "files": files, "metrics": None, "training": None}
        data = manifest_bytes(manifest)
        version_id = sha256_bytes(data)
        (work / MANIFEST).write_bytes(data)
        seal_dir(work)
        size = sum((work / f).stat().st_size for f in (*FILES_1, MANIFEST))
        row = {"id": version_id, "assistant_id": assistant.id, "parent": None,
               "status": "candidate", "source": "trained", "base_sha256": model.sha256,
               "dataset": None, "manifest": data.decode(), "size_bytes": size,
               "created_at": manifest["created_at"], "status_at": manifest["created_at"]}
        archive.publish(session.store, [(work, row)],
                        [(ledger.VERSION_ARCHIVED, {"version": version_id, "files": files},
                          assistant.id)])
    return versions.get_version(session.store, version_id)


def logits(engine: Engine, path: Path | None) -> np.ndarray:
    engine.set_adapters([AdapterRef("x", path)] if path else [])
    try:
        return np.stack([engine.next_token_logits(t) for t in TEXTS])
    finally:
        engine.set_adapters([])


def folder_bytes(session: Session, version_id: str) -> int:
    folder = versions.version_dir(session.home, version_id)
    return sum(p.stat().st_size for p in folder.iterdir())


@pytest.mark.slow
def test_fp16_format_is_a_quarter_of_the_old_size_and_answers_the_same(
        session: Session, model_path: Path, engine: Engine) -> None:
    tensors = peft_tensors(model_path, rank=8, layers=ALL_LAYERS, seed=3, magnitude=0.04)
    old = archive_format_1(session, tensors, 8)
    new = archive.archive_peft(session.store, session.assistant(), tensors, lora_config(8))
    assert new.manifest["format"] != old.manifest["format"] == FORMAT_1
    assert folder_bytes(session, new.id) < 0.3 * folder_bytes(session, old.id)
    assert new.size_bytes == folder_bytes(session, new.id)
    base = logits(engine, None)
    fp32 = logits(engine, archive.verified_path(session.store, old.id))
    fp16 = logits(engine, archive.verified_path(session.store, new.id))
    # llama.cpp's own noise: the fp32 adapter at scale 1.0001 (activations are quantized to
    # 8 bits for the Q4_1 base, so any tiny change moves logits by about this much)
    engine.set_adapters([AdapterRef("x", archive.verified_path(session.store, old.id), 1.0001)])
    noise = np.stack([engine.next_token_logits(t) for t in TEXTS])
    engine.set_adapters([])
    change = np.abs(fp32 - base).mean()
    assert change > 0.5  # the adapter really changes the answers
    assert np.abs(fp16 - fp32).mean() < 1.5 * np.abs(noise - fp32).mean() + 0.02
    assert np.abs(fp16 - fp32).mean() < 0.2 * change  # not a different adapter
    assert (fp16.argmax(axis=1) == fp32.argmax(axis=1)).all()


def test_an_old_fp32_version_still_verifies_loads_and_exports(
        session: Session, model_path: Path, engine: Engine, tmp_path: Path) -> None:
    tensors = peft_tensors(model_path, rank=4, seed=7, magnitude=0.08)
    old = archive_format_1(session, tensors, 4)
    folder = versions.version_dir(session.home, old.id)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert archive.verify_version(session.store, old.id).ok
    path = archive.verified_path(session.store, old.id)
    assert path == folder / "adapter.gguf"  # loaded from the folder, nothing derived
    assert not cache_path(session.home, old.id).exists()
    assert np.abs(logits(engine, path) - logits(engine, None)).max() > 0.1
    export_bundle(session.store, session.assistant(), tmp_path / "old.bundle")
    other = open_session(tmp_path / "other")
    try:
        result = import_bundle(other.store, tmp_path / "old.bundle", name="Restored")
        copied = versions.version_dir(other.home, old.id)
        assert {p.name: p.read_bytes() for p in copied.iterdir()} == before
        assert [v.id for v in result.versions] == [old.id]
        assert archive.verify_version(other.store, old.id).ok
    finally:
        other.close()
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # untouched
    # damage is still seen in the old format's own GGUF
    os.chmod(folder, 0o755)
    os.chmod(folder / "adapter.gguf", 0o644)
    data = bytearray((folder / "adapter.gguf").read_bytes())
    data[-3] ^= 0xFF
    (folder / "adapter.gguf").write_bytes(bytes(data))
    assert "adapter.gguf does not match" in archive.verify_version(session.store, old.id).message


def test_the_derived_gguf_is_rebuilt_when_missing_or_tampered_with(
        session: Session, model_path: Path, tmp_path: Path) -> None:
    version = archive.archive_peft(session.store, session.assistant(),
                                   peft_tensors(model_path, rank=4, seed=2), lora_config(4))
    recorded = version.manifest["gguf"]["sha256"]
    cached = cache_path(session.home, version.id)
    assert sha256_file(cached) == recorded
    cached.unlink()
    assert sha256_file(archive.verified_path(session.store, version.id)) == recorded
    cached.write_bytes(cached.read_bytes()[:-4] + b"evil")
    path = archive.verified_path(session.store, version.id)
    assert path == cached and sha256_file(path) == recorded  # rebuilt from the verified weights
    usage = disk_usage(session.home)
    assert usage["versions"] == folder_bytes(session, version.id) and usage["cache"] > 0


def test_a_format_2_bundle_round_trips_and_a_lying_manifest_is_refused(
        session: Session, model_path: Path, tmp_path: Path) -> None:
    version = archive.archive_peft(session.store, session.assistant(),
                                   peft_tensors(model_path, rank=4, seed=4), lora_config(4))
    export_bundle(session.store, session.assistant(), tmp_path / "new.bundle")
    other = open_session(tmp_path / "other")
    try:
        import_bundle(other.store, tmp_path / "new.bundle", name="Restored")
        assert archive.verify_version(other.store, version.id).ok
        path = archive.verified_path(other.store, version.id)
        assert sha256_file(path) == version.manifest["gguf"]["sha256"]
    finally:
        other.close()
