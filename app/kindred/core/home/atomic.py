"""Atomic file writes and crash-safe scratch folders.

Everything permanent is first built in a scratch folder under `home.tmp` (same filesystem), synced
to disk, then renamed into place: a reader sees either nothing or the complete thing. Each scratch
folder is held by an exclusive `flock` for as long as its writer lives; the kernel drops the lock
when the process dies (even by SIGKILL), so `clean_leftovers` can tell abandoned folders from ones
another live process (the GUI, a training run) is still writing.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import stat
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlite_utils

from kindred.core.basics.errors import disk_full, is_disk_full
from kindred.core.home.paths import DataHome
from kindred.core.home.store import DatabaseLockedError, Store

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: fall back to the process-id check alone
    fcntl = None  # type: ignore[assignment]

READ_ONLY_FILE = 0o444
READ_ONLY_DIR = 0o555
_LOCK_SUFFIX = ".lock"
_NAME = re.compile(r"^[a-z]+-\d+-[0-9a-f]{12}$")
FOREIGN_GRACE_S = 24 * 3600.0


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (a no-op where directories can't sync)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory handles
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data`: temp file beside it, fsync, rename, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def seal_dir(folder: Path) -> None:
    """Sync every file of a finished folder to disk and make it read-only (files 0444, dir 0555)."""
    for entry in folder.iterdir():
        if entry.is_file():
            fsync_file(entry)
            os.chmod(entry, READ_ONLY_FILE)
    os.chmod(folder, READ_ONLY_DIR)
    fsync_dir(folder)


def remove_tree(path: Path) -> None:
    """Remove a folder even if it was sealed read-only; a missing path is fine."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    for folder, dirs, _ in os.walk(path):
        for name in dirs:
            child = Path(folder) / name
            if not child.is_symlink():
                os.chmod(child, stat.S_IRWXU)
    os.chmod(path, stat.S_IRWXU)
    shutil.rmtree(path)


def publish_dir(staged: Path, final: Path) -> None:
    """Rename a sealed folder into place atomically (its parent is created if needed)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(staged, stat.S_IRWXU)  # renaming a directory needs write access to it on macOS
    os.rename(staged, final)
    os.chmod(final, READ_ONLY_DIR)
    fsync_dir(final.parent)


class Scratch:
    """A locked scratch folder in `home.tmp`; removed on exit unless its contents were moved."""

    def __init__(self, home: DataHome, label: str) -> None:
        home.tmp.mkdir(parents=True, exist_ok=True)
        name = f"{label}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.path = home.tmp / name
        self._lock_path = home.tmp / (name + _LOCK_SUFFIX)
        self._fd = os.open(self._lock_path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        self.path.mkdir()

    def close(self) -> None:
        remove_tree(self.path)
        self._lock_path.unlink(missing_ok=True)
        os.close(self._fd)


@contextlib.contextmanager
def scratch(home: DataHome, label: str) -> Iterator[Path]:
    """A private folder to build something in; whatever is left in it is removed on exit."""
    try:
        work = Scratch(home, label)
    except OSError as exc:
        raise (disk_full(home.root) if is_disk_full(exc) else exc) from exc
    try:
        yield work.path
    except Exception as exc:  # the disk filled up while building: the scratch folder goes
        if is_disk_full(exc):
            raise disk_full(home.root) from exc
        raise
    finally:
        work.close()


def _owner_alive(name: str) -> bool:
    parts = name.split("-")
    try:
        pid = int(parts[-2])
    except (IndexError, ValueError):
        return False
    return process_alive(pid)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs (this one included; someone else's counts too)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - someone else's live process
        return True
    return True


def _abandoned(lock_path: Path) -> bool:
    """True if no live process holds this scratch folder's lock."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return True
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True
        return not _owner_alive(lock_path.name[: -len(_LOCK_SUFFIX)])  # pragma: no cover
    finally:
        os.close(fd)


def clean_leftovers(home: DataHome) -> list[str]:
    """Remove what killed processes left in `home.tmp`; returns the names removed."""
    removed: list[str] = []
    if not home.tmp.is_dir():
        return removed
    entries = sorted(home.tmp.iterdir())
    locks = {e.name[: -len(_LOCK_SUFFIX)] for e in entries if e.name.endswith(_LOCK_SUFFIX)}
    for entry in entries:
        stem = entry.name
        if stem.endswith(_LOCK_SUFFIX):
            continue
        if stem in locks:
            if not _abandoned(home.tmp / (stem + _LOCK_SUFFIX)):
                continue
        elif _NAME.match(stem):
            if _owner_alive(stem):
                continue
        elif time.time() - entry.lstat().st_mtime < FOREIGN_GRACE_S:
            continue  # not made by `scratch`: only removed once clearly stale
        remove_tree(entry)
        removed.append(stem)
    for stem in locks:
        lock = home.tmp / (stem + _LOCK_SUFFIX)
        if not (home.tmp / stem).exists() and _abandoned(lock):
            lock.unlink(missing_ok=True)
    return removed


@contextlib.contextmanager
def db_write(store: Store) -> Iterator[sqlite_utils.Database]:
    """`store.tx()`, but a database locked by another program becomes a clear error."""
    try:
        with store.tx() as db:
            yield db
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseLockedError(
                f"The database {store.home.db_path} is locked by another program (another "
                "Kindred window or command?). Nothing was changed; try again."
            ) from exc
        raise
