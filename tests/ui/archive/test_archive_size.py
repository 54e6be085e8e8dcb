"""History shows what keeping every version costs on disk; `kindred report` says it too."""

from __future__ import annotations

import io
import json
import sys

import pytest

from kindred.cli import main
from kindred.core.archive.catalog import archive_size, version_dir
from kindred.core.session import Session
from kindred.ui.archive.history_view import HistoryView
from support.archive_helpers import make_version


def test_history_and_report_show_the_archive_size(qtbot, session: Session, model_path,  # type: ignore[no-untyped-def]
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    versions = [make_version(session, model_path, seed=s) for s in (1, 2)]
    on_disk = sum(p.stat().st_size for v in versions
                  for p in version_dir(session.home, v.id).iterdir())
    size = archive_size(session.store, session.assistant().id)
    assert size["versions"] == 2 and size["versions_bytes"] == on_disk
    assert size["cache_bytes"] > 0  # the derived GGUFs, rebuildable
    view = HistoryView(session)
    qtbot.addWidget(view)
    view.refresh()
    assert view.disk.text().startswith(f"Archive on disk: {on_disk / 1e6:.1f} MB for 2 versions")
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["report", "--json", "--home", str(session.home.root)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["disk"]["versions_bytes"] == on_disk
    assert main(["report", "--home", str(session.home.root)]) == 0
    assert "Archive on disk:" in capsys.readouterr().out
