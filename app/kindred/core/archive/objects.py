"""The permanent adapter archive: content-addressed, immutable, verifiable versions.

A version is a folder `archive/objects/ab/<id>/` holding the PEFT files training produced
(`adapter_model.safetensors`, `adapter_config.json`), the llama.cpp `adapter.gguf` made from
them, and `manifest.json`: the base model's sha256, parent, source, dataset, training config,
metrics, created_at and the sha256 of every file. The manifest is stored in canonical JSON and
the version id *is* its sha256, so one hash pins everything.

A version is built in a locked scratch folder under `home.tmp`, synced, made read-only and renamed
into place inside the transaction that inserts its row, so it appears only complete. `verify`
recomputes every hash; a damaged version is named and never handed to the engine.

For the training engineer: call `archive_peft_folder(store, assistant, folder, source="trained",
parent=..., dataset=..., metrics=..., training=...)` with the folder PEFT's `save_pretrained`
wrote (safetensors), or `archive_peft` with the tensors (numpy) and config dict.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from kindred.core.archive.catalog import (
    FILES,
    FORMAT,
    GGUF,
    MANIFEST,
    SOURCES,
    CorruptVersionError,
    Version,
    VersionCheck,
    check_folder,
    get_version,
    manifest_bytes,
    peft_folder,
    verified_path,
    verify_all,
    verify_version,
    version_dir,
)
from kindred.core.archive.derived import drop_derived, keep_derived, write_weights
from kindred.core.archive.recovery import forget_orphans, recover
from kindred.core.basics.errors import KindredError
from kindred.core.basics.hashing import sha256_bytes, sha256_file
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.engine.llama import AdapterRef
from kindred.core.formats.adapters_check import check_adapter_fits
from kindred.core.formats.gguf_info import GGUFInfo, read_gguf
from kindred.core.formats.lora_gguf import peft_to_gguf_tensors
from kindred.core.formats.peft_files import (
    CONFIG,
    SAFETENSORS,
    AdapterFileError,
    check_config,
    gguf_alpha,
    portable_config,
    read_config,
    read_safetensors,
    refuse_pickle,
    tensor_rank,
)
from kindred.core.home import ledger
from kindred.core.home.assistants import Assistant
from kindred.core.home.atomic import db_write, publish_dir, remove_tree, scratch, seal_dir
from kindred.core.home.atomic import write_atomic as _write_atomic
from kindred.core.home.models import Model, get_model
from kindred.core.home.store import Store, now

# re-exported: session start runs `recover`; callers verify and load through this module
__all__ = ["FILES", "FORMAT", "GGUF", "MANIFEST", "CorruptVersionError", "VersionCheck",
           "check_folder", "manifest_bytes", "peft_folder", "recover", "verified_path",
           "verify_all", "verify_version"]


P = ParamSpec("P")
R = TypeVar("R")


def says_nothing_changed(func: Callable[P, R]) -> Callable[P, R]:
    """Make every KindredError from `func` end by telling the user that nothing was changed
    (true by construction: archiving writes only to a scratch folder until its last step)."""
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except KindredError as exc:
            message = str(exc)
            if "nothing was changed" in message.lower():
                raise
            raise type(exc)(message.rstrip() + " Nothing was changed.") from exc
    return wrapper


def _plain(value: Any, what: str) -> Any:
    """JSON-safe copy of metrics/training info (numpy scalars become Python numbers)."""
    if value is None:
        return None
    try:
        return json.loads(json.dumps(value, allow_nan=False,
                                     default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    except (TypeError, ValueError) as exc:
        raise KindredError(f"The {what} cannot be recorded as JSON: {exc}.") from exc


def base_info(model: Model) -> GGUFInfo:
    return read_gguf(model.path)


def lora_info(name: str, gguf_tensors: Mapping[str, np.ndarray], architecture: str) -> GGUFInfo:
    """A GGUFInfo describing in-memory llama.cpp-named tensors, to reuse the fit check."""
    return GGUFInfo(path=Path(name),
                    metadata={"general.type": "adapter", "adapter.type": "lora",
                              "general.architecture": architecture},
                    tensors={k: tuple(reversed(v.shape)) for k, v in gguf_tensors.items()})


def to_gguf_tensors(tensors: Mapping[str, np.ndarray], base: GGUFInfo, name: str
                    ) -> dict[str, np.ndarray]:
    """PEFT tensors -> llama.cpp names, checked to fit `base` (module names and shapes)."""
    # Names and shapes first (no row permutation), so a misfit gets the fit check's message.
    renamed = peft_to_gguf_tensors(tensors, architecture="", n_head=1, n_head_kv=1)
    check_adapter_fits(lora_info(name, renamed, base.architecture), base)
    return peft_to_gguf_tensors(
        tensors, architecture=base.architecture,
        n_head=base.arch_int("attention.head_count") or 1,
        n_head_kv=base.arch_int("attention.head_count_kv")
        or base.arch_int("attention.head_count") or 1)


@says_nothing_changed
def archive_peft(store: Store, assistant: Assistant, tensors: Mapping[str, np.ndarray],
                 config: Mapping[str, Any], *, source: str = "trained",
                 parent: str | None = None, dataset: str | None = None,
                 metrics: Mapping[str, Any] | None = None,
                 training: Mapping[str, Any] | None = None, status: str = "candidate",
                 name: str = "adapter", imported: Mapping[str, Any] | None = None,
                 model: Model | None = None, migrated: Mapping[str, Any] | None = None
                 ) -> Version:
    """Archive a LoRA adapter (PEFT-named float tensors + its PEFT config) as a new version.

    Checks it against the assistant's base model (module names, shapes) first; writes the
    PEFT files, the llama.cpp GGUF and the manifest; the version appears only complete. Raises a
    KindredError, with nothing changed, if anything does not fit. `imported` (where an outside
    adapter came from) adds an `imported` ledger event in the same transaction. `model`: the
    base it was made for when not the assistant's (a migration, whose `migrated` payload (from
    version/base, to base) becomes a `migrated` ledger event in the same transaction).
    """
    if source not in SOURCES:
        raise KindredError(f"Unknown version source '{source}'.")
    if status not in (VersionStatus.CANDIDATE, VersionStatus.TRIAL):
        raise KindredError("A new version starts as a candidate (or on trial), never active.")
    config = check_config(dict(config), f"{name}'s config")
    model = model or get_model(store, assistant.model_id)
    base = base_info(model)
    to_gguf_tensors(tensors, base, name)  # refuses, with the fit check's words, what misfits
    heads = (base.arch_int("attention.head_count") or 1,
             base.arch_int("attention.head_count_kv") or base.arch_int("attention.head_count")
             or 1)
    rank = tensor_rank(tensors)
    if rank != int(config["r"]):
        raise AdapterFileError(f"{name}: its config says rank {config['r']}, its tensors have "
                               f"rank {rank}. Nothing was changed.")
    if parent is not None:
        parent = get_version(store, parent).id
    manifest_extra = {"metrics": _plain(metrics, "metrics"),
                      "training": _plain(training, "training config")}
    home = store.home
    with scratch(home, "version") as work:
        weights = write_weights(work, tensors, architecture=base.architecture,
                                n_head=heads[0], n_head_kv=heads[1], alpha=gguf_alpha(config),
                                metadata={"kindred.base_sha256": model.sha256})
        check_adapter_fits(read_gguf(work / GGUF), base)  # the derived GGUF, as llama.cpp sees it
        (work / CONFIG).write_bytes(json.dumps(portable_config(config, model.name), indent=2,
                                               sort_keys=True).encode())
        files = {f: sha256_file(work / f) for f in FILES}
        manifest = {
            "format": FORMAT, "base": {"sha256": model.sha256, "name": model.name,
                                       "architecture": base.architecture},
            "parent": parent, "source": source, "dataset": dataset,
            "lora": {"rank": rank, "alpha": float(config["lora_alpha"]),
                     "tensors": len(tensors)},
            "created_at": now(), "files": files, **weights, **manifest_extra,
        }
        data = manifest_bytes(manifest)
        version_id = VersionId(sha256_bytes(data))
        (work / MANIFEST).write_bytes(data)
        keep_derived(home, version_id, work / GGUF)
        seal_dir(work)
        size = sum((work / f).stat().st_size for f in (*FILES, MANIFEST))
        row = {"id": version_id, "assistant_id": assistant.id, "parent": parent,
               "status": status, "source": source, "base_sha256": model.sha256,
               "dataset": dataset, "manifest": data.decode(), "size_bytes": size,
               "created_at": manifest["created_at"], "status_at": manifest["created_at"]}
        event = {"version": version_id, "source": source, "parent": parent,
                 "base_sha256": model.sha256, "dataset": dataset, "files": files}
        events: list[tuple[str, dict[str, Any], AssistantId | None]] = [
            (ledger.VERSION_ARCHIVED, event, assistant.id)]
        if imported is not None:
            events.append((ledger.IMPORTED, {"what": "adapter", "version": version_id,
                                             **imported}, assistant.id))
        if migrated is not None:
            events.append((ledger.MIGRATED, {**migrated, "version": version_id,
                                             "base_sha256": model.sha256}, assistant.id))
        try:
            publish(store, [(work, row)], events)
        except BaseException:
            drop_derived(home, version_id)  # nothing changed: not even the cache
            raise
    return get_version(store, version_id)


def publish(store: Store, staged: list[tuple[Path, dict[str, Any]]],
            events: list[tuple[str, dict[str, Any], AssistantId | None]]) -> None:
    """Insert version rows and ledger events and rename sealed folders into the archive, all in
    one transaction; on any failure the renamed folders are taken back out."""
    placed: list[Path] = []
    try:
        with db_write(store) as db:
            for _, row in staged:
                final = version_dir(store.home, row["id"])
                if final.exists() or db.execute("SELECT 1 FROM versions WHERE id = ?",
                                                [row["id"]]).fetchone():
                    raise KindredError(f"Version {row['id'][:12]} is already archived. "
                                       "Nothing was changed.")
                db.table("versions").insert(row)
            for kind, payload, assistant_id in events:
                ledger.append(store, kind, payload, assistant_id=assistant_id)
            for folder, row in staged:
                final = version_dir(store.home, row["id"])
                publish_dir(folder, final)
                placed.append(final)
    except BaseException:
        for final in placed:
            remove_tree(final)
        raise
    forget_orphans(store, [row["id"] for _, row in staged])


@says_nothing_changed
def archive_peft_folder(store: Store, assistant: Assistant, folder: str | Path, *,
                        source: str = "trained", parent: str | None = None,
                        dataset: str | None = None, metrics: Mapping[str, Any] | None = None,
                        training: Mapping[str, Any] | None = None, model: Model | None = None,
                        migrated: Mapping[str, Any] | None = None) -> Version:
    """Archive the folder PEFT's `save_pretrained` wrote (safetensors only; pickles refused)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AdapterFileError(f"{folder} is not a folder. Nothing was changed.")
    weights = folder / SAFETENSORS
    if not weights.is_file():
        pickles = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".bin", ".pt"))
        if pickles:
            refuse_pickle(pickles[0])
        raise AdapterFileError(f"{folder.name} has no {SAFETENSORS}. Nothing was changed.")
    config = read_config(folder / CONFIG)
    tensors = read_safetensors(weights)
    return archive_peft(store, assistant, tensors, config, source=source, parent=parent,
                        dataset=dataset, metrics=metrics, training=training, name=folder.name,
                        model=model, migrated=migrated)


# -- verification and loading ---------------------------------------------------------------


def adapter_refs(store: Store, assistant: Assistant) -> list[AdapterRef]:
    """The adapters the assistant talks through, verified first: an open rollout's blend
    (outgoing at 1−t, incoming at t), else its active version alone (`assistant_state`)."""
    from kindred.core.archive import assistant_state

    return [AdapterRef(key, verified_path(store, key), scale)
            for key, scale in assistant_state.speaks_through(store, assistant.id)]


# -- datasets -----------------------------------------------------------------------------


def dataset_path(store_or_home: Any, dataset_id: str) -> Path:
    """`archive/datasets/ab/<sha256>`: one immutable file per learning-data snapshot."""
    home = getattr(store_or_home, "home", store_or_home)
    return Path(home.datasets) / dataset_id[:2] / dataset_id


def put_dataset(store: Store, data: bytes) -> str:
    """Keep a snapshot of learning data (any bytes, e.g. JSONL); returns its id (sha256)."""
    digest = sha256_bytes(data)
    path = dataset_path(store, digest)
    if not path.exists():
        _write_atomic(path, data, mode=0o444)
    return digest
