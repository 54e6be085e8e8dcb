"""Interview and report records in a data home: `ledger verify` and `versions verify` find a
fabricated or malformed one, and reading one gives a clear error, never a KeyError (issue 21, 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kindred.cli import main
from kindred.core.archive import versions
from kindred.core.bundles.bundle import export_bundle, import_bundle
from kindred.core.engine.llama import Engine
from kindred.core.home import ledger
from kindred.core.home.atomic import db_write
from kindred.core.home.record_check import store_problems
from kindred.core.home.store import now
from kindred.core.session import Session, open_session
from kindred.core.upgrades import retirement
from support.archive_helpers import activate, grant, make_version


def _retired(session: Session, model_path: Path) -> versions.Version:
    version = activate(session, make_version(session, model_path, seed=1))
    return versions.retire(session.store, version.id, grant(session, "retire", version))


def _cli(capsys: pytest.CaptureFixture[str], session: Session, *args: str
         ) -> tuple[int, str, str]:
    code = main([*args, "--home", str(session.home.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _interview(version: versions.Version, **fields: object) -> dict[str, object]:
    content: dict[str, object] = {
        "format": 1, "kind": "interview", "version": version.id, "questions": "v1",
        "base_sha256": version.base_sha256, "model": "m", "persona": "", "sampling": {},
        "answers": [{"question": "How was it?", "answer": "Fine."}], "held_at": now()}
    content.update(fields)
    return {k: v for k, v in content.items() if v is not None}


def test_a_fabricated_report_is_found(session: Session, model_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    version = _retired(session, model_path)
    real = retirement.report_for(session.store, version.id)
    assert ledger.verify(session.store).ok and store_problems(session.store) == []
    # someone puts a report of their own in its place, by hand: the file and the row
    content = {**real.content, "answers_given": 999}
    digest = retirement.put_record(session.store, retirement.record_bytes(content))
    session.store.db.execute("UPDATE reports SET sha256 = ? WHERE version_id = ?",
                             [digest, version.id])
    check = ledger.verify(session.store)
    assert not check.ok and "has no 'reported' event" in check.reason
    code, out, _ = _cli(capsys, session, "versions", "verify")
    assert code == 1 and "BAD  record: the report of version" in out
    code, out, _ = _cli(capsys, session, "ledger", "verify")
    assert code == 1 and "does NOT verify" in out and "None" not in out


def test_a_record_without_its_fields_is_a_clear_error(session: Session, model_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    version = _retired(session, model_path)
    data = retirement.record_bytes(_interview(version, held_at=None))  # no 'held_at'
    digest = retirement.put_record(session.store, data)
    with db_write(session.store) as db:  # as an import before the checks would have left it
        db.table("interviews").insert({"version_id": version.id, "sha256": digest,
                                       "created_at": now(), "questions": "v1"})
        ledger.append(session.store, ledger.INTERVIEWED,
                      {"version": version.id, "sha256": digest, "questions": "v1"},
                      assistant_id=version.assistant_id)
    assert "has no 'held_at'" in ledger.verify(session.store).reason
    with pytest.raises(retirement.TamperedRecordError, match=r"malformed .*held_at"):
        retirement.interview_for(session.store, version.id)
    code, _, err = _cli(capsys, session, "versions", "interview", version.short)
    assert code == 2 and "is malformed (it has no 'held_at')" in err
    assert "Traceback" not in err and "KeyError" not in err


def test_a_well_formed_interview_verifies(session: Session, model_path: Path) -> None:
    version = _retired(session, model_path)
    data = retirement.record_bytes(_interview(version))
    digest = retirement.put_record(session.store, data)
    with db_write(session.store) as db:
        db.table("interviews").insert({"version_id": version.id, "sha256": digest,
                                       "created_at": now(), "questions": "v1"})
        ledger.append(session.store, ledger.INTERVIEWED,
                      {"version": version.id, "sha256": digest, "questions": "v1"},
                      assistant_id=version.assistant_id)
    assert ledger.verify(session.store).ok
    record = retirement.interview_for(session.store, version.id)
    assert record is not None and json.loads(data)["answers"] == record.content["answers"]


@pytest.mark.slow
def test_a_replaced_interview_verifies_and_travels(session: Session, model_path: Path,
                                                   engine: Engine, tmp_path: Path) -> None:
    """An interview held before use, then the retirement interview that replaces it in the row:
    the first one's ledger event is superseded, not 'missing' (ledger verify, export, import)."""
    early = make_version(session, model_path, seed=1)
    before = retirement.interview(session, early.id, engine=engine, max_tokens=2)
    activate(session, early)
    activate(session, make_version(session, model_path, seed=2))  # `early` retires
    after = retirement.interview(session, early.id, engine=engine, max_tokens=2)
    assert after.sha256 != before.sha256
    assert ledger.verify(session.store).ok and store_problems(session.store) == []
    bundle = tmp_path / "kindred.bundle"
    export_bundle(session.store, session.assistant(), bundle)
    other = open_session(tmp_path / "other")
    try:
        import_bundle(other.store, bundle)
        assert ledger.verify(other.store).ok
        carried = retirement.interview_for(other.store, early.id)
        assert carried is not None and carried.sha256 == after.sha256
    finally:
        other.close()


def test_a_report_without_its_name_is_a_clear_error(session: Session, model_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`versions report` of a stored report without 'name' said KeyError: 'name'."""
    version = _retired(session, model_path)
    content = retirement.build_report(session.store, version.id)
    del content["name"]
    digest = retirement.put_record(session.store, retirement.record_bytes(content))
    with db_write(session.store) as db:  # as an import before the checks would have left it
        db.table("reports").insert({"version_id": version.id, "sha256": digest,
                                    "created_at": now()})
        ledger.append(session.store, ledger.REPORTED, {"version": version.id, "sha256": digest},
                      assistant_id=version.assistant_id)
    code, _, err = _cli(capsys, session, "versions", "report", version.short)
    assert code == 2 and "is malformed (it has no 'name')" in err
    assert "Traceback" not in err and "KeyError" not in err
    code, out, _ = _cli(capsys, session, "versions", "verify")
    assert code == 1 and "it has no 'name'" in out
