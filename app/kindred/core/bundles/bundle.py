"""Export an assistant with its whole history to one file, and bring it back.

`export_bundle` writes one uncompressed tar (see `bundle_check` for the layout): the assistant,
every version (tombstones included), the weights of the kept ones, their learning-data snapshots,
the conversations and the assistant's ledger events (one chain to the ledger's head, see
`bundle_ledger`). `import_bundle` validates all of it first (`bundle_check.check_bundle`), then
writes everything in one transaction: a malformed bundle leaves the data home exactly as it was.
An export is a backup that must restore: `export_bundle` runs the same checks on the file it
wrote before it reports it written, and an export that would not import is an error then.

On import the formerly active version comes back `retired`: what the new assistant talks through
is the user's decision, so the caller asks for a `restore` consent (`ImportResult.was_active`).

A bundle whose versions are here already (exported from this home, or imported before) is
refused (`AlreadyHereError`), unless it is imported `as_copy`: then it becomes a new assistant,
"NAME (copy)", whose versions get new ids that record where they were copied from
(`bundles.copies`); the original and its versions are untouched.
"""

from __future__ import annotations

import glob
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kindred.core.archive.objects import dataset_path as _dataset_path
from kindred.core.archive.objects import verify_version
from kindred.core.archive.recovery import forget_orphans
from kindred.core.archive.versions import Version, get_version, list_versions, version_dir
from kindred.core.basics.errors import KindredError, disk_full, is_disk_full
from kindred.core.basics.hashing import sha256_bytes, sha256_file
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.sampling import Sampling
from kindred.core.basics.states import VersionStatus
from kindred.core.bundles.check import (
    FORMAT,
    HEADER,
    AlreadyHereError,
    BundleError,
    CheckedBundle,
    Limits,
    check_bundle,
    fail,
)
from kindred.core.bundles.copies import Copy, reidentify
from kindred.core.bundles.feedback import export_feedback, import_feedback
from kindred.core.bundles.ledger import export_events
from kindred.core.bundles.records import export_records, import_records
from kindred.core.home import ledger
from kindred.core.home.assistants import Assistant, clean_name, get_assistant
from kindred.core.home.atomic import (
    db_write,
    fsync_dir,
    publish_dir,
    remove_tree,
    scratch,
    seal_dir,
)
from kindred.core.home.models import get_model
from kindred.core.home.store import Store, insert, now

__all__ = ["AlreadyHereError", "BundleError", "ExportResult", "ImportResult", "Limits",
           "export_bundle", "import_bundle"]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    sha256: str
    size_bytes: int
    versions: int


@dataclass(frozen=True)
class ImportResult:
    assistant: Assistant
    versions: list[Version]
    was_active: str | None
    bundle_sha256: str
    conversations: int = 0
    events: int = 0
    datasets: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    """Versions made for a base model not among this home's models: archived like the others,
    usable once that model file is added (see `model_removal.usable_again`)."""
    copied_from: dict[str, str] = field(default_factory=dict)
    """Imported as a copy: each version's new id -> the id it was copied from."""
    copy_of: str | None = None
    """Imported as a copy: the name of the assistant the bundle holds."""


def _assistant_json(store: Store, assistant: Assistant) -> dict[str, Any]:
    model = get_model(store, assistant.model_id)
    return {"name": assistant.name, "persona": assistant.persona,
            "sampling": asdict(assistant.sampling), "model_sha256": model.sha256,
            "model_name": model.name, "active_version": assistant.active_version,
            "created_at": assistant.created_at}


def _version_json(version: Version) -> dict[str, Any]:
    return {"id": version.id, "status": version.status, "parent": version.parent,
            "source": version.source, "base_sha256": version.base_sha256,
            "dataset": version.dataset, "created_at": version.created_at,
            "status_at": version.status_at, "size_bytes": version.size_bytes,
            "manifest": version.manifest}


def _conversations_json(store: Store, assistant_id: AssistantId) -> list[dict[str, Any]]:
    out = []
    for conv in store.db.query("SELECT * FROM conversations WHERE assistant_id = ? ORDER BY id",
                               [assistant_id]):
        rows = list(store.db.query("SELECT * FROM messages WHERE conversation_id = ? "
                                   "ORDER BY id", [conv["id"]]))
        position = {m["id"]: i for i, m in enumerate(rows)}
        messages = [{"role": m["role"], "content": m["content"], "created_at": m["created_at"],
                     "adapters": json.loads(m["adapters"]), "tokens_in": m["tokens_in"],
                     "tokens_out": m["tokens_out"], "ttft_s": m["ttft_s"], "tok_s": m["tok_s"],
                     "finish_reason": m["finish_reason"],
                     # an answer Regenerate replaced: the position of the one that replaced it
                     "replaced_by": position.get(m["replaced_by"])}
                    for m in rows]
        out.append({"title": conv["title"], "created_at": conv["created_at"],
                    "updated_at": conv["updated_at"], "messages": messages})
    return out


def export_bundle(store: Store, assistant: Assistant, path: str | Path) -> ExportResult:
    """Write the assistant and its whole history to `path` (atomically: all or nothing)."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise KindredError(f"{path} is a folder; give a file name for the bundle.")
    if not path.parent.is_dir():
        raise KindredError(f"The folder {path.parent} does not exist; create it or choose "
                           "another place. Nothing was written.")
    for version in list_versions(store, assistant.id):  # (the check after writing sees all)
        check = verify_version(store, version.id)
        if not check.ok:
            raise KindredError(check.message + " Export refused; nothing was written.")
    with _snapshot(store):  # one consistent read: a change meanwhile is in it or not at all
        assistant = get_assistant(store, assistant.id)  # as it is now, not as the caller saw it
        kept = list_versions(store, assistant.id)
        events, head = export_events(store, assistant.id)
        texts = {
            "versions.json": [_version_json(v) for v in kept],
            "conversations.json": _conversations_json(store, assistant.id),
            "ledger.json": events,
            "feedback.json": export_feedback(store, assistant.id),
        }
        records, record_files = export_records(store, [v.id for v in kept])
        if records:
            texts["retirement.json"] = records
        members: dict[str, bytes | Path] = {k: json.dumps(v, ensure_ascii=False).encode()
                                            for k, v in texts.items()}
        for version in kept:
            if version.status != VersionStatus.DELETED:
                for name in (*version.files, "manifest.json"):  # format 2 has no adapter.gguf
                    members[f"objects/{version.id}/{name}"] = version_dir(store.home,
                                                                          version.id) / name
            data = _dataset_path(store, version.dataset) if version.dataset else None
            if data is not None and data.is_file():
                members[f"datasets/{version.dataset}"] = data
        members.update(record_files)  # interviews and reports, content addressed
        files = {name: {"sha256": sha256_bytes(v) if isinstance(v, bytes) else sha256_file(v),
                        "size": len(v) if isinstance(v, bytes) else v.stat().st_size}
                 for name, v in members.items()}
        header = json.dumps({"format": FORMAT, "created_at": now(),
                             "assistant": _assistant_json(store, assistant), "ledger_head": head,
                             "files": files}, ensure_ascii=False, indent=1).encode()
    _remove_stale_partials(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, HEADER, header)
            for name, value in members.items():
                _add(tar, name, value)
        with partial.open("rb") as handle:
            os.fsync(handle.fileno())
        _check_export(store, partial)
        os.replace(partial, path)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise disk_full(path.parent) from exc
        raise
    fsync_dir(path.parent)
    digest = sha256_file(path)
    with db_write(store):
        ledger.append(store, ledger.EXPORTED,
                      {"file": path.name, "sha256": digest, "versions": len(kept),
                       "bundle": sha256_bytes(header)}, assistant_id=assistant.id)
    return ExportResult(path, digest, path.stat().st_size, len(kept))


@contextmanager
def _snapshot(store: Store) -> Iterator[None]:
    """A read transaction (WAL: a fixed snapshot of the database while it lasts)."""
    conn = store.db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def _check_export(store: Store, written: Path) -> None:
    """An export is a backup that must restore: it is checked by the import's own code (every
    check but "already in this home") before it is reported written."""
    try:
        with scratch(store.home, "bundle") as staging:
            check_bundle(store, written, staging, Limits(), own=True)
    except BundleError as exc:
        problem = str(exc).removesuffix(" Nothing was changed.")
        raise KindredError(f"The export would not import ({problem}); nothing was written. "
                           "Please report this: it is a fault in Kindred.") from exc


def _remove_stale_partials(path: Path) -> None:
    """What an export killed midway left beside `path` (its process is gone): removed."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        pid = stale.name[len(path.name) + 2:-len(".partial")]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            stale.unlink(missing_ok=True)
        except OSError:
            pass


def _add(tar: tarfile.TarFile, name: str, value: bytes | Path) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime = 0o644, int(now())
    if isinstance(value, bytes):
        info.size = len(value)
        tar.addfile(info, io.BytesIO(value))
    else:
        info.size = value.stat().st_size
        with value.open("rb") as handle:
            tar.addfile(info, handle)


def import_bundle(store: Store, path: str | Path, *, name: str | None = None,
                  limits: Limits | None = None, as_copy: bool = False) -> ImportResult:
    """Validate the bundle fully, then restore its assistant with its whole history.

    The assistant keeps its name unless taken here (then "NAME (imported)"); `name` overrides.
    Raises BundleError (nothing changed) for anything malformed, unsafe, or clashing with this
    data home (an explicit `name` already taken; AlreadyHereError: versions already present).
    `as_copy`: a new assistant, "NAME (copy)" unless `name` is given, whose versions and every
    record naming them get new ids (`bundles.copies`), so versions already here do not clash.
    """
    path = Path(path).expanduser()
    with scratch(store.home, "bundle") as staging:
        checked = check_bundle(store, path, staging, limits or Limits(), copy=as_copy)
        info = checked.header["assistant"]
        new_name = _free_name(store, info["name"], name, "copy" if as_copy else "imported")
        copy = None
        if as_copy:
            checked, copy = reidentify(checked, now(), str(info["name"]), path.name)
            for version_id in copy.versions:
                if store.db.execute("SELECT 1 FROM versions WHERE id = ?",
                                    [version_id]).fetchone():
                    raise fail(f"Version {version_id[:12]} of the copy is here already; "
                               "try again.")
        try:
            sampling = Sampling(**info.get("sampling", {})).validated()
        except TypeError as exc:
            raise fail(f"The bundle's sampling settings are malformed ({exc}).") from exc
        except KindredError as exc:
            raise fail(str(exc)) from exc
        for entry in checked.versions:
            if entry["status"] != VersionStatus.DELETED:
                seal_dir(staging / "objects" / entry["id"])
        return _write(store, checked, new_name, str(info.get("persona", "")), sampling, copy)


def _taken(store: Store, name: str) -> bool:
    return bool(store.db.execute("SELECT 1 FROM assistants WHERE name = ?", [name]).fetchone())


def _free_name(store: Store, original: str, wanted: str | None, mark: str) -> str:
    """The name asked for (which must be free), else the bundle's (a copy: "NAME (copy)"),
    else "NAME (MARK N)" (`mark`: imported, copy)."""
    if wanted is not None:
        try:
            wanted = clean_name(wanted)
        except KindredError as exc:
            raise fail(str(exc).removesuffix(" Nothing was changed.")) from exc
        if _taken(store, wanted):
            raise fail(f"There is already an assistant named '{wanted}'; choose another name.")
        return wanted
    original = original.strip() or "Imported assistant"
    if mark == "copy":  # a copy of "Ada (copy)" is "Ada (copy 2)", not "Ada (copy) (copy)"
        original = re.sub(r" \(copy(?: \d+)?\)$", "", original) or original
    candidates = [original] if mark == "imported" else []
    candidates += [f"{original} ({mark})", *(f"{original} ({mark} {n})" for n in range(2, 1000))]
    return next(c for c in candidates if not _taken(store, c))


def _write(store: Store, checked: CheckedBundle, name: str, persona: str,
           sampling: Sampling, copy: Copy | None = None) -> ImportResult:
    """Everything of a checked bundle in one transaction (`copy`: what a copy changed)."""
    info = checked.header["assistant"]
    model_id = store.db.execute("SELECT id FROM models WHERE sha256 = ?",
                                [info["model_sha256"]]).fetchone()[0]
    placed: list[Path] = []
    was_active: str | None = None
    try:
        with db_write(store) as db:
            assistant_id = AssistantId(insert(db, "assistants", {
                "name": name, "persona": persona, "model_id": model_id,
                "created_at": float(info.get("created_at") or now()), **asdict(sampling)}))
            for entry in checked.versions:
                status = entry["status"]
                if status == VersionStatus.ACTIVE:
                    was_active, status = entry["id"], VersionStatus.RETIRED
                elif status == VersionStatus.TRIAL:  # its rollout stays behind: undecided
                    status = VersionStatus.CANDIDATE
                db.table("versions").insert({
                    "id": entry["id"], "assistant_id": assistant_id, "parent": entry["parent"],
                    "status": status, "source": entry["source"],
                    "base_sha256": entry["base_sha256"], "dataset": entry.get("dataset"),
                    "manifest": json.dumps(entry["manifest"]),
                    "size_bytes": int(entry.get("size_bytes") or 0),
                    "created_at": float(entry["created_at"]),
                    "status_at": float(entry.get("status_at") or entry["created_at"])})
            message_ids: list[list[int]] = []
            for conv in checked.conversations:
                message_ids.append([])
                conv_id = insert(db, "conversations", {
                    "assistant_id": assistant_id, "title": conv["title"],
                    "created_at": float(conv.get("created_at") or now()),
                    "updated_at": float(conv.get("updated_at") or now())})
                for m in conv["messages"]:
                    message_ids[-1].append(insert(db, "messages", {
                        "conversation_id": conv_id, "role": m["role"], "content": m["content"],
                        "created_at": float(m.get("created_at") or now()),
                        "adapters": json.dumps(m.get("adapters", [])),
                        **{k: m.get(k) for k in ("tokens_in", "tokens_out", "ttft_s", "tok_s",
                                                 "finish_reason")}}))
                for m, own_id in zip(conv["messages"], message_ids[-1], strict=True):
                    if m.get("replaced_by") is not None:
                        db.execute("UPDATE messages SET replaced_by = ? WHERE id = ?",
                                   [message_ids[-1][m["replaced_by"]], own_id])
            import_feedback(db, assistant_id, checked.feedback, message_ids)
            for event in checked.events:  # the assistant's own (the chain's links are not)
                payload = dict(json.loads(event["payload"]))
                earlier = payload.get("origin")  # it came into the exporting home by a bundle
                payload["origin"] = {"seq": event["seq"], "hash": event["hash"],
                                     "bundle": checked.digest,
                                     **({"copied": True} if copy else {}),
                                     **({"from": earlier} if earlier else {})}
                ledger.append(store, str(event["kind"]), payload, assistant_id,
                              at=float(event["at"]))
            ledger.append(store, ledger.IMPORTED,
                          {"what": "bundle", "bundle": checked.digest, "name": name,
                           "versions": [v["id"] for v in checked.versions],
                           "events": len(checked.events),
                           **(copy.payload(name) if copy else {})},
                          assistant_id)
            if was_active:
                ledger.append(store, ledger.RETIRED,
                              {"version": was_active, "was": "active", "active": None,
                               "previous": was_active, "reason": ledger.SET_ASIDE_BY_IMPORT},
                              assistant_id)
            placed += import_records(db, store, checked.staging, checked.records)
            for data_id in checked.datasets:
                target = _dataset_path(store, data_id)
                if not target.exists():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.chmod(checked.staging / "datasets" / data_id, 0o444)
                    os.rename(checked.staging / "datasets" / data_id, target)
                    placed.append(target)
            for entry in checked.versions:
                if entry["status"] != VersionStatus.DELETED:
                    final = version_dir(store.home, entry["id"])
                    publish_dir(checked.staging / "objects" / entry["id"], final)
                    placed.append(final)
    except BaseException:
        for target in placed:
            remove_tree(target)
        raise
    forget_orphans(store, [v["id"] for v in checked.versions])
    return ImportResult(get_assistant(store, assistant_id),
                        [get_version(store, v["id"]) for v in checked.versions], was_active,
                        checked.digest, len(checked.conversations), len(checked.events),
                        list(checked.datasets), list(checked.waiting),
                        dict(copy.versions) if copy else {}, copy.original if copy else None)
