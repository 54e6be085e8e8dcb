"""Import as a copy: a bundle of an assistant this home already holds comes back beside it, its
versions under new ids that record where they were copied from, every record remapped with
them; the original is untouched, and a bad bundle changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.archive.versions import Version
from kindred.core.basics.sampling import Sampling
from kindred.core.bundles.bundle import (
    AlreadyHereError,
    BundleError,
    export_bundle,
    import_bundle,
)
from kindred.core.chat.conversations import GenerationStats as Stats
from kindred.core.chat.conversations import (
    add_message,
    create_conversation,
    list_conversations,
    list_messages,
)
from kindred.core.chat.usage import usage
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import list_assistants
from kindred.core.home.record_check import store_problems
from kindred.core.learning import feedback
from kindred.core.session import Session, open_session
from kindred.core.upgrades import decisions, retirement
from support.archive_helpers import (
    activate,
    bundle_members,
    grant,
    home_state,
    make_version,
    pack_bundle,
    phasing_in,
    tree_digest,
)


def _history(session: Session, model_path: Path, engine: Engine) -> dict[str, Version]:
    """Version 1 retired (interviewed before its use, and again at retirement: the second
    replaces the first), its child Version 2 active and answering in a conversation (rated,
    corrected), a refused and a deleted version."""
    store = session.store
    first = make_version(session, model_path, seed=1)
    second = make_version(session, model_path, seed=2, parent=first.id, magnitude=0.5)
    refused = make_version(session, model_path, seed=3, parent=first.id)
    doomed = make_version(session, model_path, seed=4, parent=second.id)
    retirement.interview(session, first.id, engine=engine, max_tokens=2)
    activate(session, first)
    activate(session, second)
    retirement.interview(session, first.id, engine=engine, max_tokens=2)
    req = consent.request(store, "activate", 1, refused.id, "Use it?")
    decisions.answer(store, req.id, granted=False, via="gui")
    versions.delete(store, doomed.id, grant(session, "delete", doomed))
    conv = create_conversation(store, 1, "Tea")
    add_message(store, conv.id, "user", "Hello there")
    answer = add_message(store, conv.id, "assistant", "Hi!",
                         Stats([(second.id, 1.0)], 5, 2, 0.1, 20.0, "stop"))
    feedback.rate(store, answer.id, 1)
    feedback.correct(store, answer.id, "Hello! How can I help?")
    return {"first": first, "second": second, "refused": refused, "deleted": doomed}


def _rows(session: Session, assistant_id: int) -> list[tuple[Any, ...]]:
    return session.store.db.execute(
        "SELECT id, parent, status, manifest, status_at FROM versions WHERE assistant_id = ? "
        "ORDER BY id", [assistant_id]).fetchall()


def _answer(engine: Engine, session: Session, version_id: str | None) -> str:
    engine.set_adapters([] if version_id is None else [
        AdapterRef(version_id, archive.verified_path(session.store, version_id), 1.0)])
    try:
        return engine.chat([{"role": "user", "content": "Name three colours."}],
                           Sampling(temperature=0.0, top_p=1.0, top_k=1, max_tokens=16)).read()
    finally:
        engine.set_adapters([])


def test_a_copy_beside_the_original_keeps_everything_and_answers_like_it(
        session: Session, engine: Engine, model_path: Path, tmp_path: Path) -> None:
    store = session.store
    made = _history(session, model_path, engine)
    first = made["first"]
    report = retirement.report_for(store, first.id)
    bundle = tmp_path / "kindred.kindred"
    export_bundle(store, session.assistant(), bundle)

    before = home_state(session)
    with pytest.raises(AlreadyHereError, match="can be imported as a copy") as refused:
        import_bundle(store, bundle)
    assert "Nothing was changed" in str(refused.value)
    assert home_state(session) == before

    original_rows = _rows(session, 1)
    original_files = {v.id: tree_digest(versions.version_dir(session.home, v.id))
                      for v in made.values() if v.status != "deleted"}
    original_usage = usage(store, 1)
    result = import_bundle(store, bundle, as_copy=True)
    copy = result.assistant
    assert copy.name == "Kindred (copy)" and result.copy_of == "Kindred"
    assert [a.name for a in list_assistants(store)] == ["Kindred", "Kindred (copy)"]
    assert _rows(session, 1) == original_rows  # the original is untouched
    assert {k: tree_digest(versions.version_dir(session.home, k))
            for k in original_files} == original_files

    old_of = result.copied_from
    new_of = {old: new for new, old in old_of.items()}
    assert sorted(old_of.values()) == sorted(v.id for v in made.values())
    assert not set(old_of) & set(old_of.values())
    copied = {v.id: v for v in versions.list_versions(store, copy.id)}
    assert set(copied) == set(old_of)
    for name, original in made.items():
        twin = copied[new_of[original.id]]
        assert twin.manifest["copy"]["of"] == original.id  # the provenance is kept
        assert twin.manifest["copy"]["bundle"] == result.bundle_sha256
        assert twin.parent == (new_of[original.parent] if original.parent else None), name
        assert twin.manifest["parent"] == twin.parent
        assert twin.files == versions.get_version(store, original.id).files  # same weights
    statuses = {old_of[k]: v.status for k, v in copied.items()}
    assert statuses == {made["first"].id: "retired", made["second"].id: "retired",
                        made["refused"].id: "refused", made["deleted"].id: "deleted"}
    assert result.was_active == new_of[made["second"].id]
    assert all(c.ok for c in archive.verify_all(store))  # originals and copies alike
    assert ledger.verify(store).ok and store_problems(store) == []

    # every record that names a version names the copy's
    [conv] = list_conversations(store, copy.id)
    assert [m.adapters for m in list_messages(store, conv.id)] == [
        [], [(new_of[made["second"].id], 1.0)]]
    copied_usage = usage(store, copy.id)
    assert copied_usage.per_version == {new_of.get(k, k): v
                                        for k, v in original_usage.per_version.items()}
    assert {k: [start for start, _ in p] for k, p in copied_usage.active_periods.items()} == {
        new_of[k]: [start for start, _ in p] for k, p in original_usage.active_periods.items()}
    events = ledger.events(store, assistant_id=copy.id)
    text = json.dumps([e.payload for e in events if e.kind != ledger.IMPORTED])
    assert not any(old in text for old in old_of.values())  # no event names an original
    subjects = [e.payload["subject"] for e in events if e.kind == ledger.CONSENT_REQUESTED]
    assert subjects and set(subjects) <= set(old_of)
    [imported] = [e for e in events if e.kind == ledger.IMPORTED]
    assert imported.payload["summary"].startswith(
        "Imported Kindred (copy) as a copy of Kindred from kindred.kindred: 4 versions under "
        "new ids")
    assert imported.payload["copy_of"]["versions"] == old_of
    interview = retirement.interview_for(store, new_of[first.id])
    copied_report = retirement.stored_report(store, new_of[first.id])
    assert interview is not None and copied_report is not None
    assert copied_report.content["interview"] == interview.sha256
    assert copied_report.content["copy"] == {"of": report.sha256, "version": first.id}
    assert copied_report.content["answers_given"] == report.content["answers_given"]

    # a copied version answers, in llama.cpp, exactly as the one it was copied from
    second, twin = made["second"].id, new_of[made["second"].id]
    said = _answer(engine, session, second)
    assert said.strip() and said != _answer(engine, session, None)
    assert _answer(engine, session, twin) == said
    version = versions.get_version(store, twin)
    versions.restore(store, twin, grant(session, "restore", version))
    assert [r.key for r in archive.adapter_refs(store, session.assistant(copy.id))] == [twin]
    assert session.assistant(1).active_version == second


def test_a_second_copy_gets_its_own_name_and_ids(session: Session, model_path: Path,
                                                 tmp_path: Path) -> None:
    store = session.store
    first = make_version(session, model_path, seed=1)
    activate(session, make_version(session, model_path, seed=2, parent=first.id))
    bundle = tmp_path / "kindred.kindred"
    export_bundle(store, session.assistant(), bundle)
    one = import_bundle(store, bundle, as_copy=True)
    two = import_bundle(store, bundle, as_copy=True)
    named = import_bundle(store, bundle, as_copy=True, name="Twin")
    assert [one.assistant.name, two.assistant.name, named.assistant.name] == [
        "Kindred (copy)", "Kindred (copy 2)", "Twin"]
    ids = [set(r.copied_from) for r in (one, two, named)]
    ids.append({v.id for v in versions.list_versions(store, 1)})
    assert sum(len(s) for s in ids) == len(set().union(*ids)) == 8  # all distinct
    assert all(c.ok for c in archive.verify_all(store)) and ledger.verify(store).ok
    before = home_state(session)
    with pytest.raises(BundleError, match="already an assistant named 'Twin'"):
        import_bundle(store, bundle, as_copy=True, name="Twin")
    assert home_state(session) == before

    # the copy travels on: its bundle passes every check of another home, and comes back here
    # as a copy of a copy (each version's manifest keeps the whole chain)
    again = tmp_path / "copy.kindred"
    export_bundle(store, one.assistant, again)
    other = open_session(tmp_path / "other")
    try:
        moved = import_bundle(other.store, again)
        assert moved.assistant.name == "Kindred (copy)" and ledger.verify(other.store).ok
    finally:
        other.close()
    deeper = import_bundle(store, again, as_copy=True)
    assert deeper.assistant.name == "Kindred (copy 3)"  # not "Kindred (copy) (copy)"
    chain = versions.get_version(store, next(iter(deeper.copied_from))).manifest["copy"]
    assert chain["of"] in one.copied_from and chain["from"]["of"] in one.copied_from.values()


def test_a_copy_of_an_assistant_phasing_in_names_its_own_versions(
        session: Session, model_path: Path, tmp_path: Path) -> None:
    """A rollout's events (the blend, both sides) name the copy's versions; the rollout itself
    stays with the original, as in a plain import (its version comes in as a candidate)."""
    store = session.store
    old, new = phasing_in(session, model_path)
    bundle = tmp_path / "kindred.kindred"
    export_bundle(store, session.assistant(), bundle)
    result = import_bundle(store, bundle, as_copy=True)
    new_of = {was: now for now, was in result.copied_from.items()}
    started = ledger.events(store, assistant_id=result.assistant.id,
                            kind=ledger.ROLLOUT_STARTED)
    assert [(e.payload["from"], e.payload["version"]) for e in started] == [
        (new_of[old.id], new_of[new.id])]
    assert {k for k, _ in started[0].payload["adapters"]} == {new_of[old.id], new_of[new.id]}
    statuses = {v.manifest["copy"]["of"]: v.status
                for v in versions.list_versions(store, result.assistant.id)}
    assert statuses == {old.id: "retired", new.id: "candidate"}
    assert versions.get_version(store, new.id).status == "trial"  # the original phases on
    assert ledger.verify(store).ok
    # ...and takes its next step as before the copy, with the person's consent
    from kindred.core.upgrades import rollout

    blend = rollout.blend(store, old.assistant_id)
    kind, summary, evidence = rollout.describe_next_step(store, old.assistant_id)
    assert evidence["version"] == new.id
    request = consent.request(store, kind, old.assistant_id, new.id, summary, evidence)
    assert decisions.answer(store, request.id, granted=True, via="gui").speaks_changed
    assert rollout.blend(store, old.assistant_id) != blend
    assert rollout.blend(store, result.assistant.id) is None  # the copy has no rollout
    again = tmp_path / "copy.kindred"
    export_bundle(store, result.assistant, again)  # the copy's own history passes every check
    assert import_bundle(store, again, as_copy=True).assistant.name == "Kindred (copy 2)"


def _repack(bundle: Path, out: Path, change: Callable[[dict[str, bytes]], None]) -> Path:
    """The bundle with `change` applied to its members and bundle.json re-listed (a forger who
    recomputes the hashes: only the content checks can notice)."""
    members = bundle_members(bundle)
    change(members)
    return pack_bundle(out, members)


def _damaged_weights(members: dict[str, bytes]) -> None:
    name = next(n for n in members if n.endswith("adapter_model.safetensors"))
    members[name] = members[name][:-1] + bytes([members[name][-1] ^ 0xFF])


def _tampered_ledger(members: dict[str, bytes]) -> None:
    events = json.loads(members["ledger.json"])
    event = next(e for e in events if e.get("kind") == "activated")
    event["payload"] = event["payload"].replace('"via":"gui"', '"via":"cli-flag"')
    members["ledger.json"] = json.dumps(events).encode()


def _parent_not_its_manifests(members: dict[str, bytes]) -> None:
    entries = json.loads(members["versions.json"])
    child = next(e for e in entries if e["parent"])
    child["parent"] = None  # the row says no parent; the manifest (its id) says one
    members["versions.json"] = json.dumps(entries).encode()


def _truncated(members: dict[str, bytes]) -> None:
    members["conversations.json"] = members["conversations.json"][:-3]


@pytest.mark.parametrize(("change", "message"), [
    (_damaged_weights, "does not give the GGUF|unusable|does not match"),
    (_tampered_ledger, "was altered"),
    (_parent_not_its_manifests, "names another parent than its manifest"),
    (_truncated, "not valid JSON"),
], ids=["damaged weights", "tampered ledger", "parent unlike its manifest", "truncated json"])
def test_a_bad_bundle_imported_as_a_copy_changes_nothing(
        session: Session, model_path: Path, tmp_path: Path,
        change: Callable[[dict[str, bytes]], None], message: str) -> None:
    store = session.store
    first = make_version(session, model_path, seed=1)
    activate(session, make_version(session, model_path, seed=2, parent=first.id))
    bundle = tmp_path / "kindred.kindred"
    export_bundle(store, session.assistant(), bundle)
    bad = _repack(bundle, tmp_path / "bad.kindred", change)
    before = home_state(session)
    with pytest.raises(BundleError, match=message) as caught:
        import_bundle(store, bad, as_copy=True)
    assert "Nothing was changed" in str(caught.value)
    assert home_state(session) == before
