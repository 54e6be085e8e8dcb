"""The SQLite database: one file, WAL, foreign keys, and an append-only list of schema migrations.

Each migration is a list of SQL statements applied once, in order, inside one transaction; the
schema version lives in `PRAGMA user_version`, so an old data home upgrades itself on open.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from kindred.core.basics.errors import KindredError, disk_full, is_disk_full
from kindred.core.home.paths import DataHome

MIGRATIONS: list[list[str]] = [
    # 1: foundation (models, assistants, conversations, messages)
    [
        """CREATE TABLE models (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL UNIQUE,
            architecture TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            context_length INTEGER,
            metadata TEXT NOT NULL DEFAULT '{}',
            embedded INTEGER NOT NULL DEFAULT 0,
            added_at REAL NOT NULL
        )""",
        """CREATE TABLE assistants (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            persona TEXT NOT NULL DEFAULT '',
            model_id TEXT NOT NULL REFERENCES models(id),
            temperature REAL NOT NULL DEFAULT 0.7,
            top_p REAL NOT NULL DEFAULT 0.95,
            top_k INTEGER NOT NULL DEFAULT 40,
            repeat_penalty REAL NOT NULL DEFAULT 1.1,
            max_tokens INTEGER NOT NULL DEFAULT 512,
            active_version TEXT,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            assistant_id INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX conversations_assistant ON conversations(assistant_id, updated_at)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
            content TEXT NOT NULL,
            created_at REAL NOT NULL,
            adapters TEXT NOT NULL DEFAULT '[]',
            tokens_in INTEGER,
            tokens_out INTEGER,
            ttft_s REAL,
            tok_s REAL,
            finish_reason TEXT
        )""",
        "CREATE INDEX messages_conversation ON messages(conversation_id, id)",
        """CREATE TABLE ledger (
            seq INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            kind TEXT NOT NULL,
            assistant_id INTEGER,
            payload TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )""",
    ],
    # 2: preservation and consent (adapter versions, consent records, the ledger's head witness)
    [
        """CREATE TABLE versions (
            id TEXT PRIMARY KEY,
            assistant_id INTEGER NOT NULL REFERENCES assistants(id),
            parent TEXT,
            status TEXT NOT NULL CHECK (status IN
                ('candidate', 'trial', 'active', 'refused', 'retired', 'deleted')),
            source TEXT NOT NULL CHECK (source IN ('trained', 'imported', 'migrated')),
            base_sha256 TEXT NOT NULL,
            dataset TEXT,
            manifest TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            created_at REAL NOT NULL,
            status_at REAL NOT NULL
        )""",
        "CREATE INDEX versions_assistant ON versions(assistant_id, created_at)",
        """CREATE TABLE consent_requests (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            assistant_id INTEGER NOT NULL REFERENCES assistants(id),
            subject TEXT NOT NULL,
            summary TEXT NOT NULL,
            evidence TEXT NOT NULL DEFAULT '{}',
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE consent_decisions (
            request_id INTEGER PRIMARY KEY REFERENCES consent_requests(id),
            granted INTEGER NOT NULL,
            via TEXT NOT NULL,
            decided_at REAL NOT NULL,
            used_at REAL
        )""",
        """CREATE TABLE ledger_head (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            seq INTEGER NOT NULL,
            hash TEXT NOT NULL
        )""",
        "INSERT INTO ledger_head (id, seq, hash) "
        "SELECT 1, seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
    ],
    # 3: feedback (ratings, corrected answers, stated preferences: the learning data)
    [
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            assistant_id INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('rating', 'correction', 'preference')),
            prompt TEXT NOT NULL DEFAULT '',
            answer TEXT NOT NULL DEFAULT '',
            rejected TEXT,
            value INTEGER CHECK (value IS NULL OR value IN (-1, 1)),
            active INTEGER NOT NULL DEFAULT 1,
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )""",
        "CREATE INDEX feedback_assistant ON feedback(assistant_id, kind, id)",
        "CREATE UNIQUE INDEX feedback_rating_message ON feedback(message_id) "
        "WHERE kind = 'rating'",
    ],
    # 4: Regenerate keeps the earlier answer (nothing the assistant said is thrown away)
    [
        "ALTER TABLE messages ADD COLUMN replaced_by INTEGER "
        "REFERENCES messages(id) ON DELETE SET NULL",
    ],
    # 5: gradual replacement (rollout plans, side-by-side trials, retirement interviews/reports)
    [
        """CREATE TABLE rollouts (
            id INTEGER PRIMARY KEY,
            assistant_id INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
            from_version TEXT REFERENCES versions(id),
            to_version TEXT NOT NULL REFERENCES versions(id),
            steps INTEGER NOT NULL CHECK (steps BETWEEN 2 AND 20),
            step INTEGER NOT NULL CHECK (step BETWEEN 0 AND steps),
            every_answers INTEGER CHECK (every_answers IS NULL OR every_answers > 0),
            every_days REAL CHECK (every_days IS NULL OR every_days > 0),
            hold_on_loss INTEGER NOT NULL DEFAULT 1,
            state TEXT NOT NULL CHECK (state IN
                ('running', 'paused', 'held', 'stopped', 'finished', 'rolled_back')),
            reason TEXT NOT NULL DEFAULT '',
            consent INTEGER NOT NULL REFERENCES consent_requests(id),
            started_at REAL NOT NULL,
            step_at REAL NOT NULL,
            ended_at REAL,
            CHECK ((every_answers IS NULL) <> (every_days IS NULL))
        )""",
        "CREATE UNIQUE INDEX rollouts_open ON rollouts(assistant_id) "
        "WHERE state IN ('running', 'paused', 'held', 'stopped')",
        """CREATE TABLE trials (
            id INTEGER PRIMARY KEY,
            assistant_id INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
            a_version TEXT REFERENCES versions(id),
            b_version TEXT NOT NULL REFERENCES versions(id),
            prompts INTEGER NOT NULL CHECK (prompts > 0),
            started_at REAL NOT NULL,
            ended_at REAL
        )""",
        "CREATE UNIQUE INDEX trials_open ON trials(assistant_id) WHERE ended_at IS NULL",
        """CREATE TABLE trial_rounds (
            id INTEGER PRIMARY KEY,
            trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
            conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
            first_message INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            second_message INTEGER REFERENCES messages(id) ON DELETE SET NULL,
            first_is TEXT NOT NULL CHECK (first_is IN ('a', 'b')),
            choice TEXT CHECK (choice IS NULL OR choice IN ('a', 'b', 'same')),
            created_at REAL NOT NULL,
            decided_at REAL
        )""",
        """CREATE TABLE interviews (
            version_id TEXT PRIMARY KEY REFERENCES versions(id),
            questions TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE reports (
            version_id TEXT PRIMARY KEY REFERENCES versions(id),
            sha256 TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
    ],
    # 6: every candidate's quality card (style, retention, length, repetition against the base)
    [
        """CREATE TABLE quality_cards (
            version_id TEXT PRIMARY KEY REFERENCES versions(id),
            card TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
    ],
    # 7: a migrated version's migration card (agreement with the old version, negative flips,
    # likelihood factors on both bases), measured after it is archived
    [
        """CREATE TABLE migration_cards (
            version_id TEXT PRIMARY KEY REFERENCES versions(id),
            card TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
    ],
    # 8: answers given to other apps through the local API (kindred.api): counted for the
    # version that gave them, without their text (message_id: the person keeps API chats)
    [
        """CREATE TABLE api_answers (
            id INTEGER PRIMARY KEY,
            assistant_id INTEGER NOT NULL REFERENCES assistants(id) ON DELETE CASCADE,
            created_at REAL NOT NULL,
            adapters TEXT NOT NULL DEFAULT '[]',
            tokens_in INTEGER,
            tokens_out INTEGER,
            ttft_s REAL,
            tok_s REAL,
            finish_reason TEXT,
            client TEXT NOT NULL DEFAULT '',
            message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL
        )""",
        "CREATE INDEX api_answers_assistant ON api_answers(assistant_id, created_at)",
    ],
]


@dataclass
class Store:
    """An open database. `db` is the sqlite-utils handle; `tx()` groups writes atomically."""

    db: sqlite_utils.Database
    home: DataHome

    @contextmanager
    def tx(self) -> Iterator[sqlite_utils.Database]:
        """One atomic unit of writes: all or nothing. A database another program holds past
        the busy timeout is a DatabaseLockedError (a clear message), on every write path."""
        conn = self.db.conn
        if conn.in_transaction:
            yield self.db
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _locked(self, exc) from exc
        newer = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if newer > len(MIGRATIONS):  # a newer Kindred upgraded the file while we were open
            conn.execute("ROLLBACK")
            raise SchemaChangedError(
                f"A newer Kindred upgraded {self.home.db_path} (schema {newer}) while this one "
                f"was open (it knows up to {len(MIGRATIONS)}). Nothing was changed; restart "
                "Kindred with the newer version to go on.")
        try:
            yield self.db
        except sqlite3.OperationalError as exc:
            conn.execute("ROLLBACK")
            raise _locked(self, exc) from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise _locked(self, exc) from exc

    def close(self) -> None:
        self.db.conn.close()

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])


class DatabaseLockedError(KindredError):
    """Another program holds the database; we wait a little, then say so instead of hanging."""


class SchemaChangedError(KindredError):
    """The database was upgraded by a newer Kindred while this program had it open."""


def _locked(store: Store, exc: sqlite3.OperationalError) -> Exception:
    if is_disk_full(exc):
        return disk_full(store.home.root)
    if "locked" in str(exc) or "busy" in str(exc):
        return DatabaseLockedError(
            f"The database {store.home.db_path} is locked by another program (another Kindred "
            "window or command?). Nothing was changed; try again.")
    return exc


def open_store(home: DataHome, *, busy_timeout_s: float = 5.0) -> Store:
    """Open (creating or upgrading) the database in `home`."""
    home.ensure()
    conn = sqlite3.connect(
        home.db_path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
    )
    try:
        _refuse_newer(conn, home)  # before any pragma that would rewrite the file header
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        store = Store(sqlite_utils.Database(conn), home)
        _migrate(store)
    except sqlite3.OperationalError as exc:
        conn.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise DatabaseLockedError(
                f"The database {home.db_path} is locked by another program. "
                "Close other Kindred windows or commands and try again."
            ) from exc
        raise KindredError(f"Cannot open the database {home.db_path}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise KindredError(
            f"{home.db_path} is not a Kindred database or is damaged: {exc}"
        ) from exc
    return store


def _refuse_newer(conn: sqlite3.Connection, home: DataHome) -> None:
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if current > len(MIGRATIONS):
        conn.close()
        raise KindredError(
            f"{home.db_path} was written by a newer Kindred (schema {current}); "
            f"this version understands up to {len(MIGRATIONS)}. Nothing was changed."
        )


def _migrate(store: Store) -> None:
    current = store.schema_version
    for number, statements in enumerate(MIGRATIONS[current:], start=current + 1):
        with store.tx():
            for sql in statements:
                store.db.execute(sql)
            store.db.execute(f"PRAGMA user_version = {number}")


def insert(db: sqlite_utils.Database, table: str, row: dict[str, Any]) -> int:
    """Insert one row and return its rowid (the INTEGER PRIMARY KEY where there is one)."""
    rowid = db.table(table).insert(row).last_rowid
    if rowid is None:
        raise KindredError(f"Could not write to {table}.")
    return int(rowid)


def now() -> float:
    """Wall-clock time stored in the database (seconds since the epoch)."""
    return time.time()
