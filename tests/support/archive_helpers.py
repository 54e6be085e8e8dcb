"""Helpers for archive tests: real PEFT folders and versions that fit the embedded model."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from kindred.core.archive import assistant_state, versions
from kindred.core.archive import objects as archive
from kindred.core.archive.versions import Version
from kindred.core.home import consent
from kindred.core.session import Session
from support.lora import peft_tensors

LAYERS_SMALL = (0,)


def lora_config(rank: int = 4, alpha: float | None = None, **extra: Any) -> dict[str, Any]:
    return {"peft_type": "LORA", "r": rank, "lora_alpha": alpha or 2 * rank,
            "target_modules": ["q_proj", "v_proj", "down_proj"], "task_type": "CAUSAL_LM",
            "bias": "none", "lora_dropout": 0.0, **extra}


def write_peft_folder(model_path: Path, folder: Path, *, rank: int = 4, seed: int = 0,
                      layers: tuple[int, ...] = LAYERS_SMALL, magnitude: float = 0.05,
                      config: dict[str, Any] | None = None) -> Path:
    """A folder as PEFT's save_pretrained writes it (safetensors + adapter_config.json)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = peft_tensors(model_path, rank=rank, layers=layers, seed=seed, magnitude=magnitude)
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(config or lora_config(rank)))
    return folder


def make_version(session: Session, model_path: Path, *, seed: int = 0, rank: int = 4,
                 parent: str | None = None, layers: tuple[int, ...] = LAYERS_SMALL,
                 magnitude: float = 0.05, assistant: Any = None) -> Version:
    assistant = assistant or session.assistant()
    tensors = peft_tensors(model_path, rank=rank, layers=layers, seed=seed, magnitude=magnitude)
    return archive.archive_peft(session.store, assistant, tensors, lora_config(rank),
                                parent=parent, metrics={"loss": 1.0 + seed},
                                training={"steps": 3, "seed": seed})


def grant(session: Session, kind: str, version: Version, via: str = "gui") -> consent.Decision:
    """A granted consent asked against the assistant's state now (as every real request is)."""
    state = assistant_state.fingerprint(session.store, version.assistant_id, version.id)
    req = consent.request(session.store, kind, version.assistant_id, version.id,
                          f"{kind} {version.short}", {"state": state})
    return consent.decide(session.store, req.id, granted=True, via=via)


def activate(session: Session, version: Version) -> Version:
    kind = versions.consent_kind_for(session.store, version)
    return versions.activate(session.store, version.id, grant(session, kind, version))


def tree_digest(root: Path) -> str:
    """One hash over every path, type, mode and file content under `root` (to prove that a
    failed operation changed nothing). The SQLite WAL/shm files are excluded: reading the
    database may checkpoint or touch them without changing any data; the data is compared
    through `db_dump` instead."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files) + [d + "/" for d in dirs]:
            path = Path(folder) / name.rstrip("/")
            rel = path.relative_to(root).as_posix()
            if rel.startswith("kindred.db"):
                continue
            st = path.lstat()
            digest.update(f"{rel}|{st.st_mode:o}|".encode())
            if path.is_file() and not path.is_symlink():
                digest.update(path.read_bytes())
    return digest.hexdigest()


def db_dump(session: Session) -> list[str]:
    return list(session.store.db.conn.iterdump())


def home_state(session: Session) -> tuple[str, list[str]]:
    return tree_digest(session.home.root), db_dump(session)


def bundle_members(bundle: Path) -> dict[str, bytes]:
    """Every member of a bundle (a tar file) by name, read whole: to inspect or forge one."""
    import tarfile

    with tarfile.open(bundle) as tar:
        out = {}
        for m in tar.getmembers():
            handle = tar.extractfile(m)
            assert handle is not None
            out[m.name] = handle.read()
        return out


def pack_bundle(path: Path, members: dict[str, bytes]) -> Path:
    """Write `members` as a bundle at `path`, bundle.json re-listing their hashes and sizes
    (a forger who recomputes them: only the content checks can notice)."""
    import io
    import tarfile

    from kindred.core.basics.hashing import sha256_bytes

    header = json.loads(members["bundle.json"])
    header["files"] = {n: {"sha256": sha256_bytes(d), "size": len(d)}
                       for n, d in members.items() if n != "bundle.json"}
    members = {**members, "bundle.json": json.dumps(header).encode()}
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def phasing_in(session: Session, model_path: Path, *, steps: int = 2,
               every_answers: int = 1000) -> tuple[Version, Version]:
    """Version 1 active, Version 2 (its child) being phased in at step 1, with the person's
    consent through the one dispatcher, as the window and the CLI do it."""
    from kindred.core.upgrades import decisions, rollout

    store = session.store
    a = activate(session, make_version(session, model_path, seed=1))
    b = make_version(session, model_path, seed=2, parent=a.id)
    kind, summary, evidence = rollout.describe_start(store, b, rollout.Plan(steps,
                                                                            every_answers))
    request = consent.request(store, kind, a.assistant_id, b.id, summary, evidence)
    assert decisions.answer(store, request.id, granted=True, via="gui").speaks_changed
    return a, b


def moved(session: Session, model_path: Path, sibling_path: Path) -> tuple[Version, Version]:
    """Version 1 active on the built-in base, and a version a move made from it on the
    sibling base (registered here), waiting with its migration card."""
    from kindred.core.home.models import add_model
    from kindred.core.upgrades import migration

    store, assistant = session.store, session.assistant()
    sibling = add_model(store, sibling_path)
    old = activate(session, make_version(session, model_path, seed=1))
    new = archive.archive_peft(store, assistant, peft_tensors(sibling_path, layers=(0,)),
                               lora_config(), source="migrated", parent=old.id, model=sibling)
    migration.store_card(store, new.id, {
        "summary": ["Style kept."], "from": {"version": old.id}, "to": {"version": new.id},
        "samples": [{"prompt": "Hi", "old": "Ahoy!", "new": "Ahoy there!"}]})
    return old, new
