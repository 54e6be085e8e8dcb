"""A full disk (a small tmpfs, so ENOSPC is real) at each write site: archive publish, database
commit, bundle export. A clear message, nothing half-written, and it works again once space is
freed. Needs root (mount); skipped elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kindred.core.archive import versions
from kindred.core.archive.catalog import verify_all
from kindred.core.basics.errors import DiskFullError
from kindred.core.bundles.bundle import export_bundle
from kindred.core.learning import feedback
from kindred.core.session import Session, open_session
from support.archive_helpers import make_version
from support.disk import fill, small_tmpfs

BIG = {"layers": tuple(range(12)), "rank": 16}  # about 3 MB written per version


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "12m") as mount:
        yield mount


def _home_is_sound(session: Session) -> None:
    assert all(c.ok for c in verify_all(session.store))
    assert session.store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert list(session.home.tmp.iterdir()) == []


def test_archive_db_and_export_on_a_full_disk(small_disk: Path, model_path: Path) -> None:
    session = open_session(small_disk / "home")
    try:
        first = make_version(session, model_path, seed=1, **BIG)
        filler = fill(small_disk, 512 * 1024)
        with pytest.raises(DiskFullError, match=r"is full.*nothing was lost"):
            make_version(session, model_path, seed=2, **BIG)
        assert [v.id for v in versions.list_versions(session.store)] == [first.id]
        _home_is_sound(session)

        with pytest.raises(DiskFullError, match="is full"):
            export_bundle(session.store, session.assistant(), small_disk / "out.bundle")
        assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "home"]

        more = fill(small_disk / "home", 0)  # now not a byte left, even for the database
        with pytest.raises(DiskFullError, match="is full"):
            for i in range(200):
                feedback.add_preference(session.store, session.assistant().id, f"Rule {i}" * 40)
        more.unlink()
        filler.unlink()
        # Space is back: everything works again, and nothing half-written stayed.
        kept = len(feedback.list_feedback(session.store, session.assistant().id))
        feedback.add_preference(session.store, session.assistant().id, "Be brief.")
        assert len(feedback.list_feedback(session.store, session.assistant().id)) == kept + 1
        second = make_version(session, model_path, seed=2, **BIG)
        export_bundle(session.store, session.assistant(), small_disk / "out.bundle")
        assert versions.verify_version(session.store, second.id).ok
        _home_is_sound(session)
    finally:
        session.close()
