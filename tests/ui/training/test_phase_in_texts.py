"""The review dialog's "What is kept" when a first version replaces the base model: the base
model is no version, so nothing of it is retired, archived or interviewed."""

from __future__ import annotations

from pathlib import Path

from kindred.core.archive import versions
from kindred.core.home import consent
from kindred.core.session import Session
from kindred.core.upgrades import rollout
from kindred.ui.training.phase_in import DEFAULT_PLAN, review_texts
from support.archive_helpers import activate, make_version


def _texts(session: Session, kind: str, version: versions.Version, now: str) -> dict[str, str]:
    if kind == "rollout":
        kind, summary, evidence = rollout.describe_start(session.store, version, DEFAULT_PLAN)
    else:
        kind, summary, evidence = versions.describe_activation(session.store, version)
    request = consent.request(session.store, kind, version.assistant_id, version.id, summary,
                              evidence)
    return review_texts(request, "Kindred", "Version", now)


def test_what_is_kept_names_no_retirement_of_the_base(session: Session,
                                                      model_path: Path) -> None:
    first = make_version(session, model_path, seed=0)
    for kind in ("rollout", "activate"):
        kept = _texts(session, kind, first, "the base model")["kept"]
        assert "retired" not in kept and "archived" not in kept, kept
    a = activate(session, first)
    b = make_version(session, model_path, seed=1, parent=a.id)
    assert "then is retired: archived, interviewed" in _texts(session, "rollout", b,
                                                              "Version 1")["kept"]
    assert "Version 1 stays archived" in _texts(session, "activate", b, "Version 1")["kept"]
