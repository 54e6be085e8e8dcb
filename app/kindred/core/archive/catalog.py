"""The catalog of archived versions: their rows, names, folders and verification.

Everything that reads what the archive holds, without changing it; `objects` (publishing) and
`versions` (consent-gated status changes) both build on it, so neither needs the other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kindred.core.archive.derived import GGUF, derived_gguf, disk_usage, folder_bytes
from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.hashing import sha256_bytes, sha256_file
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.formats.peft_files import CONFIG, SAFETENSORS
from kindred.core.home.atomic import fsync_dir, remove_tree
from kindred.core.home.paths import DataHome
from kindred.core.home.store import Store

MANIFEST = "manifest.json"
__all__ = ["GGUF"]  # defined with its derivation; re-exported for the archive's callers
# 1: fp32 weights stored twice (safetensors + adapter.gguf); still read, verified and exported.
# 2: fp16 weights stored once; the GGUF is derived and checked against its recorded sha256.
FORMAT_1 = "kindred-adapter-version/1"
FORMAT = "kindred-adapter-version/2"
FILES_1 = (SAFETENSORS, CONFIG, GGUF)
FILES = (SAFETENSORS, CONFIG)

STATUSES = ("candidate", "trial", "active", "refused", "retired", "deleted")
SOURCES = ("trained", "imported", "migrated")
MIN_PREFIX = 4


@dataclass(frozen=True)
class Version:
    """One archived adapter version (a tombstone once deleted)."""

    id: VersionId
    assistant_id: AssistantId
    parent: VersionId | None
    status: str
    source: str
    base_sha256: str
    dataset: str | None
    size_bytes: int
    created_at: float
    status_at: float
    manifest: dict[str, Any]

    @property
    def short(self) -> str:
        return self.id[:12]

    @property
    def files(self) -> dict[str, str]:
        """File name -> sha256, as recorded in the manifest (kept after deletion)."""
        return dict(self.manifest.get("files", {}))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.manifest.get("metrics") or {})

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Version:
        return cls(row["id"], AssistantId(row["assistant_id"]), row["parent"], row["status"],
                   row["source"], row["base_sha256"], row["dataset"], int(row["size_bytes"]),
                   float(row["created_at"]), float(row["status_at"]), json.loads(row["manifest"]))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "assistant_id": self.assistant_id, "status": self.status,
                "parent": self.parent, "created_at": self.created_at, "source": self.source,
                "status_at": self.status_at, "base_sha256": self.base_sha256,
                "dataset": self.dataset, "size_bytes": self.size_bytes, "files": self.files,
                "metrics": self.metrics, "training": self.manifest.get("training") or {}}


def version_dir(home: DataHome, version_id: VersionId) -> Path:
    """Where a version's files live: content addressed, `objects/ab/abcdef...`."""
    return home.objects / version_id[:2] / version_id


def get_version(store: Store, key: str, *, assistant_id: AssistantId | None = None) -> Version:
    """A version by full id or unique prefix (at least 4 characters)."""
    key = key.strip().lower()
    if len(key) < MIN_PREFIX or any(c not in "0123456789abcdef" for c in key):
        raise NotFoundError(f"'{key}' is not a version id (give at least {MIN_PREFIX} hex digits).")
    sql = "SELECT * FROM versions WHERE id LIKE ? || '%'"
    params: list[Any] = [key]
    if assistant_id is not None:
        sql += " AND assistant_id = ?"
        params.append(assistant_id)
    rows = list(store.db.query(sql + " LIMIT 6", params))
    if not rows:
        raise NotFoundError(f"No version '{key}'. See `kindred versions list`.")
    if len(rows) > 1:
        names = ", ".join(r["id"][:12] for r in rows[:5])
        raise NotFoundError(f"'{key}' matches several versions ({names}); give more digits.")
    return Version.from_row(rows[0])


def list_versions(store: Store, assistant_id: AssistantId | None = None) -> list[Version]:
    """Oldest first (creation order is lineage order)."""
    sql, params = "SELECT * FROM versions", []
    if assistant_id is not None:
        sql, params = sql + " WHERE assistant_id = ?", [assistant_id]
    return [Version.from_row(r) for r in store.db.query(sql + " ORDER BY created_at, id", params)]


def names(store: Store, assistant_id: AssistantId) -> dict[str, str]:
    """"Version N" per assistant, oldest first; deleted versions keep their number, so a
    name never moves to another version."""
    return numbered(list_versions(store, assistant_id))


def numbered(lineage: list[Version]) -> dict[str, str]:
    return {v.id: f"Version {i}" for i, v in enumerate(lineage, start=1)}


def name_of(store: Store, version: Version) -> str:
    return names(store, version.assistant_id).get(version.id, f"Version {version.short}")


def label_of(store: Store, version: Version) -> str:
    """Its name with its short id, as the command line says it: "Version 2 (ab12cd34ef56)"."""
    return f"{name_of(store, version)} ({version.short})"


def active_version(store: Store, assistant_id: AssistantId) -> Version | None:
    row = store.db.execute("SELECT active_version FROM assistants WHERE id = ?",
                           [assistant_id]).fetchone()
    if row is None:
        raise NotFoundError(f"No assistant {assistant_id}.")
    return get_version(store, row[0]) if row[0] else None


def remove_object(home: DataHome, version_id: VersionId) -> None:
    folder = version_dir(home, version_id)
    if folder.exists():
        # named like a scratch folder, so a crash here is cleaned at the next start
        doomed = home.tmp / f"deleted-{os.getpid()}-{version_id[:12]}"
        remove_tree(doomed)
        os.chmod(folder, 0o755)  # moving a folder to another parent needs write access to it
        folder.rename(doomed)
        fsync_dir(folder.parent)
        remove_tree(doomed)


class CorruptVersionError(KindredError):
    """A version's files no longer match their recorded hashes; it is never loaded."""


@dataclass(frozen=True)
class VersionCheck:
    """A version's own files checked; `base_missing` says (without making it damaged) that the
    base model it was made for cannot be used now."""

    version_id: VersionId
    problems: list[str] = field(default_factory=list)
    base_missing: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def message(self) -> str:
        if self.ok:
            base = f"; {self.base_missing}" if self.base_missing else ""
            return f"Version {self.version_id[:12]} verifies{base}."
        return f"Version {self.version_id[:12]} is damaged: " + "; ".join(self.problems) + "."

    def to_json(self) -> dict[str, Any]:
        return {"id": self.version_id, "ok": self.ok, "problems": self.problems,
                "base_missing": self.base_missing}


def missing_base(store: Store, version: Version) -> str | None:
    """Why the base model `version` was made for cannot be used now (not registered, or its
    file is gone), named by the manifest's name and the sha256; None when it can be used."""
    row = store.db.execute("SELECT name, path FROM models WHERE sha256 = ?",
                           [version.base_sha256]).fetchone()
    if row is None:
        name = (version.manifest.get("base") or {}).get("name") or "its base model"
        return (f"its base model {name} (sha256 {version.base_sha256[:12]}) is not among your "
                "models; add that file again (`kindred models add FILE`) to use it")
    if not Path(row[1]).is_file():
        return f"its base model {row[0]} is registered but its file {row[1]} is missing"
    return None


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """Canonical JSON (sorted keys, no spaces, no NaN): the bytes whose sha256 is the id."""
    try:
        return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise KindredError(f"The version's metadata cannot be recorded: {exc}.") from exc



def check_folder(folder: Path, version_id: VersionId) -> list[str]:
    """Every problem with a version folder: missing/extra/edited files, a manifest that is not
    the one the id names. Empty if it verifies."""
    if folder.is_symlink() or not folder.is_dir():
        return ["its folder is missing"]
    problems: list[str] = []
    present = {p.name for p in folder.iterdir()}
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file() or manifest_path.is_symlink():
        return ["manifest.json is missing"]
    data = manifest_path.read_bytes()
    if sha256_bytes(data) != version_id:
        return ["manifest.json was edited (its sha256 is not the version id)"]
    manifest = json.loads(data)
    files: dict[str, str] = manifest.get("files", {})
    for extra in sorted(present - set(files) - {MANIFEST}):
        problems.append(f"unexpected file {extra}")
    for name, digest in sorted(files.items()):
        path = folder / name
        if path.is_symlink() or not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name} does not match its recorded sha256")
    return problems


def verify_version(store: Store, version_id: VersionId) -> VersionCheck:
    """Recompute every hash of one version (a deleted version's tombstone always verifies)."""
    version = get_version(store, version_id)
    if version.status == VersionStatus.DELETED:
        return VersionCheck(version.id)
    problems = check_folder(version_dir(store.home, version.id), version.id)
    if sha256_bytes(manifest_bytes(version.manifest)) != version.id:
        problems.append("its database record does not match its manifest")
    return VersionCheck(version.id, problems, missing_base(store, version))


def verify_all(store: Store, assistant_id: AssistantId | None = None) -> list[VersionCheck]:
    return [verify_version(store, v.id) for v in list_versions(store, assistant_id)
            if v.status != VersionStatus.DELETED]


def verified_path(store: Store, version_id: VersionId, name: str = GGUF) -> Path:
    """A file of a version, after verifying the whole version; raises CorruptVersionError."""
    check = verify_version(store, version_id)
    version = get_version(store, version_id)
    if version.status == VersionStatus.DELETED:
        raise KindredError(f"Version {version.short} was deleted; its weights are gone.")
    if not check.ok:
        raise CorruptVersionError(check.message + " It was not loaded.")
    folder = version_dir(store.home, version.id)
    if name == GGUF and version.manifest.get("format") != FORMAT_1:
        return derived_gguf(store.home, version.id, folder, version.manifest["gguf"])
    return folder / name


def peft_folder(store: Store, version_id: VersionId) -> Path:
    """The verified, read-only PEFT folder of a version (e.g. to continue training from it)."""
    return verified_path(store, version_id, SAFETENSORS).parent


def archive_size(store: Store, assistant_id: AssistantId | None = None) -> dict[str, int]:
    """What keeping everything costs on disk: the kept versions' folders (one assistant's, or
    all), plus the home's learning data and rebuildable caches."""
    kept = [v for v in list_versions(store, assistant_id) if v.status != VersionStatus.DELETED]
    usage = disk_usage(store.home)
    return {"versions": len(kept),
            "versions_bytes": sum(folder_bytes(version_dir(store.home, v.id)) for v in kept),
            "datasets_bytes": usage["datasets"], "cache_bytes": usage["cache"]}


def describe_size(size: Mapping[str, int]) -> str:
    def mb(n: int) -> str:
        return f"{n / 1e6:.1f} MB"
    count = size["versions"]
    return (f"Archive on disk: {mb(size['versions_bytes'])} for {count} version"
            f"{'' if count == 1 else 's'} · learning data {mb(size['datasets_bytes'])} · "
            f"rebuildable cache {mb(size['cache_bytes'])}")
