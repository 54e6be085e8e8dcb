"""Recovery at start: finish or undo what a killed process left behind.

Removes abandoned scratch folders in `home.tmp` (see `atomic.clean_leftovers`), finishes
deletions interrupted between the database update and the folder removal, and sets aside (never
deletes) complete version folders whose database row was never committed: a crash between the
rename into the archive and the commit. Such a copy is dropped once its weights are archived
again (`forget_orphans`, `reclaim_orphans`: same adapter weights for the same base, whatever the
creation time in the manifest); `orphans` lists the others, for a person to see.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from kindred.core.archive.catalog import remove_object, version_dir
from kindred.core.basics.ids import VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.home.atomic import clean_leftovers, db_write, remove_tree
from kindred.core.home.store import DatabaseLockedError, Store


def orphan_dir(store: Store, version_id: VersionId) -> Path:
    """Where `recover` sets aside a complete folder whose row was never committed."""
    return store.home.archive / "orphans" / version_id


def forget_orphans(store: Store, version_ids: list[VersionId]) -> None:
    """A version now properly archived no longer needs the copy a crash left aside (the same
    id, or the same weights archived again under a newer creation time)."""
    for version_id in version_ids:
        remove_tree(orphan_dir(store, version_id))
    reclaim_orphans(store)


@dataclass(frozen=True)
class Orphan:
    id: str
    path: Path
    size_bytes: int
    weights_sha256: str | None
    base_sha256: str | None


def orphans(store: Store) -> list[Orphan]:
    """The folders set aside by `recover`, with what identifies their weights."""
    root = store.home.archive / "orphans"
    found: list[Orphan] = []
    if not root.is_dir():
        return found
    for folder in sorted(root.iterdir()):
        weights = base = None
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            weights = str(manifest["files"]["adapter_model.safetensors"])
            base = str(manifest["base"]["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        found.append(Orphan(folder.name, folder, size, weights, base))
    return found


def reclaim_orphans(store: Store) -> list[str]:
    """Remove the orphans whose weights an archived (not deleted) version holds for the same
    base: nothing is lost. Returns their ids; the others stay (see `orphans`)."""
    removed: list[str] = []
    for orphan in orphans(store):
        if orphan.weights_sha256 is None:
            continue
        kept = store.db.execute(
            "SELECT 1 FROM versions WHERE status != 'deleted' AND base_sha256 = ? AND "
            "json_extract(manifest, '$.files.\"adapter_model.safetensors\"') = ? LIMIT 1",
            [orphan.base_sha256, orphan.weights_sha256]).fetchone()
        if kept:
            remove_tree(orphan.path)
            removed.append(orphan.id)
    return removed


def object_ids(store: Store) -> list[str]:
    """The version folders present on disk (whatever the database says)."""
    out: list[str] = []
    if store.home.objects.is_dir():
        for prefix in sorted(store.home.objects.iterdir()):
            if prefix.is_dir() and len(prefix.name) == 2:
                out += [p.name for p in sorted(prefix.iterdir())]
    return out


def recover(store: Store) -> list[str]:
    """At start: remove abandoned scratch folders, finish interrupted deletions, and move
    folders no version row knows (a crash between rename and commit) to `archive/orphans`.
    Returns what was done, for the log."""
    done = [f"removed leftover {name}" for name in clean_leftovers(store.home)]
    statuses = dict(store.db.execute("SELECT id, status FROM versions").fetchall())
    suspects = [i for i in object_ids(store)
                if statuses.get(i, VersionStatus.DELETED) == VersionStatus.DELETED]
    done += [f"reclaimed orphan {i[:12]} (archived again)" for i in reclaim_orphans(store)]
    if not suspects:
        return done
    try:
        with db_write(store) as db:  # the write lock waits for any archive in progress
            statuses = dict(db.execute("SELECT id, status FROM versions").fetchall())
            for version_id in map(VersionId, suspects):
                folder = version_dir(store.home, version_id)
                if statuses.get(version_id) == VersionStatus.DELETED:
                    remove_object(store.home, version_id)
                    done.append(f"finished deleting {version_id[:12]}")
                elif version_id not in statuses and folder.exists():
                    target = orphan_dir(store, version_id)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    if target.exists():
                        remove_tree(folder)
                    else:
                        os.chmod(folder, 0o755)
                        folder.rename(target)
                    done.append(f"set aside unrecorded {version_id[:12]}")
    except DatabaseLockedError:
        pass  # another process is busy; the next start finishes the job
    return done
