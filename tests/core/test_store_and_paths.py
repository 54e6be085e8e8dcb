from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kindred.core.errors import KindredError
from kindred.core.paths import DataHome, resolve_home
from kindred.core.store import MIGRATIONS, open_store


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
