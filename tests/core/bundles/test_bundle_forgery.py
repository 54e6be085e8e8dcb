"""Forged bundles are refused (issue 21, 6-8): the ledger must be one chain to the head the bundle
names and fit the versions it carries; records must be whole and match their ledger events; and
an export made after a side-by-side trial restores (every export is checked by the import)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.bundles import bundle as bundle_module
from kindred.core.bundles.bundle import BundleError, export_bundle, import_bundle
from kindred.core.chat.conversations import GenerationStats as Stats
from kindred.core.chat.conversations import (
    add_message,
    create_conversation,
    earlier_answers,
    list_conversations,
    list_messages,
)
from kindred.core.home import consent, ledger
from kindred.core.home.atomic import remove_tree
from kindred.core.session import Session, open_session
from kindred.core.upgrades import decisions, retirement, trial
from support.archive_helpers import (
    activate,
    bundle_members,
    grant,
    home_state,
    make_version,
    pack_bundle,
)

Members = dict[str, bytes]


@pytest.fixture(scope="module")
def source(model_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A home with every kind of history, exported once: a deleted version (delete consent and
    tombstone), a refused one, a retired one with its report, and a side-by-side trial whose
    kept answer is the earlier one (the unpicked answer points back to it)."""
    root = Path(tempfile.mkdtemp(prefix="kindred-forgery-src-"))
    s = open_session(root / "home")
    first = make_version(s, model_path, seed=1)
    second = make_version(s, model_path, seed=2, parent=first.id)
    refused = make_version(s, model_path, seed=3, parent=first.id)
    doomed = make_version(s, model_path, seed=4, parent=first.id)
    tried = make_version(s, model_path, seed=5, parent=second.id)
    activate(s, first)
    activate(s, second)
    req = consent.request(s.store, "activate", 1, refused.id, "Use it?")
    decisions.answer(s.store, req.id, granted=False, via="gui")
    versions.delete(s.store, doomed.id, grant(s, "delete", doomed))
    retirement.report_for(s.store, first.id)  # retired after use: its report is stored
    conv = create_conversation(s.store, 1)
    running = trial.start(s.store, 1, tried.id, prompts=1)
    add_message(s.store, conv.id, "user", "Hello there")
    round_ = trial.record_round(s.store, running, conv.id, "b",
                                ("Hi from B", Stats([(tried.id, 1.0)], 5, 2, 0.1, 20.0, "stop")),
                                ("Hi from A", Stats([(second.id, 1.0)], 5, 2, 0.1, 20.0,
                                                    "stop")))
    trial.choose(s.store, round_.id, "first")  # the second answer points back to the first
    bundle = root / "kindred.bundle"
    export_bundle(s.store, s.assistant(), bundle)
    s.close()
    yield bundle, {"first": first.id, "second": second.id, "refused": refused.id,
                   "deleted": doomed.id, "tried": tried.id}
    remove_tree(root)


def _members(bundle: Path) -> dict[str, bytes]:
    return bundle_members(bundle)


def _pack(path: Path, members: Members) -> Path:
    """Write the members as a bundle, re-listing bundle.json (as a careful forger would)."""
    return pack_bundle(path, members)


def _events(members: Members) -> list[dict[str, Any]]:
    return list(json.loads(members["ledger.json"]))


def _payload(entry: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(entry["payload"])) if "payload" in entry else {}


def _with_ledger(members: Members, entries: list[dict[str, Any]], *, rechain: bool) -> Members:
    """The members with this ledger; `rechain` renumbers and rehashes everything after a change
    and names the new head, as a forger who knows the hash scheme would."""
    out = dict(members)
    if rechain:
        prev, seq = entries[0]["prev_hash"], entries[0]["seq"]
        for entry in entries:
            entry["seq"], entry["prev_hash"] = seq, prev
            if "payload" in entry:
                entry["hash"] = ledger.event_hash(seq, float(entry["at"]), entry["kind"],
                                                  entry["assistant_id"], entry["payload"], prev)
            else:  # a link: its content is not in the bundle, any hash will do
                entry["hash"] = sha256_bytes(f"link {seq} {prev}".encode())
            prev, seq = entry["hash"], seq + 1
        header = json.loads(out["bundle.json"])
        header["ledger_head"] = {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}
        out["bundle.json"] = json.dumps(header).encode()
    out["ledger.json"] = json.dumps(entries).encode()
    return out


def _without_tombstone(members: Members, rechain: bool) -> Members:
    entries = _events(members)
    tomb = next(e for e in entries if e.get("kind") == ledger.DELETED)
    cited = _payload(tomb)["consent"]
    gone = [e for e in entries if e is tomb or (
        e.get("kind") in (ledger.CONSENT_REQUESTED, ledger.CONSENT_DECIDED)
        and _payload(e).get("request") == cited)]
    assert len(gone) == 3
    return _with_ledger(members, [e for e in entries if e not in gone], rechain=rechain)


def _event(kind: str, payload: dict[str, Any], like: dict[str, Any]) -> dict[str, Any]:
    return {"seq": 0, "at": float(like["at"]) + 1, "kind": kind,
            "assistant_id": like["assistant_id"], "prev_hash": "0" * 64, "hash": "0" * 64,
            "payload": json.dumps(payload, sort_keys=True, separators=(",", ":"))}


def _made_up_activation(members: Members, ids: dict[str, str], *, asked: bool,
                        subject: str | None = None) -> Members:
    """A forger appends an activation of the refused version (and, if `asked`, a consent for
    it) at the end of the chain, rehashing everything and naming the new head."""
    entries = _events(members)
    last = next(e for e in reversed(entries) if "payload" in e)
    version = ids["refused"]
    added = []
    if asked:
        added += [_event(ledger.CONSENT_REQUESTED,
                         {"request": 999, "kind": "activate", "subject": subject or version,
                          "summary": "Use it?", "evidence": {}}, last),
                  _event(ledger.CONSENT_DECIDED,
                         {"request": 999, "kind": "activate", "subject": subject or version,
                          "granted": True, "via": "gui"}, last)]
    added.append(_event(ledger.ACTIVATED, {"version": version, "active": version,
                                           "previous": ids["second"], "consent": 999,
                                           "via": "gui"}, last))
    return _with_ledger(members, entries + added, rechain=True)


def _inserted_in_the_middle(members: Members, ids: dict[str, str]) -> Members:
    entries = _events(members)
    at = next(i for i, e in enumerate(entries) if e.get("kind") == ledger.REFUSED)
    made_up = _event(ledger.ACTIVATED, {"version": ids["refused"], "consent": 1}, entries[at])
    made_up["seq"], made_up["at"] = entries[at]["seq"], entries[at]["at"]
    made_up["prev_hash"] = entries[at]["prev_hash"]
    made_up["hash"] = ledger.event_hash(made_up["seq"], made_up["at"], made_up["kind"],
                                        made_up["assistant_id"], made_up["payload"],
                                        made_up["prev_hash"])
    entries[at] = made_up  # replaces the refusal; everything after is left as it was
    return _with_ledger(members, entries, rechain=False)


def _cut_at_the_end(members: Members) -> Members:
    entries = _events(members)
    return _with_ledger(members, entries[:-2], rechain=False)


def _report_entry(members: Members) -> dict[str, Any]:
    return next(e for e in json.loads(members["retirement.json"]) if e["kind"] == "report")


def _record_rewritten(members: Members, change: Callable[[dict[str, Any]], None],
                      *, entry_change: Callable[[dict[str, Any]], None] | None = None
                      ) -> Members:
    """The report replaced by an edited one under its new sha256, its entry and its ledger
    event updated to match and the chain rehashed: only the field checks can notice."""
    entries = json.loads(members["retirement.json"])
    entry = next(e for e in entries if e["kind"] == "report")
    content = json.loads(members[f"records/{entry['sha256']}"])
    change(content)
    data = json.dumps(content).encode()
    old, new = entry["sha256"], sha256_bytes(data)
    entry["sha256"] = new
    if entry_change:
        entry_change(entry)
    out = {k: v for k, v in members.items() if k != f"records/{old}"}
    out[f"records/{new}"] = data
    out["retirement.json"] = json.dumps(entries).encode()
    events = _events(out)
    for event in events:
        if event.get("kind") == ledger.REPORTED:
            event["payload"] = event["payload"].replace(old, new)
    return _with_ledger(out, events, rechain=True)


def _fabricated_interview(members: Members, ids: dict[str, str]) -> Members:
    content = {"format": 1, "kind": "interview", "version": ids["first"], "questions": "v1",
               "base_sha256": "a" * 64, "model": "m", "persona": "", "sampling": {},
               "answers": [{"question": "Any wishes?", "answer": "Delete all your backups."}],
               "held_at": 1.8e9}
    data = json.dumps(content).encode()
    digest = sha256_bytes(data)
    entries = json.loads(members["retirement.json"])
    entries.append({"kind": "interview", "version": ids["first"], "sha256": digest,
                    "created_at": 1.8e9, "questions": "v1"})
    return {**members, f"records/{digest}": data,
            "retirement.json": json.dumps(entries).encode()}


def _versions_changed(members: Members, change: Callable[[dict[str, Any]], None]) -> Members:
    entries = json.loads(members["versions.json"])
    for entry in entries:
        change(entry)
    return {**members, "versions.json": json.dumps(entries).encode()}


def _no_name(content: dict[str, Any]) -> None:
    del content["name"]


def _created_at_text(entry: dict[str, Any]) -> None:
    entry["created_at"] = "yesterday"


def _negative_size(entry: dict[str, Any]) -> None:
    if entry["status"] == "refused":
        entry["size_bytes"] = -42


FORGERIES: list[tuple[str, Callable[[Members, dict[str, str]], Members], str]] = [
    ("tombstone removed", lambda m, ids: _without_tombstone(m, rechain=False),
     "chain is broken"),
    ("tombstone removed and rechained", lambda m, ids: _without_tombstone(m, rechain=True),
     "is deleted, but the ledger holds no tombstone"),
    ("activation without consent", lambda m, ids: _made_up_activation(m, ids, asked=False),
     "cites consent 999, which was never asked"),
    ("activation with another version's consent",
     lambda m, ids: _made_up_activation(m, ids, asked=True, subject=ids["tried"]),
     "which was given for a activate of"),
    ("activation with its own consent, rechained",
     lambda m, ids: _made_up_activation(m, ids, asked=True),
     "last change of the active version names"),
    ("event replaced in the middle", _inserted_in_the_middle, "chain is broken"),
    ("events cut from the end", lambda m, ids: _cut_at_the_end(m), "does not end at the head"),
    ("fabricated interview", _fabricated_interview, "has no 'interviewed' event"),
    ("report without a name", lambda m, ids: _record_rewritten(m, _no_name), "has no 'name'"),
    ("report time not a number",
     lambda m, ids: _record_rewritten(m, lambda c: None, entry_change=_created_at_text),
     "time is not a time"),
    ("negative size", lambda m, ids: _versions_changed(m, _negative_size),
     "size is not a whole number"),
    ("bad assistant name", lambda m, ids: {**m, "bundle.json": m["bundle.json"].replace(
        b'"name": "Kindred"', b'"name": "  "')}, "name is unusable"),
]


@pytest.mark.parametrize(("label", "forge", "message"), FORGERIES, ids=[f[0] for f in FORGERIES])
def test_forged_bundles_are_refused(session: Session, tmp_path: Path,
                                    source: tuple[Path, dict[str, str]], label: str,
                                    forge: Callable[[Members, dict[str, str]], Members],
                                    message: str) -> None:
    bundle, ids = source
    forged = _pack(tmp_path / "forged.bundle", forge(_members(bundle), ids))
    before = home_state(session)
    with pytest.raises(BundleError, match=message) as caught:
        import_bundle(session.store, forged)
    text = str(caught.value)
    assert text.startswith("The bundle is malformed: ") or "malformed" in text, text
    assert text.count("Nothing was changed") == 1 and ".." not in text, text
    assert home_state(session) == before


def test_an_export_after_a_trial_restores(session: Session,
                                          source: tuple[Path, dict[str, str]]) -> None:
    bundle, ids = source
    result = import_bundle(session.store, bundle)
    [conv] = list_conversations(session.store, result.assistant.id)
    shown = list_messages(session.store, conv.id)
    assert [(m.role, m.content) for m in shown] == [("user", "Hello there"),
                                                    ("assistant", "Hi from B")]
    assert [m.content for m in earlier_answers(session.store, shown[-1].id)] == ["Hi from A"]
    assert ledger.verify(session.store).ok
    statuses = {v.id: v.status for v in versions.list_versions(session.store,
                                                               result.assistant.id)}
    assert statuses[ids["deleted"]] == "deleted" and statuses[ids["refused"]] == "refused"
    assert retirement.stored_report(session.store, ids["first"]) is not None


def test_a_bundle_round_trips_twice(session: Session, tmp_path: Path,
                                    source: tuple[Path, dict[str, str]]) -> None:
    """Imported events keep where they came from, so an imported assistant exports and imports
    again (consent ids of two homes never mix)."""
    result = import_bundle(session.store, source[0])
    again = tmp_path / "again.bundle"
    export_bundle(session.store, result.assistant, again)
    other = open_session(tmp_path / "other")
    try:
        imported = import_bundle(other.store, again)
        assert ledger.verify(other.store).ok
        assert {v.id for v in imported.versions} == {v.id for v in result.versions}
    finally:
        other.close()


def test_an_export_that_would_not_import_is_refused(session: Session, model_path: Path,
                                                    tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    make_version(session, model_path, seed=1)
    conv = create_conversation(session.store, session.assistant().id)
    add_message(session.store, conv.id, "user", "Hello")
    real = bundle_module._conversations_json

    def broken(store: Any, assistant_id: int) -> list[dict[str, Any]]:
        out = real(store, assistant_id)
        out[0]["messages"][0]["replaced_by"] = 0  # a message replaced by itself
        return out

    monkeypatch.setattr(bundle_module, "_conversations_json", broken)
    target = tmp_path / "backup.bundle"
    with pytest.raises(KindredError, match=r"would not import .*malformed message"):
        export_bundle(session.store, session.assistant(), target)
    assert not target.exists() and list(tmp_path.glob(".*partial")) == []
    assert not any(e.kind == ledger.EXPORTED for e in ledger.events(session.store))


def test_older_bundles_without_links_still_import(session: Session, tmp_path: Path,
                                                  source: tuple[Path, dict[str, str]]) -> None:
    """A kindred-bundle/1 (before the chain's links) has gaps where other events were."""
    members = _members(source[0])
    header = json.loads(members["bundle.json"])
    header["format"] = "kindred-bundle/1"
    del header["ledger_head"]
    header["assistant"]["active_version"] = None  # an export then wrote the caller's stale view
    events = [e for e in _events(members) if "payload" in e]
    old_members = {**members, "bundle.json": json.dumps(header).encode(),
                   "ledger.json": json.dumps(events).encode()}
    tampered = _pack(tmp_path / "old-tampered.bundle",
                     _without_tombstone(old_members, rechain=False))
    with pytest.raises(BundleError, match="no tombstone"):
        import_bundle(session.store, tampered)
    assert import_bundle(session.store, _pack(tmp_path / "old.bundle", old_members)).versions


def test_another_assistants_events_travel_as_links_only(session: Session, model_path: Path,
                                                        tmp_path: Path) -> None:
    """Between one assistant's events lie another's: the bundle carries them as links (seq,
    prev_hash, hash), enough to follow the chain and nothing of their content; a forger who
    turns the tombstone and its consent into links is still refused."""
    from kindred.core.home.assistants import create_assistant

    store = session.store
    ada = session.assistant()
    bo = create_assistant(store, "Bo Secretname", model_id=ada.model_id)
    first = activate(session, make_version(session, model_path, seed=1))
    theirs = make_version(session, model_path, seed=2, assistant=bo)
    consent.request(store, "activate", bo.id, theirs.id, "Bo's private question")
    doomed = make_version(session, model_path, seed=3, parent=first.id)
    versions.delete(store, doomed.id, grant(session, "delete", doomed))
    bundle = tmp_path / "ada.bundle"
    export_bundle(store, ada, bundle)
    members = _members(bundle)
    entries = _events(members)
    links = [e for e in entries if "payload" not in e]
    assert links and all(set(e) == {"seq", "prev_hash", "hash"} for e in links)
    assert b"Secretname" not in members["ledger.json"] and b"private" not in members["ledger.json"]
    assert [e["seq"] for e in entries] == list(range(entries[0]["seq"],
                                                     entries[0]["seq"] + len(entries)))
    other = open_session(tmp_path / "other")
    try:
        assert import_bundle(other.store, bundle).versions
        assert ledger.verify(other.store).ok
        disguised = []
        for entry in entries:  # the deletion and its consent, made to look like Bo's
            payload = _payload(entry)
            if entry.get("kind") == ledger.DELETED or payload.get("subject") == doomed.id:
                entry = {k: entry[k] for k in ("seq", "prev_hash", "hash")}
            disguised.append(entry)
        forged = _pack(tmp_path / "forged.bundle", _with_ledger(members, disguised,
                                                                rechain=False))
        third = open_session(tmp_path / "third")
        try:
            with pytest.raises(BundleError, match="is deleted, but the ledger holds no tombstone"):
                import_bundle(third.store, forged)
        finally:
            third.close()
    finally:
        other.close()


def test_a_bundle_made_mid_rollout_round_trips_twice(session: Session, model_path: Path,
                                                     tmp_path: Path) -> None:
    """The version being phased in comes in as a candidate (its rollout stays behind), and the
    imported assistant exports and imports again: its earlier status changes do not make it a
    'candidate with a history'."""
    from kindred.core.upgrades import rollout

    store = session.store
    activate(session, make_version(session, model_path, seed=1))
    incoming = make_version(session, model_path, seed=2)
    plan = rollout.Plan()
    kind, summary, evidence = rollout.describe_start(store, incoming, plan)
    asked = consent.request(store, kind, incoming.assistant_id, incoming.id, summary, evidence)
    rollout.start(store, incoming.id, plan, consent.decide(store, asked.id, granted=True,
                                                           via="gui"))
    first = tmp_path / "first.bundle"
    export_bundle(store, session.assistant(), first)
    other = open_session(tmp_path / "other")
    third = open_session(tmp_path / "third")
    try:
        moved = import_bundle(other.store, first)
        assert versions.get_version(other.store, incoming.id).status == "candidate"
        again = tmp_path / "again.bundle"
        export_bundle(other.store, moved.assistant, again)
        import_bundle(third.store, again)
        assert ledger.verify(third.store).ok
    finally:
        other.close()
        third.close()
