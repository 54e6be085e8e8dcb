"""The archive: content-addressed, read-only, verified versions that the engine really loads."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import numpy as np
import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.archive.derived import cache_path
from kindred.core.archive.objects import CorruptVersionError
from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.hashing import sha256_bytes, sha256_file
from kindred.core.basics.sampling import Sampling
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import create_conversation, list_messages
from kindred.core.chat.runtime import load_engine
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home.atomic import scratch
from kindred.core.home.store import DatabaseLockedError
from kindred.core.session import Session, open_session
from support.archive_helpers import (
    activate,
    grant,
    home_state,
    lora_config,
    make_version,
    write_peft_folder,
)
from support.lora import make_lora_gguf, peft_tensors

TEXT = "The weather today is"


def test_a_version_is_complete_read_only_and_named_by_its_manifest(
        session: Session, model_path: Path) -> None:
    version = make_version(session, model_path)
    folder = versions.version_dir(session.home, version.id)
    # format 2: the weights once, in fp16; the GGUF llama.cpp loads is derived (and cached)
    assert sorted(p.name for p in folder.iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors", "manifest.json"]
    manifest_raw = (folder / "manifest.json").read_bytes()
    assert sha256_bytes(manifest_raw) == version.id
    manifest = json.loads(manifest_raw)
    model = session.model_for(session.assistant())
    assert manifest["base"]["sha256"] == model.sha256
    assert manifest["source"] == "trained" and manifest["parent"] is None
    assert manifest["metrics"] == {"loss": 1.0} and manifest["training"]["steps"] == 3
    assert manifest["format"] == "kindred-adapter-version/2"
    assert manifest["weights"] == {"dtype": "F16"}
    assert sha256_file(cache_path(session.home, version.id)) == manifest["gguf"]["sha256"]
    for name, digest in manifest["files"].items():
        assert sha256_file(folder / name) == digest
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o444
    assert stat.S_IMODE(folder.stat().st_mode) == 0o555
    assert version.status == "candidate" and version.base_sha256 == model.sha256
    assert list(session.home.tmp.iterdir()) == []  # the scratch folder is gone
    assert archive.verify_version(session.store, version.id).ok


def test_lineage_and_prefix_lookup(session: Session, model_path: Path) -> None:
    first = make_version(session, model_path, seed=1)
    second = make_version(session, model_path, seed=2, parent=first.id[:8])
    assert second.parent == first.id
    assert versions.get_version(session.store, second.id[:10]).id == second.id
    assert [v.id for v in versions.list_versions(session.store)] == [first.id, second.id]
    with pytest.raises(NotFoundError, match="No version"):
        versions.get_version(session.store, "ffff" if not first.id.startswith("ffff")
                             else "eeee")


def test_human_names_are_numbered_oldest_first_and_never_move(session: Session,
                                                              model_path: Path) -> None:
    first = make_version(session, model_path, seed=1)
    second = make_version(session, model_path, seed=2, parent=first.id)
    aid = session.assistant().id
    assert versions.names(session.store, aid) == {first.id: "Version 1", second.id: "Version 2"}
    versions.delete(session.store, first.id, grant(session, "delete", first))
    third = make_version(session, model_path, seed=3)
    assert versions.names(session.store, aid) == {
        first.id: "Version 1", second.id: "Version 2", third.id: "Version 3"}
    assert versions.name_of(session.store, third) == "Version 3"


def test_archived_gguf_matches_a_direct_conversion(session: Session, model_path: Path,
                                                   engine: Engine, tmp_path: Path) -> None:
    """The archive's (fp16, derived) adapter.gguf gives the reference fp32 conversion's logits
    within llama.cpp's own noise (a 0.01 % change of scale), with the same top token."""
    tensors = peft_tensors(model_path, rank=4, seed=5)
    version = archive.archive_peft(session.store, session.assistant(), tensors,
                                   lora_config(4, alpha=4.0))
    reference = make_lora_gguf(model_path, tmp_path / "ref.gguf", rank=4, seed=5, alpha=4.0)
    engine.set_adapters([])
    base = engine.next_token_logits(TEXT)
    engine.set_adapters([AdapterRef("ref", reference)])
    expected = engine.next_token_logits(TEXT)
    engine.set_adapters([AdapterRef(version.id,
                                    archive.verified_path(session.store, version.id))])
    archived = engine.next_token_logits(TEXT)
    engine.set_adapters([AdapterRef("ref", reference, 1.0001)])  # llama.cpp's own noise level
    noise = engine.next_token_logits(TEXT)
    engine.set_adapters([])
    assert np.abs(expected - base).max() > 0.1
    assert np.abs(archived - expected).mean() < 1.5 * np.abs(noise - expected).mean() + 0.02
    assert int(np.argmax(archived)) == int(np.argmax(expected))


def test_peft_folder_round_trip_and_rslora_scale(session: Session, model_path: Path,
                                                 tmp_path: Path) -> None:
    folder = write_peft_folder(model_path, tmp_path / "run", rank=4, seed=2,
                               config=lora_config(4, alpha=8.0, use_rslora=True))
    version = archive.archive_peft_folder(session.store, session.assistant(), folder,
                                          metrics={"loss": np.float32(0.5)})
    from gguf import GGUFReader

    reader = GGUFReader(str(archive.verified_path(session.store, version.id)))
    field = reader.fields["adapter.lora.alpha"]
    assert float(field.parts[field.data[0]][0]) == pytest.approx(8.0 * 2.0)  # alpha*sqrt(r)
    assert version.metrics == {"loss": 0.5}
    peft = archive.peft_folder(session.store, version.id)
    from kindred.core.formats.peft_files import read_safetensors

    again = read_safetensors(peft / "adapter_model.safetensors")
    original = read_safetensors(folder / "adapter_model.safetensors")
    assert again.keys() == original.keys()  # stored in fp16: exactly the fp16 rounding
    assert all(np.array_equal(again[k], original[k].astype(np.float16).astype(np.float32))
               for k in again)


def test_chat_uses_the_active_version_and_records_it(session: Session,
                                                     model_path: Path) -> None:
    version = make_version(session, model_path, magnitude=0.08)
    activate(session, version)
    assistant = session.assistant()
    eng = load_engine(session, assistant, n_ctx=512)
    try:
        assert [(a.key, a.scale) for a in eng.adapters] == [(version.id, 1.0)]
        conv = create_conversation(session.store, assistant.id)
        turn = chat.prepare(session.store, assistant, conv.id, "Say hello.")
        gen = eng.chat(turn.messages, Sampling(temperature=0.0, max_tokens=8))
        text, stats = chat.answered(gen)
        chat.save_answer(session.store, conv.id, text, stats)
    finally:
        eng.close()
    answer = list_messages(session.store, conv.id)[-1]
    assert answer.adapters == [(version.id, 1.0)]
    assert versions.usage_counts(session.store, assistant.id) == {version.id: 1}


def _edit_byte(path: Path) -> None:
    os.chmod(path.parent, 0o755)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda f: _edit_byte(f / "adapter_config.json"), "adapter_config.json does not match"),
    (lambda f: _edit_byte(f / "adapter_model.safetensors"), "adapter_model.safetensors does"),
    (lambda f: _edit_byte(f / "manifest.json"), "manifest.json was edited"),
    (lambda f: (os.chmod(f, 0o755), (f / "adapter_model.safetensors").unlink()),
     "adapter_model.safetensors is missing"),
    (lambda f: (os.chmod(f, 0o755), (f / "notes.txt").write_text("x")), "unexpected file"),
])
def test_a_version_edited_after_archiving_is_named_and_never_loaded(
        session: Session, model_path: Path, damage, expected) -> None:  # type: ignore[no-untyped-def]
    good = make_version(session, model_path, seed=1)
    bad = make_version(session, model_path, seed=2)
    activate(session, bad)
    damage(versions.version_dir(session.home, bad.id))
    checks = {c.version_id: c for c in archive.verify_all(session.store)}
    assert checks[good.id].ok
    assert not checks[bad.id].ok and expected in checks[bad.id].message
    assert bad.short in checks[bad.id].message
    with pytest.raises(CorruptVersionError, match=bad.short):
        archive.adapter_refs(session.store, session.assistant())
    with pytest.raises(CorruptVersionError, match="not loaded"):
        load_engine(session, session.assistant(), n_ctx=256)
    # and it cannot be made active again while damaged
    versions.retire(session.store, bad.id, _grant_retire(session, bad))
    with pytest.raises(KindredError, match="damaged"):
        activate(session, bad)
    assert session.assistant().active_version is None


def _grant_retire(session: Session, version: versions.Version):  # type: ignore[no-untyped-def]
    from support.archive_helpers import grant

    return grant(session, "retire", version)


def test_leftovers_of_a_killed_writer_are_cleaned_at_next_start(
        session: Session, model_path: Path) -> None:
    version = make_version(session, model_path)
    home = session.home
    # a scratch folder whose owner died (no lock held), a stale foreign temp folder, and a
    # deleted version whose folder removal was interrupted
    dead = home.tmp / "version-999999-0123456789ab"
    dead.mkdir()
    (dead / "adapter.gguf").write_bytes(b"partial")
    (home.tmp / "version-999999-0123456789ab.lock").write_text("")
    session.store.db.execute("UPDATE versions SET status = 'deleted' WHERE id = ?", [version.id])
    orphan = make_version(session, model_path, seed=9)
    session.store.db.execute("DELETE FROM versions WHERE id = ?", [orphan.id])
    session.close()
    again = open_session(home.root)
    try:
        assert list(home.tmp.iterdir()) == []
        assert not versions.version_dir(home, version.id).exists()
        assert not versions.version_dir(home, orphan.id).exists()
        assert (home.archive / "orphans" / orphan.id / "manifest.json").exists()
    finally:
        again.close()


def test_a_live_scratch_folder_is_left_alone(session: Session) -> None:
    from kindred.core.home.atomic import clean_leftovers

    with scratch(session.home, "version") as work:
        (work / "x").write_bytes(b"in progress")
        assert clean_leftovers(session.home) == []
        assert (work / "x").exists()
    assert list(session.home.tmp.iterdir()) == []


def test_a_locked_database_is_a_clear_error_and_nothing_changes(
        session: Session, model_path: Path) -> None:
    make_version(session, model_path)
    before = home_state(session)
    other = sqlite3.connect(session.home.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    session.store.db.execute("PRAGMA busy_timeout = 100")
    try:
        with pytest.raises(DatabaseLockedError, match=r"locked by another program.*Nothing"):
            make_version(session, model_path, seed=3)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert home_state(session) == before
