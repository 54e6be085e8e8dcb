"""Bad input from bundles, the command line and other programs: refused with a clear message,
nothing changed. Forged bundles are re-hashed as a careful forger would, so only the field
checks stand between them and the data home."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_bundle import _members, _pack, source  # noqa: F401  (source: a fixture)

from kindred.core.basics.errors import KindredError
from kindred.core.bundles.bundle import BundleError, export_bundle, import_bundle
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import create_conversation
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import create_assistant
from kindred.core.home.store import DatabaseLockedError, open_store
from kindred.core.learning import feedback
from kindred.core.session import Session, open_session
from support.archive_helpers import home_state, make_version


def _json(members: dict[str, bytes], name: str, change: Callable[[Any], None]
          ) -> dict[str, bytes]:
    data = json.loads(members[name])
    change(data)
    return {**members, name: json.dumps(data).encode()}


def _sampling(key: str, value: Any) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    return lambda m: _json(m, "bundle.json",
                           lambda h: h["assistant"]["sampling"].__setitem__(key, value))


def _named(name: str) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    return lambda m: _json(m, "bundle.json", lambda h: h["assistant"].__setitem__("name", name))


def _conversation_time(m: dict[str, bytes]) -> dict[str, bytes]:
    return _json(m, "conversations.json", lambda c: c[0].__setitem__("created_at", "abc"))


def _feedback_time(m: dict[str, bytes]) -> dict[str, bytes]:
    return _json(m, "feedback.json", lambda f: f[0].__setitem__("created_at", "abc"))


def _feedback_updated_null(m: dict[str, bytes]) -> dict[str, bytes]:
    return _json(m, "feedback.json", lambda f: f[0].__setitem__("updated_at", None))


def _huge_preference(m: dict[str, bytes]) -> dict[str, bytes]:
    def grow(items: list[dict[str, Any]]) -> None:
        pref = next(i for i in items if i["kind"] == "preference")
        pref["answer"] = "x" * 39_000
    return _json(m, "feedback.json", grow)


def _forged_1970(m: dict[str, bytes]) -> dict[str, bytes]:
    """`activated` events dated 1970, with the whole chain re-hashed."""
    def forge(events: list[dict[str, Any]]) -> None:
        prev = ledger.GENESIS
        for event in events:
            if event["kind"] == ledger.ACTIVATED:
                event["at"] = 1.0
            event["prev_hash"] = prev
            event["hash"] = prev = ledger.event_hash(
                int(event["seq"]), float(event["at"]), event["kind"], event["assistant_id"],
                event["payload"], prev)
    return _json(m, "ledger.json", forge)


FORGED = [
    ("top_k 40.5", _sampling("top_k", 40.5), "top_k must be a whole number"),
    ("max_tokens 100.7", _sampling("max_tokens", 100.7), "max_tokens must be a whole number"),
    ("temperature text", _sampling("temperature", "hot"), "temperature must be a number"),
    ("conversation created_at abc", _conversation_time, "conversation 1's creation time"),
    ("feedback created_at abc", _feedback_time, "learning-data item 1's creation time"),
    ("feedback updated_at null", _feedback_updated_null, "update time is not a time"),
    ("39 kB preference", _huge_preference, "too long"),
    ("activated in 1970", _forged_1970, "impossible time"),
    ("name with NUL", _named("Evil\x00Twin"), "control character U\\+0000"),
    ("name with ESC", _named("\x1b[31mRed"), "control character U\\+001B"),
    ("name of 5000 characters", _named("n" * 5000), "at most 100 characters"),
]


@pytest.mark.parametrize(("label", "forge", "message"), FORGED, ids=[f[0] for f in FORGED])
def test_forged_bundle_fields_are_refused(session: Session, tmp_path: Path,
                                          source: tuple[Path, dict[str, str]],  # noqa: F811
                                          label: str, forge: Any, message: str) -> None:
    bad = _pack(tmp_path / "bad.bundle", forge(_members(source[0])))
    before = home_state(session)
    with pytest.raises(BundleError, match=message) as caught:
        import_bundle(session.store, bad)
    assert "Nothing was changed" in str(caught.value)
    assert home_state(session) == before


def test_names_are_text_and_ids_need_a_hash(session: Session) -> None:
    first = session.assistant()
    seven = create_assistant(session.store, "7")
    one = create_assistant(session.store, "1")
    assert session.assistant("1").id == one.id != first.id  # the name, not id 1
    assert session.assistant("7").id == seven.id
    assert session.assistant(f"#{first.id}").id == first.id
    assert session.assistant(first.id).id == first.id
    for bad, why in (("\x1b[31mRed", "U\\+001B"), ("a\x00b", "U\\+0000"),
                     ("x" * 101, "at most 100")):
        with pytest.raises(KindredError, match=why):
            create_assistant(session.store, bad)


def test_every_write_path_says_locked_clearly(session: Session) -> None:
    """teach, examples add and chat used store.tx() directly: a raw sqlite3 error."""
    assistant = session.assistant()
    conv = create_conversation(session.store, assistant.id)
    holder = sqlite3.connect(session.home.db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    other = open_store(session.home, busy_timeout_s=0.1)
    try:
        for write in (lambda: feedback.add_preference(other, assistant.id, "Be brief."),
                      lambda: feedback.add_example(other, assistant.id, "Hi", "Ahoy"),
                      lambda: chat.prepare(other, assistant, conv.id, "Hello")):
            with pytest.raises(DatabaseLockedError, match="locked by another program"):
                write()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        other.close()
    assert feedback.list_feedback(session.store, assistant.id) == []


def test_ledger_verify_proves_each_cited_consent(session: Session, model_path: Path) -> None:
    version = make_version(session, model_path)
    # A consent inserted into the database by hand, then used: the gate accepts the rows...
    from kindred.core.archive import assistant_state

    db = session.store.db
    state = assistant_state.fingerprint(session.store, version.assistant_id, version.id)
    with session.store.tx():
        db.execute("INSERT INTO consent_requests (id, kind, assistant_id, subject, summary, "
                   "evidence, created_at) VALUES (99, 'activate', ?, ?, 'x', ?, 0)",
                   [version.assistant_id, version.id, json.dumps({"state": state})])
        db.execute("INSERT INTO consent_decisions (request_id, granted, via, decided_at) "
                   "VALUES (99, 1, 'gui', 0)")
    from kindred.core.archive import versions

    assert ledger.verify(session.store).ok
    versions.activate(session.store, version.id, 99)
    # ... but the ledger holds no request or decision for it, and now says so.
    check = ledger.verify(session.store)
    assert not check.ok and "cites consent 99, which was never asked" in check.reason


def test_a_real_consent_and_an_imported_history_verify(session: Session, model_path: Path,
                                                       tmp_path: Path) -> None:
    version = make_version(session, model_path)
    from kindred.core.archive import assistant_state, versions

    state = assistant_state.fingerprint(session.store, version.assistant_id, version.id)
    req = consent.request(session.store, "activate", version.assistant_id, version.id, "Use?",
                          {"state": state})
    decision = consent.decide(session.store, req.id, granted=True, via="gui")

    versions.activate(session.store, version.id, decision)
    assert ledger.verify(session.store).ok
    bundle = tmp_path / "b.bundle"
    export_bundle(session.store, session.assistant(), bundle)
    other = open_session(tmp_path / "other")
    try:
        import_bundle(other.store, bundle)
        assert ledger.verify(other.store).ok, ledger.verify(other.store).reason
    finally:
        other.close()


def test_export_into_a_missing_folder_is_a_message(session: Session, tmp_path: Path) -> None:
    with pytest.raises(KindredError, match="does not exist"):
        export_bundle(session.store, session.assistant(), tmp_path / "nope" / "x.bundle")
    stale = tmp_path / ".x.bundle.999999999.partial"  # a killed export's leftover
    stale.write_bytes(b"half")
    export_bundle(session.store, session.assistant(), tmp_path / "x.bundle")
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


def test_a_newer_schema_arriving_while_open_says_restart(session: Session) -> None:
    """The app stays open while a newer Kindred upgrades the file: writes refuse, clearly."""
    from kindred.core.home.store import MIGRATIONS, SchemaChangedError

    newer = sqlite3.connect(session.home.db_path, isolation_level=None)
    newer.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    newer.close()
    before = feedback.list_feedback(session.store, session.assistant().id)
    with pytest.raises(SchemaChangedError, match="restart Kindred"):
        feedback.add_preference(session.store, session.assistant().id, "Be brief.")
    assert feedback.list_feedback(session.store, session.assistant().id) == before
