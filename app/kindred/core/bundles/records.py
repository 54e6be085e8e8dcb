"""Retirement records in bundles: each version's interview and post-deployment report travel
with it (`retirement.json` lists them; the files go under `records/<sha256>`), and an import
refuses any record whose bytes no longer hash to its name, that names another version, that
belongs to a version the bundle does not hold, that lacks a field the app reads (or has it of the
wrong type), or that has no matching `interviewed`/`reported` event in the bundle's ledger.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlite_utils

from kindred.core.home.record_check import KINDS, file_problem, ledger_problem, row_problem
from kindred.core.home.store import Store


def export_records(store: Store, version_ids: list[str]) -> tuple[list[dict[str, Any]],
                                                                    dict[str, Path]]:
    """(entries for retirement.json, {member name: record file}) for these versions."""
    from kindred.core.upgrades.retirement import record_path

    entries: list[dict[str, Any]] = []
    files: dict[str, Path] = {}
    wanted = set(version_ids)
    for kind, table in KINDS.items():
        columns = "version_id, sha256, created_at" + (", questions" if kind == "interview"
                                                       else "")
        for row in store.db.execute(f"SELECT {columns} FROM {table}").fetchall():
            if row[0] not in wanted:
                continue
            entry = {"kind": kind, "version": row[0], "sha256": row[1], "created_at": row[2]}
            if kind == "interview":
                entry["questions"] = row[3]
            entries.append(entry)
            files[f"records/{row[1]}"] = record_path(store, str(row[1]))
    return entries, files


def check_records(entries: Any, locate: Callable[[str], Path], versions: set[str],
                  events: list[tuple[str, dict[str, Any]]]) -> str | None:
    """What is wrong with the bundle's retirement records, or None: each entry and file field
    by field (`record_check`), and every record against its ledger event (`events`: the
    bundle's (kind, payload) pairs), one for one. `locate` gives a record member's file."""
    if not isinstance(entries, list):
        return "its retirement records are malformed"
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        problem = row_problem(entry)
        if problem is not None:
            return f"a retirement record is malformed ({problem})"
        version, digest = entry["version"], entry["sha256"]
        if version not in versions:
            return f"a retirement record belongs to version {version[:12]}, not in the bundle"
        if (entry["kind"], version) in seen:
            return f"version {version[:12]} has two {entry['kind']}s"
        seen.add((entry["kind"], version))
        path = locate(f"records/{digest}")
        if not path.is_file():
            return f"the {entry['kind']} of version {version[:12]} is missing"
        problem = file_problem(path.read_bytes(), digest, entry["kind"], version)
        if problem is not None:
            return f"the {entry['kind']} of version {version[:12]}: {problem}"
    mine = [(kind, payload) for kind, payload in events if payload.get("version") in versions]
    return ledger_problem(entries, mine)


def import_records(db: sqlite_utils.Database, store: Store, staging: Path,
                   entries: list[dict[str, Any]]) -> list[Path]:
    """Rows inside the caller's transaction, files into the archive; returns the files placed
    (for the caller to remove if the transaction fails)."""
    from kindred.core.upgrades.retirement import record_path

    placed: list[Path] = []
    for entry in entries:
        row: dict[str, Any] = {"version_id": entry["version"], "sha256": entry["sha256"],
                               "created_at": float(entry["created_at"])}
        if entry["kind"] == "interview":
            row["questions"] = str(entry["questions"])
        db.table(KINDS[entry["kind"]]).insert(row)
        target = record_path(store, entry["sha256"])
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source = staging / "records" / entry["sha256"]
            os.chmod(source, 0o444)
            os.rename(source, target)
            placed.append(target)
    return placed
