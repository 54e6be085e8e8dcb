"""History's records of a retired version say where its interview stands: held (its answers),
being held (it was used; the window holds it in the background), or none (never used)."""

from __future__ import annotations

from pathlib import Path

from kindred.core.archive import versions
from kindred.core.session import Session
from kindred.ui.consent.retirement_records import record_html
from support.archive_helpers import activate, grant, make_version


def test_an_interview_not_held_says_why(session: Session, model_path: Path) -> None:
    used = activate(session, make_version(session, model_path, seed=1))
    versions.retire(session.store, used.id, grant(session, "retire", used))
    assert "Being held in the background" in record_html(session.store, used.id)

    unused = make_version(session, model_path, seed=2)
    versions.retire(session.store, unused.id, None)  # a candidate set aside needs no consent
    html = record_html(session.store, unused.id)
    assert "never used" in html and "Being held" not in html
