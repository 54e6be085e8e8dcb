"""Removing a base model: refused while used, consented with the versions named, the file kept,
its versions archived and verifiable, usable again when the same file is added back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.archive.catalog import get_version, verify_version
from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.bundles.bundle import export_bundle, import_bundle
from kindred.core.bundles.check import BundleError
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import create_assistant, get_assistant
from kindred.core.home.consent import ConsentError
from kindred.core.home.models import add_model, ensure_embedded_model, list_models
from kindred.core.session import Session, open_session
from kindred.core.upgrades import model_removal
from support.archive_helpers import activate, grant, lora_config, make_version
from support.lora import peft_tensors


def _decide(session: Session, plan: model_removal.RemovalPlan, granted: bool
            ) -> consent.Decision:
    request = model_removal.request_removal(session.store, plan)
    return consent.decide(session.store, request.id, granted=granted, via="cli-prompt")


def _models(session: Session) -> list[str]:
    return [m.id for m in list_models(session.store)]


def test_remove_model_keeps_its_versions_restorable(session: Session, model_path: Path,
                                                    sibling_model_path: Path,
                                                    tmp_path: Path) -> None:
    store = session.store
    embedded = ensure_embedded_model(store)
    sibling = add_model(store, sibling_model_path)
    bo = create_assistant(store, "Bo", model_id=sibling.id)
    v1 = make_version(session, sibling_model_path, assistant=bo)

    with pytest.raises(KindredError, match=r"Bo answers with .* Switch it to another model"):
        model_removal.plan_removal(store, sibling.id)
    with pytest.raises(KindredError, match="built-in model; it cannot be removed"):
        model_removal.plan_removal(store, embedded.id)
    with pytest.raises(NotFoundError):
        model_removal.plan_removal(store, "no-such-model")

    # Bo moves to the embedded base (a version made for it, activated: the base switches)
    v2 = archive.archive_peft(store, bo, peft_tensors(model_path, layers=(0,), seed=2),
                              lora_config(), model=embedded)
    activate(session, v2)
    assert get_assistant(store, bo.id).model_id == embedded.id

    # an unfinished training run on the sibling holds it
    run = session.home.runs / "run-on-sibling"
    run.mkdir(parents=True)
    (run / "plan.json").write_text(json.dumps({"assistant_id": bo.id, "created_at": 1.0,
                                               "base": {"sha256": sibling.sha256}}))
    (run / "state.json").write_text(json.dumps({"status": "stopped"}))
    with pytest.raises(KindredError, match=r"run-on-sibling .*stopped.* learns on"):
        model_removal.plan_removal(store, sibling.id)
    (run / "state.json").write_text(json.dumps({"status": "done"}))

    plan = model_removal.plan_removal(store, sibling.id)
    assert plan.versions == [v1] and plan.assistant_id == bo.id
    assert f"Version 1 of Bo ({v1.short}, candidate)" in plan.summary()
    assert str(sibling.path) not in plan.summary() and "not deleted" in plan.summary()
    assert str(sibling.path) not in json.dumps(plan.evidence())  # named by name and sha256

    refused = _decide(session, plan, granted=False)
    with pytest.raises(ConsentError, match="refused"):
        model_removal.remove_model(store, sibling.id, refused)
    assert sibling.id in _models(session)

    asked = _decide(session, plan, granted=True)  # then another version is made for it
    v3 = archive.archive_peft(store, bo, peft_tensors(model_path, layers=(0,), seed=3),
                              lora_config(), model=sibling)
    with pytest.raises(ConsentError, match="changed after you were asked"):
        model_removal.remove_model(store, sibling.id, asked)
    assert sibling.id in _models(session)
    assert consent.get_decision(store, asked.id).used_at is None  # type: ignore[union-attr]

    cache = session.home.cache / "bases" / sibling.sha256
    cache.mkdir(parents=True)
    (cache / "model.safetensors").write_bytes(b"rebuildable")
    plan = model_removal.plan_removal(store, sibling.name)
    assert [v.id for v in plan.versions] == [v1.id, v3.id]
    removed = model_removal.remove_model(store, sibling.id, _decide(session, plan, True))
    assert removed.id == sibling.id and sibling.id not in _models(session)
    assert sibling_model_path.is_file() and not cache.exists()
    event = ledger.events(store, kind=ledger.MODEL_REMOVED)[-1]
    assert event.payload["versions"] == [v1.id, v3.id] and event.payload["file_kept"]
    assert event.payload["sha256"] == sibling.sha256
    assert ledger.verify(store).ok

    # the versions stay archived, verify (not damaged) and say which base is missing
    kept = {v.id: v.status for v in versions.list_versions(store, bo.id)}
    assert kept == {v1.id: "candidate", v2.id: "active", v3.id: "candidate"}
    check = verify_version(store, v1.id)
    assert check.ok and "damaged" not in check.message
    assert check.base_missing and sibling.name in check.base_missing
    assert sibling.sha256[:12] in check.base_missing
    assert verify_version(store, v2.id).base_missing is None
    with pytest.raises(KindredError, match=r"not among your models\. Add that model file again"):
        versions.activate(store, v1.id, grant(session, "activate", v1))

    _a_bundle_keeps_versions_whose_base_is_gone(session, tmp_path, sibling_model_path,
                                                 [v1.id, v3.id], v2.id)

    # the same file added again: they are usable again, and going there switches the base
    again = add_model(store, sibling_model_path)
    assert again.sha256 == sibling.sha256
    assert [v.id for v in model_removal.usable_again(store, again)] == [v1.id, v3.id]
    assert verify_version(store, v1.id).base_missing is None
    activate(session, v1)
    assert get_assistant(store, bo.id).model_id == sibling.id

    # Bo now answers with the sibling: a home without that model cannot take Bo in
    bundle = tmp_path / "bo-on-sibling.kindred"
    export_bundle(store, get_assistant(store, bo.id), bundle)
    third = open_session(tmp_path / "third")
    try:
        before = (third.store.db.execute("SELECT COUNT(*) FROM assistants").fetchone()[0],
                  ledger.verify(third.store).count)
        with pytest.raises(BundleError, match=r"Bo answers with .*not among your models here. "
                                              r"Add that model file first.*Nothing was changed"):
            import_bundle(third.store, bundle)
        assert (third.store.db.execute("SELECT COUNT(*) FROM assistants").fetchone()[0],
                ledger.verify(third.store).count) == before
        assert third.store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0
    finally:
        third.close()


def _a_bundle_keeps_versions_whose_base_is_gone(session: Session, tmp_path: Path,
                                                sibling_model_path: Path, waiting: list[str],
                                                usable: str) -> None:
    """Exported after their base was removed, imported into a home that never had it: the
    versions come in archived and verified, flagged as waiting for their base, and become
    usable when that file is added there (a bundle used to be refused outright then)."""
    bundle = tmp_path / "bo.kindred"
    export_bundle(session.store, get_assistant(session.store, get_version(
        session.store, usable).assistant_id), bundle)
    other = open_session(tmp_path / "other")
    try:
        result = import_bundle(other.store, bundle)
        assert sorted(result.waiting) == sorted(waiting)
        assert {v.id for v in result.versions} == {*waiting, usable}
        for version_id in waiting:
            check = verify_version(other.store, version_id)
            assert check.ok and check.base_missing, check
        assert verify_version(other.store, usable).base_missing is None
        with pytest.raises(KindredError, match=r"not among your models"):
            versions.activate(other.store, waiting[0], grant(
                other, "activate", get_version(other.store, waiting[0])))
        assert ledger.verify(other.store).ok
        added = add_model(other.store, sibling_model_path)
        assert sorted(v.id for v in model_removal.usable_again(other.store, added)) == \
            sorted(waiting)
        assert verify_version(other.store, waiting[0]).base_missing is None
        activate(other, get_version(other.store, waiting[0]))
        assert result.assistant.id == get_version(other.store, waiting[0]).assistant_id
    finally:
        other.close()
