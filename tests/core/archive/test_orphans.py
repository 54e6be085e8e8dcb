"""Orphans (a version folder whose row was never committed: a kill between the rename and the
commit) are set aside at the next start, listed, and reclaimed once the same weights are archived
again, though the new version has another id (its manifest's creation time differs)."""

from __future__ import annotations

from pathlib import Path

from kindred.core.archive import versions
from kindred.core.archive.recovery import orphans
from kindred.core.session import Session, open_session
from support.archive_helpers import make_version


def test_an_orphan_is_reclaimed_when_its_weights_are_archived_again(
        session: Session, model_path: Path) -> None:
    home = session.home
    lost = make_version(session, model_path, seed=9)
    session.store.db.execute("DELETE FROM versions WHERE id = ?", [lost.id])  # never committed
    session.close()
    again = open_session(home.root)
    try:
        (orphan,) = orphans(again.store)
        assert orphan.id == lost.id and orphan.size_bytes > 0
        assert not versions.version_dir(home, lost.id).exists()
        # The same weights archived again (a retried import or training): a new id...
        retried = make_version(again, model_path, seed=9)
        assert retried.id != lost.id
        # ... and the copy set aside is no longer needed: nothing is lost by removing it.
        assert orphans(again.store) == []
        assert versions.verify_version(again.store, retried.id).ok
        # An orphan of other weights stays, listed, until its weights come back.
        other = make_version(again, model_path, seed=10)
        again.store.db.execute("DELETE FROM versions WHERE id = ?", [other.id])
    finally:
        again.close()
    third = open_session(home.root)
    try:
        assert [o.id for o in orphans(third.store)] == [other.id]
    finally:
        third.close()


def test_versions_verify_reports_what_was_set_aside(session: Session, model_path: Path) -> None:
    import subprocess
    import sys

    lost = make_version(session, model_path, seed=11)
    session.store.db.execute("DELETE FROM versions WHERE id = ?", [lost.id])
    out = subprocess.run([sys.executable, "-m", "kindred", "versions", "verify", "--home",
                          str(session.home.root)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    assert f"SET ASIDE {lost.id[:12]}" in out.stdout
