"""Recovery at start: finish or undo what a killed process left behind.

Removes abandoned scratch folders in `home.tmp` (see `atomic.clean_leftovers`), finishes
deletions interrupted between the database update and the folder removal, and sets aside (never
deletes) complete version folders whose database row was never committed: a crash between the
rename into the archive and the commit. Such a copy is dropped once the same version is archived
again (`forget_orphans`).
"""

from __future__ import annotations

import os
from pathlib import Path

from kindred.core.archive.catalog import remove_object, version_dir
from kindred.core.atomic import clean_leftovers, db_write, remove_tree
from kindred.core.store import DatabaseLockedError, Store


def orphan_dir(store: Store, version_id: str) -> Path:
    """Where `recover` sets aside a complete folder whose row was never committed."""
    return store.home.archive / "orphans" / version_id


def forget_orphans(store: Store, version_ids: list[str]) -> None:
    """A version now properly archived no longer needs the copy a crash left aside."""
    for version_id in version_ids:
        remove_tree(orphan_dir(store, version_id))


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
    suspects = [i for i in object_ids(store) if statuses.get(i, "deleted") == "deleted"]
    if not suspects:
        return done
    try:
        with db_write(store) as db:  # the write lock waits for any archive in progress
            statuses = dict(db.execute("SELECT id, status FROM versions").fetchall())
            for version_id in suspects:
                folder = version_dir(store.home, version_id)
                if statuses.get(version_id) == "deleted":
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
