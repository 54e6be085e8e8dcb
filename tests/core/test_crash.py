"""Crash safety: a real process killed with SIGKILL while archiving or importing leaves no
partial version visible, and the next start cleans up what it left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import recovery, versions
from kindred.core.bundles.bundle import export_bundle
from kindred.core.home.atomic import remove_tree
from kindred.core.home.paths import DataHome
from kindred.core.home.store import open_store
from kindred.core.session import open_session
from support.archive_helpers import make_version

TESTS = Path(__file__).resolve().parents[1]
BIG = "layers=tuple(range(30)), rank=32"  # ~15 MB per weight file: a wide window to kill in

ARCHIVER = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    from kindred.core.home.models import embedded_model_path
    from kindred.core.session import open_session
    from support.archive_helpers import make_version
    session = open_session(sys.argv[1])
    print("ready", flush=True)
    seed = 100
    while True:
        make_version(session, embedded_model_path(), seed=seed, {BIG})
        seed += 1
""")

IMPORTER = textwrap.dedent(f"""
    import sys
    sys.path.insert(0, {str(TESTS)!r})
    from kindred.core.bundles.bundle import import_bundle
    from kindred.core.session import open_session
    session = open_session(sys.argv[1])
    print("ready", flush=True)
    import_bundle(session.store, sys.argv[2], name="Restored")
    print("done", flush=True)
""")


def _start(code: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


def _kill_when(proc: subprocess.Popen[str], ready: Callable[[], bool],
               delay: float = 0.0) -> None:
    """SIGKILL as soon as `ready()` (polled every few ms) is true, plus `delay`."""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():
                time.sleep(delay)
                break
            time.sleep(0.002)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


def _scratch_holds(home: DataHome, name: str) -> Callable[[], bool]:
    """True once some scratch folder in `home.tmp` contains a file named `name` (or anything)."""
    def check() -> bool:
        for folder in home.tmp.iterdir():
            if folder.is_dir():
                for entry in folder.rglob(name):
                    if entry.is_file():
                        return True
        return False
    return check


def _visible_state_is_complete(home: DataHome) -> list[str]:
    """Without any recovery: every recorded version is complete and verifies."""
    store = open_store(home)
    try:
        checks = archive.verify_all(store)
        assert all(c.ok for c in checks), [c.message for c in checks if not c.ok]
        return [c.version_id for c in checks]
    finally:
        store.close()


def _clean_after_restart(home: DataHome) -> None:
    session = open_session(home.root)
    try:
        assert list(home.tmp.iterdir()) == []
        rows = {v.id for v in versions.list_versions(session.store) if v.status != "deleted"}
        assert set(recovery.object_ids(session.store)) == rows
        assert all(c.ok for c in archive.verify_all(session.store))
        # a folder renamed in before its row committed is set aside whole, never half
        for orphan in (home.archive / "orphans").glob("*"):
            assert archive.check_folder(orphan, orphan.name) == []
    finally:
        session.close()


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["adapter_model.safetensors", "adapter.gguf",
                                   "manifest.json", "published"])
def test_sigkill_mid_archive(home: DataHome, phase: str) -> None:
    """Killed while writing each file, and right after a version's folder is renamed into
    the archive (before or while its row is committed)."""
    open_session(home.root).close()
    proc = _start(ARCHIVER, str(home.root))
    if phase == "published":
        _kill_when(proc, lambda: any(home.objects.glob("*/*")))
    else:
        _kill_when(proc, _scratch_holds(home, phase))
        assert any(home.tmp.iterdir())  # it really died mid-write: its scratch is left behind
    assert proc.returncode == -signal.SIGKILL
    _visible_state_is_complete(home)
    _clean_after_restart(home)


@pytest.fixture(scope="module")
def big_bundle(model_path: Path) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="kindred-crash-src-"))
    session = open_session(root / "home")
    parent = None
    for seed in range(3):
        parent = make_version(session, model_path, seed=seed, parent=parent,
                              layers=tuple(range(30)), rank=32).id
    export_bundle(session.store, session.assistant(), root / "big.bundle")
    session.close()
    yield root / "big.bundle"
    remove_tree(root)


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["manifest.json", "adapter.gguf", "published"])
def test_sigkill_mid_import(home: DataHome, big_bundle: Path, phase: str) -> None:
    """Killed while the bundle is being checked and staged, and while it is being put in place."""
    open_session(home.root).close()
    proc = _start(IMPORTER, str(home.root), str(big_bundle))
    if phase == "published":
        _kill_when(proc, lambda: any(home.objects.glob("*/*")))
    else:
        _kill_when(proc, _scratch_holds(home, phase))
    visible = _visible_state_is_complete(home)
    store = open_store(home)
    try:
        restored = store.db.execute("SELECT id FROM assistants WHERE name = 'Restored'").fetchone()
    finally:
        store.close()
    # all or nothing: the assistant comes with its three versions, or not at all
    assert (restored is not None) == (len(visible) == 3)
    _clean_after_restart(home)
    if restored is None:  # a clean retry works after the crash
        session = open_session(home.root)
        try:
            from kindred.core.bundles.bundle import import_bundle

            assert len(import_bundle(session.store, big_bundle, name="Restored").versions) == 3
            assert list((home.archive / "orphans").glob("*")) == []  # copies set aside: gone
        finally:
            session.close()
    assert os.listdir(home.tmp) == []
