"""Graceful retirement: a version that stops being used is interviewed and documented first.

The *interview* is a fixed, versioned question set shipped in `kindred/resources/interview.json`,
put to the version greedily (its base model, its adapter alone at scale 1, the persona it served
under). The *post-deployment report* gathers when it was active, how many answers it gave, their
ratings, side-by-side trial tallies, what it learned (the cached insight summary, if any), its
lineage and its ledger excerpt. Both are stored verbatim and immutably next to the version: one
content-addressed JSON file each under `archive/records/ab/<sha256>` (mode 0444) plus a row naming
its sha256 (`interviews`, `reports`); never inside the version folder, whose id is its manifest's
hash. Holding either again returns the stored record unchanged. Anchor: Anthropic's model
deprecation commitments (2025-11: keep the weights, interview the model, keep a report).

Migration (issue 10) builds on `hold_interview(session, version_id)` and `report_for(store, id)`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from kindred.core.archive.catalog import get_version, list_versions, names, verified_path
from kindred.core.archive.versions import active_periods
from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.progress import Progress as Progress
from kindred.core.basics.progress import run_to_end
from kindred.core.basics.sampling import Sampling
from kindred.core.basics.states import VersionStatus
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home import ledger
from kindred.core.home.atomic import db_write, write_atomic
from kindred.core.home.record_check import content_problem
from kindred.core.home.store import Store, now
from kindred.core.learning.feedback import system_prompt
from kindred.core.session import Session
from kindred.core.upgrades import trial
from kindred.core.upgrades.rollout_state import in_open_rollout

FORMAT = 1
ANSWER_TOKENS = 160
IN_USE = ("active", "trial")


def answer_tokens() -> int:
    """How long each interview answer may be: `ANSWER_TOKENS`, or `KINDRED_INTERVIEW_TOKENS`
    (the test suite holds every interview for real, with short answers)."""
    try:
        return max(1, int(os.environ.get("KINDRED_INTERVIEW_TOKENS", ANSWER_TOKENS)))
    except ValueError:
        return ANSWER_TOKENS


@dataclass(frozen=True)
class Record:
    """A stored interview or report: its parsed content and the sha256 of its bytes."""

    kind: str
    version_id: VersionId
    sha256: str
    content: dict[str, Any]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {**self.content, "sha256": self.sha256}


class TamperedRecordError(KindredError):
    """A stored interview or report no longer matches the sha256 recorded for it."""


def question_set() -> tuple[str, list[str]]:
    """(set id, questions) of the shipped interview."""
    data = json.loads(resources.files("kindred.resources").joinpath("interview.json")
                      .read_text("utf-8"))
    return str(data["id"]), [str(q) for q in data["questions"]]


def record_path(store_or_home: Any, digest: str) -> Path:
    home = getattr(store_or_home, "home", store_or_home)
    return Path(home.archive) / "records" / digest[:2] / digest


def record_bytes(content: dict[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, indent=1, ensure_ascii=False,
                      allow_nan=False).encode()


def put_record(store: Store, data: bytes) -> str:
    """Keep one record file, content addressed and read-only; returns its sha256."""
    digest = sha256_bytes(data)
    path = record_path(store, digest)
    if not path.exists():
        write_atomic(path, data, mode=0o444)
    return digest


def read_record(store: Store, digest: str) -> dict[str, Any]:
    """A record's content after checking its bytes still hash to `digest`."""
    path = record_path(store, digest)
    if not path.is_file():
        raise TamperedRecordError(f"The record {digest[:12]} is missing from the archive.")
    data = path.read_bytes()
    if sha256_bytes(data) != digest:
        raise TamperedRecordError(f"The record {digest[:12]} was edited after it was stored "
                                  "(its sha256 no longer matches).")
    try:
        return dict(json.loads(data))
    except (ValueError, TypeError) as exc:
        raise TamperedRecordError(f"The record {digest[:12]} is not a JSON object.") from exc


def _stored(store: Store, table: str, version_id: VersionId) -> Record | None:
    row = store.db.execute(f"SELECT sha256, created_at FROM {table} WHERE version_id = ?",
                           [version_id]).fetchone()
    if row is None:
        return None
    kind = "interview" if table == "interviews" else "report"
    content = read_record(store, str(row[0]))
    problem = content_problem(content, kind, version_id)
    if problem is not None:  # e.g. brought in by hand: never shown as the version's words
        raise TamperedRecordError(f"The {kind} {str(row[0])[:12]} of version {version_id[:12]} "
                                  f"is malformed ({problem}); `kindred versions verify` lists "
                                  "what is wrong.")
    return Record(kind, version_id, str(row[0]), content, float(row[1]))


def interview_for(store: Store, version_id: VersionId) -> Record | None:
    """The stored interview of a version, or None if it was never held."""
    return _stored(store, "interviews", get_version(store, version_id).id)


def stored_report(store: Store, version_id: VersionId) -> Record | None:
    return _stored(store, "reports", get_version(store, version_id).id)


def use_began(store: Store, version_id: VersionId) -> float | None:
    """When the version last began answering (made active, or phased in by a rollout), or
    None if it never answered anyone."""
    version = get_version(store, version_id)
    starts = [start for start, _ in active_periods(store, version.assistant_id).get(
        version.id, [])]
    starts += [float(r[0]) for r in store.db.execute(
        "SELECT started_at FROM rollouts WHERE to_version = ?", [version.id]).fetchall()]
    return max(starts) if starts else None


def retirement_interview(store: Store, version_id: VersionId) -> Record | None:
    """The interview that speaks for the version's time in use, or None. One held before the
    version last began answering (e.g. of a candidate, asked out of curiosity) stays stored and
    in the ledger, but is not its retirement interview: retiring holds a new one."""
    held = interview_for(store, version_id)
    if held is None:
        return None
    began = use_began(store, version_id)
    if began is not None and float(held.content.get("held_at", held.created_at)) < began:
        return None
    return held


def _save(store: Store, table: str, version_id: VersionId, content: dict[str, Any],
          event: str, extra: dict[str, Any]) -> Record:
    """Write the file, then the row and its ledger event; a second writer's row wins. An
    interview held before the version's use is replaced in the row by its retirement interview
    (the earlier record stays, named by its own ledger event)."""
    data = record_bytes(content)
    digest = put_record(store, data)
    with db_write(store) as db:
        existing = _stored(store, table, version_id)
        if existing is not None and (table != "interviews"
                                     or retirement_interview(store, version_id) is not None):
            return existing
        row: dict[str, Any] = {"version_id": version_id, "sha256": digest, "created_at": now()}
        if table == "interviews":
            row["questions"] = content["questions"]
        if existing is not None:
            db.table(table).update(version_id, row)
            extra = {**extra, "replaces": existing.sha256}
        else:
            db.table(table).insert(row)
        version = get_version(store, version_id)
        ledger.append(store, event, {"version": version_id, "sha256": digest, **extra},
                      assistant_id=version.assistant_id)
    stored = _stored(store, table, version_id)
    assert stored is not None
    return stored


# -- the interview ---------------------------------------------------------------------------


def hold_interview(session: Session, version_id: VersionId, *, engine: Engine | None = None,
                   max_tokens: int | None = None
                   ) -> Generator[Progress | Record, None, Record]:
    """Ask the version the shipped questions (greedy) and store the answers verbatim.

    Yields Progress events, then the stored Record (the background-task helper passes the last
    event on as the result); returns it too. Held before: yields and returns the stored one,
    unchanged. `engine` (on the version's base) is borrowed and its adapters restored after;
    without one, an engine is loaded and closed here. Answers are as long as the assistant's
    own answers may be, at most `ANSWER_TOKENS` (or `max_tokens`).
    """
    store = session.store
    version = get_version(store, version_id)
    if (existing := retirement_interview(store, version.id)) is not None:
        yield Progress(1.0, "The interview was held before")
        yield existing
        return existing
    if version.status == VersionStatus.DELETED:
        raise KindredError(f"Version {version.short} was deleted; it cannot be interviewed.")
    gguf = verified_path(store, version.id)
    set_id, questions = question_set()
    assistant = session.assistant(version.assistant_id)
    model = _model_for(store, version.base_sha256)
    persona = system_prompt(store, assistant)
    if max_tokens is None:
        max_tokens = min(answer_tokens(), assistant.sampling.max_tokens)
    sampling = Sampling(temperature=0.0, top_p=1.0, top_k=1, repeat_penalty=1.1,
                              max_tokens=max_tokens)
    yield Progress(0.0, f"Interviewing {names(store, version.assistant_id).get(version.id)}")
    own = engine is None
    eng = engine if engine is not None else Engine(model["path"], n_ctx=2048)
    previous = eng.adapters
    answers: list[dict[str, str]] = []
    try:
        eng.set_adapters([AdapterRef(version.id, gguf, 1.0)])
        for i, question in enumerate(questions):
            messages = [{"role": "system", "content": persona}] if persona else []
            messages.append({"role": "user", "content": question})
            text = eng.chat(messages, sampling).read()
            answers.append({"question": question, "answer": text})
            yield Progress((i + 1) / len(questions), f"Question {i + 1} of {len(questions)}")
    finally:
        if own:
            eng.close()
        else:
            eng.set_adapters(previous)
    content = {"format": FORMAT, "kind": "interview", "version": version.id,
               "questions": set_id, "base_sha256": version.base_sha256,
               "model": model["name"], "persona": persona,
               "sampling": {"temperature": 0.0, "top_k": 1, "repeat_penalty": 1.1,
                            "max_tokens": max_tokens},
               "answers": answers, "held_at": now()}
    record = _save(store, "interviews", version.id, content, ledger.INTERVIEWED,
                   {"questions": set_id})
    yield record
    return record


def interview(session: Session, version_id: VersionId, **kwargs: Any) -> Record:
    """`hold_interview` run to its end (CLI, tests)."""
    return run_to_end(hold_interview(session, version_id, **kwargs))


def _model_for(store: Store, base_sha256: str) -> dict[str, Any]:
    row = store.db.execute("SELECT path, name FROM models WHERE sha256 = ?",
                           [base_sha256]).fetchone()
    if row is None:
        raise NotFoundError(f"The base model {base_sha256[:12]} this version was made for is "
                            "not registered here; add it to interview the version.")
    return {"path": row[0], "name": row[1]}


def pending(store: Store, assistant_id: AssistantId) -> list[VersionId]:
    """Retired versions that were in use once and whose retirement interview was never held
    (oldest first). A candidate set aside unused has nothing to tell about its time in use; an
    interview held before the version was used does not count (`retirement_interview`); the
    version an import brought back retired, to be restored with consent, did not step down."""
    rows = store.db.execute(
        "SELECT id FROM versions WHERE assistant_id = ? AND status = 'retired' "
        "ORDER BY status_at", [assistant_id]).fetchall()
    used = active_periods(store, assistant_id)
    return [VersionId(r[0]) for r in rows
            if str(r[0]) in used and not set_aside_by_import(store, VersionId(r[0]))
            and retirement_interview(store, VersionId(r[0])) is None]


def set_aside_by_import(store: Store, version_id: VersionId) -> bool:
    """Retired last by an import: what was active in the exported assistant comes in retired
    (nothing is switched on without consent) and is offered for restoring; it is interviewed
    when it steps down after being used here."""
    row = store.db.execute(
        "SELECT payload FROM ledger WHERE kind = ? AND json_extract(payload, '$.version') = ? "
        "ORDER BY seq DESC LIMIT 1", [ledger.RETIRED, version_id]).fetchone()
    return row is not None and json.loads(row[0]).get("reason") == ledger.SET_ASIDE_BY_IMPORT


# -- the post-deployment report --------------------------------------------------------------


def report_for(store: Store, version_id: VersionId) -> Record:
    """The version's post-deployment report. Once it is retired the report is stored (first
    call) and every later call returns that stored one unchanged; before (a candidate, in use,
    in a rollout) a provisional report is built and not stored."""
    version = get_version(store, version_id)
    if (existing := stored_report(store, version.id)) is not None:
        return existing
    content = build_report(store, version.id)
    if version.status != VersionStatus.RETIRED or in_open_rollout(store, version.id):
        content["final"] = False
        return Record("report", version.id, sha256_bytes(record_bytes(content)), content, now())
    return _save(store, "reports", version.id, content, ledger.REPORTED, {})


def build_report(store: Store, version_id: VersionId) -> dict[str, Any]:
    """Everything known about a version's time in use, from the database and the ledger."""
    version = get_version(store, version_id)
    aid = version.assistant_id
    named = names(store, aid)
    lineage = list_versions(store, aid)
    by_id = {v.id: v for v in lineage}
    ancestors: list[dict[str, str]] = []
    cursor = version.parent
    while cursor and cursor in by_id:
        ancestors.append({"id": cursor, "name": named.get(cursor, cursor[:12])})
        cursor = by_id[cursor].parent
    children = [{"id": v.id, "name": named.get(v.id, v.short), "status": v.status}
                for v in lineage if v.parent == version.id]
    periods = active_periods(store, aid).get(version.id, [])
    answers, blended, ratings = _usage(store, aid, version.id)
    events = [e.to_json() for e in ledger.events(store, assistant_id=aid)
              if version.id in json.dumps(e.payload)]
    interview = store.db.execute("SELECT sha256 FROM interviews WHERE version_id = ?",
                                 [version.id]).fetchone()
    return {
        "format": FORMAT, "kind": "report", "version": version.id,
        "name": named.get(version.id, version.short), "status": version.status,
        "source": version.source, "created_at": version.created_at,
        "base_sha256": version.base_sha256, "metrics": version.metrics,
        "active": [{"from": start, "to": end} for start, end in periods],
        "answers_given": answers, "answers_in_a_blend": blended, "ratings": ratings,
        "trials": trial.tallies(store, version.id),
        "insight": _insight_summary(store, version.id),
        "lineage": {"ancestors": ancestors, "children": children},
        "ledger": events, "interview": interview[0] if interview else None,
        "final": True, "written_at": now(),
    }


def _usage(store: Store, assistant_id: AssistantId, version_id: VersionId
           ) -> tuple[int, int, dict[str, int]]:
    rows = store.db.execute(
        "SELECT m.id, m.adapters FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE c.assistant_id = ? AND m.role = 'assistant' AND m.adapters LIKE ?",
        [assistant_id, f'%"{version_id}"%']).fetchall()
    ids = [int(r[0]) for r in rows if any(k == version_id for k, _ in json.loads(r[1]))]
    blended = sum(1 for r in rows if len(json.loads(r[1])) > 1)
    up = down = 0
    if ids:
        marks = ",".join("?" * len(ids))
        for value, count in store.db.execute(
                f"SELECT value, COUNT(*) FROM feedback WHERE kind = 'rating' AND message_id IN "
                f"({marks}) GROUP BY value", ids).fetchall():
            if value == 1:
                up = int(count)
            elif value == -1:
                down = int(count)
    return len(ids), blended, {"up": up, "down": down}


def _insight_summary(store: Store, version_id: VersionId) -> list[str] | None:
    """The cached "What it learned" summary of this version, if one was ever computed."""
    folder = store.home.cache / "insight"
    if not folder.is_dir():
        return None
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("version") == version_id:
            return [str(s) for s in data.get("summary") or []]
    return None


def report_lines(content: dict[str, Any]) -> list[tuple[str, str]]:
    """The report as (field, text) lines, for people (the CLI and History share them)."""
    lines = [("version", f"{content['name']} ({content['version'][:12]}), {content['status']}"
              + _provisional(content)),
             ("created", _when(content["created_at"]))]
    for period in content["active"]:
        lines.append(("active", f"{_when(period['from'])} to "
                                f"{_when(period['to']) if period['to'] else 'now'}"))
    lines.append(("answers given", f"{content['answers_given']} "
                                   f"({content['answers_in_a_blend']} in a rollout blend)"))
    lines.append(("ratings", f"{content['ratings']['up']} up, {content['ratings']['down']} down"))
    for t in content["trials"]:
        lines.append(("trial", f"{t['b_name']} against {t['a_name']}: {t['text']}"))
    for sentence in content.get("insight") or []:
        lines.append(("learned", sentence))
    ancestors = " ← ".join(a["name"] for a in content["lineage"]["ancestors"]) or "none"
    lines.append(("lineage", f"parents: {ancestors}; children: "
                  + (", ".join(c["name"] for c in content["lineage"]["children"]) or "none")))
    lines.append(("ledger", f"{len(content['ledger'])} events"))
    lines.append(("interview", content["interview"][:12] if content["interview"] else "not held"))
    return lines


def _provisional(content: dict[str, Any]) -> str:
    """How a report not yet final says why: in use now, never used, or used but not retired."""
    if content.get("final", True):
        return ""
    if content["status"] in IN_USE or any(p["to"] is None for p in content["active"]):
        return " (still in use: provisional)"
    return " (never used: provisional)" if not content["active"] else \
        " (not retired: provisional)"


def _when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else "-"
