"""The ledger: every tampering (edit, deletion anywhere, reordering) is found and named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kindred.core.home import ledger
from kindred.core.session import Session
from support.archive_helpers import activate, make_version


@pytest.fixture
def chained(session: Session, model_path: Path) -> Session:
    """A ledger with a dozen real events (model, assistant, versions, consent, activation)."""
    first = make_version(session, model_path, seed=1)
    second = make_version(session, model_path, seed=2, parent=first.id)
    activate(session, first)
    activate(session, second)
    assert ledger.verify(session.store).ok
    return session


def _rows(session: Session) -> int:
    return int(session.store.db.execute("SELECT COUNT(*) FROM ledger").fetchone()[0])


def test_the_chain_covers_every_kind_of_event(chained: Session) -> None:
    kinds = [e.kind for e in ledger.events(chained.store)]
    for kind in (ledger.MODEL_ADDED, ledger.ASSISTANT_CREATED, ledger.VERSION_ARCHIVED,
                 ledger.CONSENT_REQUESTED, ledger.CONSENT_DECIDED, ledger.ACTIVATED):
        assert kind in kinds
    check = ledger.verify(chained.store)
    assert check.ok and check.count == _rows(chained) and check.first_bad is None


def test_an_edited_payload_is_named(chained: Session) -> None:
    db = chained.store.db
    row = db.execute("SELECT seq, payload FROM ledger WHERE kind = 'activated' "
                     "ORDER BY seq LIMIT 1").fetchone()
    payload = json.loads(row[1])
    payload["version"] = "0" * 64
    db.execute("UPDATE ledger SET payload = ? WHERE seq = ?",
               [json.dumps(payload, sort_keys=True, separators=(",", ":")), row[0]])
    check = ledger.verify(chained.store)
    assert not check.ok and check.first_bad == row[0]
    assert "altered" in check.reason


def test_an_edited_time_is_named(chained: Session) -> None:
    chained.store.db.execute("UPDATE ledger SET at = at - 86400 WHERE seq = 4")
    check = ledger.verify(chained.store)
    assert (check.ok, check.first_bad) == (False, 4)


def test_a_rehashed_row_still_breaks_the_next_link(chained: Session) -> None:
    """Recomputing the edited row's own hash does not help: the next row points at the old one."""
    db = chained.store.db
    row = dict(next(db.query("SELECT * FROM ledger WHERE seq = 3")))
    row["kind"] = "nothing_happened"
    row["hash"] = ledger.event_hash(3, row["at"], row["kind"], row["assistant_id"],
                                    row["payload"], row["prev_hash"])
    db.execute("UPDATE ledger SET kind = ?, hash = ? WHERE seq = 3", [row["kind"], row["hash"]])
    check = ledger.verify(chained.store)
    assert (check.ok, check.first_bad) == (False, 4)
    assert "does not follow" in check.reason


def test_a_deleted_middle_row_is_named(chained: Session) -> None:
    chained.store.db.execute("DELETE FROM ledger WHERE seq = 5")
    check = ledger.verify(chained.store)
    assert (check.ok, check.first_bad) == (False, 6)
    assert "event 5 is missing" in check.reason


def test_deleted_newest_rows_are_caught_by_the_head_witness(chained: Session) -> None:
    last = _rows(chained)
    chained.store.db.execute("DELETE FROM ledger WHERE seq > ?", [last - 2])
    check = ledger.verify(chained.store)
    assert (check.ok, check.first_bad) == (False, last - 1)
    assert f"events {last - 1} to {last} were removed" in check.reason
    # appending afterwards does not paper over the gap
    ledger.append(chained.store, "note", {"x": 1})
    after = ledger.verify(chained.store)
    assert not after.ok and f"event {last - 1} is missing" in after.reason


def test_a_removed_head_witness_is_reported(chained: Session) -> None:
    chained.store.db.execute("DELETE FROM ledger_head")
    check = ledger.verify(chained.store)
    assert not check.ok and "head record is missing" in check.reason


def test_reordered_rows_are_named(chained: Session) -> None:
    db = chained.store.db
    a = dict(next(db.query("SELECT * FROM ledger WHERE seq = 6")))
    b = dict(next(db.query("SELECT * FROM ledger WHERE seq = 7")))
    with chained.store.tx():
        db.execute("DELETE FROM ledger WHERE seq IN (6, 7)")
        for row, seq in ((b, 6), (a, 7)):
            db.execute("INSERT INTO ledger (seq, at, kind, assistant_id, payload, prev_hash, "
                       "hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       [seq, row["at"], row["kind"], row["assistant_id"], row["payload"],
                        row["prev_hash"], row["hash"]])
    check = ledger.verify(chained.store)
    assert (check.ok, check.first_bad) == (False, 6)


def test_a_row_added_outside_the_ledger_is_named(chained: Session) -> None:
    last = _rows(chained)
    chained.store.db.execute(
        "INSERT INTO ledger (seq, at, kind, assistant_id, payload, prev_hash, hash) "
        "SELECT seq + 1, at, kind, assistant_id, payload, hash, 'forged' FROM ledger "
        "WHERE seq = ?", [last])
    check = ledger.verify(chained.store)
    assert (check.ok, check.first_bad) == (False, last + 1)


def test_older_homes_get_a_head_witness_on_upgrade(tmp_path: Path) -> None:
    """A schema-1 home (no witness) is upgraded with the witness seeded from its chain."""
    import sqlite3

    from kindred.core.home.paths import DataHome
    from kindred.core.home.store import MIGRATIONS, open_store

    home = DataHome(tmp_path / "old").ensure()
    conn = sqlite3.connect(home.db_path, isolation_level=None)
    for sql in MIGRATIONS[0]:
        conn.execute(sql)
    prev = ledger.GENESIS
    for seq in (1, 2, 3):
        payload = json.dumps({"n": seq})
        digest = ledger.event_hash(seq, float(seq), "note", None, payload, prev)
        conn.execute("INSERT INTO ledger VALUES (?, ?, 'note', NULL, ?, ?, ?)",
                     [seq, float(seq), payload, prev, digest])
        prev = digest
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    store = open_store(home)
    try:
        assert ledger.verify(store).ok
        assert store.db.execute("SELECT seq, hash FROM ledger_head").fetchone() == (3, prev)
        assert ledger.append(store, "note", {"n": 4}).seq == 4
        assert ledger.verify(store).ok
    finally:
        store.close()
