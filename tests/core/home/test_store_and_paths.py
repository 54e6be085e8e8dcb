from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kindred.core.basics.errors import KindredError
from kindred.core.home.paths import DataHome, resolve_home
from kindred.core.home.store import MIGRATIONS, open_store


def test_home_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINDRED_HOME", str(tmp_path / "env"))
    assert resolve_home().root == (tmp_path / "env").resolve()
    assert resolve_home(tmp_path / "flag").root == (tmp_path / "flag").resolve()
    monkeypatch.delenv("KINDRED_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert resolve_home().root == (tmp_path / "xdg" / "Kindred").resolve()


def test_layout_is_created(home: DataHome) -> None:
    for folder in (home.objects, home.datasets, home.runs, home.cache, home.tmp):
        assert folder.is_dir()


def test_store_pragmas_and_schema(home: DataHome) -> None:
    store = open_store(home)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.schema_version == len(MIGRATIONS)
    store.close()
    again = open_store(home)  # reopening applies nothing twice
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_transaction_is_all_or_nothing(home: DataHome) -> None:
    store = open_store(home)
    with pytest.raises(RuntimeError), store.tx() as db:
        db.execute("INSERT INTO ledger (at, kind, payload, prev_hash, hash) "
                   "VALUES (1, 'x', '{}', 'p', 'h')")
        raise RuntimeError("boom")
    assert store.db.execute("SELECT count(*) FROM ledger").fetchone()[0] == 0
    store.close()


def test_an_older_home_is_upgraded_in_place_keeping_its_data(home: DataHome) -> None:
    """A home written by the previous release (schema 3) gains the new column, data intact."""
    conn = sqlite3.connect(home.db_path)
    for statements in MIGRATIONS[:3]:
        for sql in statements:
            conn.execute(sql)
    conn.execute("INSERT INTO models (id, name, path, architecture, size_bytes, sha256, "
                 "embedded, added_at) VALUES ('m', 'M', '/m.gguf', 'llama', 1, 'ab', 0, 1)")
    conn.execute("INSERT INTO assistants (id, name, persona, model_id, created_at) "
                 "VALUES (1, 'Old', 'p', 'm', 1)")
    conn.execute("INSERT INTO conversations (id, assistant_id, title, created_at, updated_at) "
                 "VALUES (1, 1, 't', 1, 1)")
    conn.execute("INSERT INTO messages (conversation_id, role, content, created_at) "
                 "VALUES (1, 'assistant', 'kept', 1)")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    store = open_store(home)
    assert store.schema_version == len(MIGRATIONS) >= 4
    rows = list(store.db.query("SELECT content, replaced_by FROM messages"))
    assert rows == [{"content": "kept", "replaced_by": None}]
    store.close()


def test_newer_schema_is_refused_unchanged(home: DataHome) -> None:
    conn = sqlite3.connect(home.db_path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.close()
    before = home.db_path.read_bytes()
    with pytest.raises(KindredError, match="newer Kindred"):
        open_store(home)
    assert home.db_path.read_bytes() == before


def test_foreign_file_as_database_is_refused(home: DataHome) -> None:
    home.db_path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(KindredError, match="not a Kindred database"):
        open_store(home)
    assert home.db_path.read_bytes() == b"this is not sqlite at all" * 100
