"""Bundles carry each version's retirement interview and report, and refuse tampered ones."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from kindred.core.archive import versions
from kindred.core.bundles.bundle import BundleError, export_bundle, import_bundle
from kindred.core.engine.llama import Engine
from kindred.core.session import Session, open_session
from kindred.core.upgrades import retirement
from support.archive_helpers import activate, grant, home_state, make_version, pack_bundle


def rewrite(source: Path, target: Path, change) -> None:  # type: ignore[no-untyped-def]
    """Copy a bundle, letting `change(name, data)` alter members; bundle.json is re-listed so
    only the content checks can notice."""
    with tarfile.open(source) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    pack_bundle(target, {name: change(name, data) for name, data in members.items()})


@pytest.mark.slow
def test_interviews_and_reports_travel_and_tampering_is_refused(
        session: Session, engine: Engine, model_path: Path, tmp_path: Path) -> None:
    version = activate(session, make_version(session, model_path, seed=4))
    versions.retire(session.store, version.id, grant(session, "retire", version))
    interview = retirement.interview(session, version.id, engine=engine, max_tokens=2)
    report = retirement.report_for(session.store, version.id)
    bundle = tmp_path / "kindred.bundle"
    export_bundle(session.store, session.assistant(), bundle)
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert f"records/{interview.sha256}" in names and f"records/{report.sha256}" in names

    other = open_session(tmp_path / "other")
    try:
        before = home_state(other)
        tampered = tmp_path / "tampered.bundle"

        def edit_answer(name: str, data: bytes) -> bytes:
            if name == f"records/{interview.sha256}":
                content = json.loads(data)
                content["answers"][0]["answer"] = "Something it never said."
                return json.dumps(content).encode()
            return data

        rewrite(bundle, tampered, edit_answer)
        with pytest.raises(BundleError, match=r"interview of version .* was altered"):
            import_bundle(other.store, tampered)
        stray = tmp_path / "stray.bundle"

        def another_version(name: str, data: bytes) -> bytes:
            if name == "retirement.json":
                entries = json.loads(data)
                entries[0]["version"] = "f" * 64
                return json.dumps(entries).encode()
            return data

        rewrite(bundle, stray, another_version)
        with pytest.raises(BundleError, match="not in the bundle"):
            import_bundle(other.store, stray)
        assert home_state(other) == before

        import_bundle(other.store, bundle)
        carried = retirement.interview_for(other.store, version.id)
        assert carried is not None
        assert (carried.sha256, carried.content) == (interview.sha256, interview.content)
        kept = retirement.report_for(other.store, version.id)
        assert (kept.sha256, kept.content) == (report.sha256, report.content)
    finally:
        other.close()
