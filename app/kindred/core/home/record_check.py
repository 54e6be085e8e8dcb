"""Interview and report records, checked field by field and against their ledger events.

A retirement record (`upgrades/retirement`) is a JSON file named by its sha256 plus a row
(`interviews`, `reports`) and a ledger event (`interviewed`, `reported`) written in the same
transaction. The sha256 proves a file was not edited; it cannot prove that a record brought in
from elsewhere (a bundle, a hand-edited database) is one Kindred wrote: a made-up interview
would be shown as the version's own words. So every record must have the fields the app reads,
of the right types, and its row must have its ledger event (and each event its row).
`bundle_records` runs these checks on import, `ledger.verify` (`kindred ledger verify`) and
`kindred versions verify` on a data home.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import VersionId
from kindred.core.home.store import Store

HEX = re.compile(r"^[0-9a-f]{64}$")
KINDS = {"interview": "interviews", "report": "reports"}
EVENTS = {"interview": "interviewed", "report": "reported"}


def _is_number(value: Any, *, whole: bool = False, minimum: float | None = None) -> bool:
    kinds = int if whole else int | float
    return (not isinstance(value, bool) and isinstance(value, kinds) and math.isfinite(value)
            and (minimum is None or value >= minimum))


def _is_time(value: Any) -> bool:
    return _is_number(value, minimum=0)


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _list_of(value: Any, keys: dict[str, Any]) -> bool:
    return isinstance(value, list) and all(
        isinstance(item, dict) and all(check(item.get(k)) for k, check in keys.items())
        for item in value)


def _optional(check: Any) -> Any:
    return lambda value: value is None or check(value)


_INTERVIEW: dict[str, Any] = {
    "format": lambda v: _is_number(v, whole=True, minimum=1),
    "questions": _is_text, "base_sha256": lambda v: isinstance(v, str) and bool(HEX.match(v)),
    "model": _is_text, "persona": _is_text, "sampling": lambda v: isinstance(v, dict),
    "answers": lambda v: _list_of(v, {"question": _is_text, "answer": _is_text}),
    "held_at": _is_time,
}
_REPORT: dict[str, Any] = {
    "format": lambda v: _is_number(v, whole=True, minimum=1),
    "name": _is_text, "status": _is_text, "source": _is_text, "created_at": _is_time,
    "active": lambda v: _list_of(v, {"from": _is_time, "to": _optional(_is_time)}),
    "answers_given": lambda v: _is_number(v, whole=True, minimum=0),
    "answers_in_a_blend": lambda v: _is_number(v, whole=True, minimum=0),
    "ratings": lambda v: isinstance(v, dict) and all(
        _is_number(v.get(k), whole=True, minimum=0) for k in ("up", "down")),
    "trials": lambda v: _list_of(v, {"a_name": _is_text, "b_name": _is_text, "text": _is_text}),
    "insight": _optional(lambda v: isinstance(v, list) and all(_is_text(s) for s in v)),
    "lineage": lambda v: isinstance(v, dict)
    and _list_of(v.get("ancestors"), {"name": _is_text})
    and _list_of(v.get("children"), {"name": _is_text}),
    "ledger": lambda v: isinstance(v, list),
    "interview": _optional(lambda v: isinstance(v, str) and bool(HEX.match(v))),
    "final": lambda v: isinstance(v, bool),
}


def content_problem(content: Any, kind: str, version_id: VersionId) -> str | None:
    """What is wrong with a record's content (as parsed from its file), or None."""
    if not isinstance(content, dict):
        return "it is not a JSON object"
    if content.get("kind") != kind or content.get("version") != version_id:
        return "it describes something else"
    for key, check in (_INTERVIEW if kind == "interview" else _REPORT).items():
        if key not in content:
            return f"it has no '{key}'"
        if not check(content[key]):
            return f"its '{key}' is malformed"
    return None


def file_problem(data: bytes, digest: str, kind: str, version_id: VersionId) -> str | None:
    """What is wrong with a record file's bytes, or None."""
    if sha256_bytes(data) != digest:
        return "it was altered (its sha256 no longer matches)"
    try:
        content = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return "it is not JSON"
    return content_problem(content, kind, version_id)


def row_problem(entry: Any) -> str | None:
    """What is wrong with a record's row (or its `retirement.json` entry in a bundle)."""
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
        return "it has no valid kind"
    if not isinstance(entry.get("version"), str) or not HEX.match(entry["version"]):
        return "it names no valid version"
    if not isinstance(entry.get("sha256"), str) or not HEX.match(entry["sha256"]):
        return "it has no valid sha256"
    if not _is_time(entry.get("created_at")):
        return f"its time is not a time ({entry.get('created_at')!r})"
    if entry["kind"] == "interview" and not isinstance(entry.get("questions"), str):
        return "it names no question set"
    return None


def ledger_problem(entries: list[dict[str, Any]], events: list[tuple[str, dict[str, Any]]]
                   ) -> str | None:
    """Records (kind, version, sha256) and their `interviewed`/`reported` ledger events
    (kind, payload, in ledger order) must match one for one. An event whose payload says it
    `replaces` an earlier record (a retirement interview after one held before the version was
    used) supersedes that record's event."""
    recorded = {(e["kind"], e["version"], e["sha256"]) for e in entries}
    logged: set[tuple[str, str, str]] = set()
    for kind, payload in events:
        for record_kind, event_kind in EVENTS.items():
            if kind == event_kind:
                version = str(payload.get("version"))
                if payload.get("replaces") is not None:
                    logged.discard((record_kind, version, str(payload["replaces"])))
                logged.add((record_kind, version, str(payload.get("sha256"))))
    for kind, version, digest in sorted(recorded - logged):
        return (f"the {kind} of version {version[:12]} ({digest[:12]}) has no "
                f"'{EVENTS[kind]}' event in the ledger")
    for kind, version, digest in sorted(logged - recorded):
        return (f"the ledger records the {kind} {digest[:12]} of version {version[:12]}, "
                "which is missing")
    return None


def record_file(home_archive: Path, digest: str) -> Path:
    """Where a record lives in a data home (the same place `retirement.record_path` names)."""
    return home_archive / "records" / digest[:2] / digest


def store_rows(store: Store, version_id: VersionId | None = None) -> list[dict[str, Any]]:
    """The record rows of a data home (of one version), as `row_problem` reads them."""
    rows: list[dict[str, Any]] = []
    for kind, table in KINDS.items():
        exists = store.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  [table]).fetchone()
        if not exists:
            continue
        extra = ", questions" if kind == "interview" else ""
        sql = f"SELECT version_id, sha256, created_at{extra} FROM {table}"
        params: list[Any] = []
        if version_id is not None:
            sql += " WHERE version_id = ?"
            params.append(version_id)
        for row in store.db.execute(sql + " ORDER BY rowid", params).fetchall():
            entry = {"kind": kind, "version": row[0], "sha256": row[1], "created_at": row[2]}
            if kind == "interview":
                entry["questions"] = row[3]
            rows.append(entry)
    return rows


def store_problems(store: Store, version_id: VersionId | None = None) -> list[str]:
    """Every problem with the records of a data home (or of one version): rows, files, and
    their ledger events. Empty when all is well."""
    rows = store_rows(store, version_id)
    problems: list[str] = []
    for entry in rows:
        what = f"the {entry.get('kind')} of version {str(entry.get('version'))[:12]}"
        problem = row_problem(entry)
        if problem is None:
            path = record_file(store.home.archive, entry["sha256"])
            problem = "its file is missing" if not path.is_file() else file_problem(
                path.read_bytes(), entry["sha256"], entry["kind"], entry["version"])
        if problem is not None:
            problems.append(f"{what}: {problem}")
    events: list[tuple[str, dict[str, Any]]] = []
    for kind, raw in store.db.execute("SELECT kind, payload FROM ledger WHERE kind IN (?, ?) "
                                      "ORDER BY seq", list(EVENTS.values())).fetchall():
        try:
            payload = json.loads(raw)
        except ValueError:
            continue  # the chain check reports it
        if isinstance(payload, dict) and (version_id is None
                                          or payload.get("version") == version_id):
            events.append((str(kind), payload))
    valid = [e for e in rows if row_problem(e) is None]
    problem = ledger_problem(valid, events)
    if problem is not None:
        problems.append(problem)
    return problems
