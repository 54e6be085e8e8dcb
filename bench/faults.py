"""Fault campaign: SIGKILL at random points of every writing operation, then check the home.

Each trial copies a prepared data home, starts one writing operation in a real process and kills
it (SIGKILL) after a random delay within that operation's measured duration. Then, as the next
start would: open the home (recovery runs), and check
- corrupt: `versions verify` fails, `ledger verify` fails, or SQLite's integrity_check is not ok;
- lost: a version the home had before (and the operation was not deleting) no longer verifies;
- half_done: the operation neither fully happened nor left everything as it was (status, ledger
  event and consent use agree), or a copy was left aside in archive/orphans or tmp/;
- stuck: after the crash, the same operation (if it had not happened) cannot be done again.
Operations: archive a version, activate (consent), retire the active version (consent), delete
(consent), bundle import, adapter import (`versions import`), a burst of ledger appends
(consent requests), the schema upgrade of an old database. Not covered yet: rollout steps,
migration to another base.

    python bench/faults.py --json [--trials N] [--seed S] [--ops archive,activate,...]

Prints trials, lost, corrupt, half_done, stuck (targets: 0 of each over >= 200 trials).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

OPS = ("archive", "activate", "retire", "delete", "import", "adapter", "ledger", "upgrade")
SOURCE = {"import": "empty", "upgrade": "old"}
BIG = "layers=tuple(range(12)), rank=16"  # a few MB per version: a window worth killing in

WORKER = textwrap.dedent(f"""
    import json, sys
    sys.path.insert(0, {str(TESTS)!r})
    from kindred.core.session import open_session
    home, op, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if op == "upgrade":  # killed while an old database is being brought up to date
        print("ready", flush=True)
    session = open_session(home)
    if op != "upgrade":
        print("ready", flush=True)
    store = session.store
    if op == "upgrade":
        pass
    elif op == "archive":
        from kindred.core.models import embedded_model_path
        from support.archive_helpers import make_version
        make_version(session, embedded_model_path(), seed=77, {BIG})
    elif op in ("activate", "retire", "delete"):
        from kindred.core.archive import versions
        action = {{"activate": versions.activate, "retire": versions.retire,
                  "delete": versions.delete}}[op]
        action(store, plan[op]["version"], plan[op]["consent"])
    elif op == "import":
        from kindred.core.archive.bundle import import_bundle
        import_bundle(store, plan["bundle"], name="Restored")
    elif op == "adapter":
        from kindred.core.archive.adapter_import import import_adapter
        import_adapter(store, session.assistant(), plan["peft"])
    elif op == "ledger":
        from kindred.core import consent
        for i in range(40):
            consent.request(store, "activate", session.assistant().id, "x" * 64, f"ask {{i}}")
    print("done", flush=True)
""")


@dataclass
class Tally:
    trials: int = 0
    lost: int = 0
    corrupt: int = 0
    half_done: int = 0
    stuck: int = 0
    happened: int = 0
    by_op: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def bad(self, what: str, op: str, detail: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        if len(self.problems) < 20:
            self.problems.append(f"{op}: {what}: {detail}")


def prepare(root: Path) -> dict[str, Any]:
    """Two homes (one with versions and granted consents, one empty), a bundle, a PEFT folder."""
    from kindred.core import consent
    from kindred.core.archive import versions
    from kindred.core.archive.bundle import export_bundle
    from kindred.core.models import embedded_model_path
    from kindred.core.session import open_session
    from support.archive_helpers import make_version, write_peft_folder

    model = embedded_model_path()
    session = open_session(root / "full")
    aid = session.assistant().id
    spec = {"layers": tuple(range(12)), "rank": 16}
    first = make_version(session, model, seed=1, **spec)
    req = consent.request(session.store, "activate", aid, first.id, "Use it?")
    versions.activate(session.store, first.id,
                      consent.decide(session.store, req.id, granted=True, via="gui"))
    second = make_version(session, model, seed=2, **spec)
    third = make_version(session, model, seed=3, **spec)

    def granted(kind: str, version_id: str) -> int:
        request = consent.request(session.store, kind, aid, version_id, f"{kind}?")
        return consent.decide(session.store, request.id, granted=True, via="gui").id

    plan: dict[str, Any] = {
        "activate": {"version": second.id, "consent": granted("activate", second.id)},
        "retire": {"version": first.id, "consent": granted("retire", first.id)},
        "delete": {"version": third.id, "consent": granted("delete", third.id)},
        "bundle": str(root / "full.bundle"), "peft": str(root / "peft"),
        "kept": [first.id, second.id, third.id]}
    export_bundle(session.store, session.assistant(), root / "full.bundle")
    session.close()
    open_session(root / "empty").close()
    _old_home(root / "old")
    write_peft_folder(model, root / "peft", seed=9, rank=16, layers=tuple(range(12)))
    return plan


def _old_home(root: Path) -> None:
    """A data home whose database stopped at schema 2 (as an old Kindred left it)."""
    from kindred.core.paths import resolve_home
    from kindred.core.store import MIGRATIONS

    home = resolve_home(root)
    conn = sqlite3.connect(home.db_path, isolation_level=None)
    for number, statements in enumerate(MIGRATIONS[:2], start=1):
        conn.execute("BEGIN")
        for sql in statements:
            conn.execute(sql)
        conn.execute(f"PRAGMA user_version = {number}")
        conn.execute("COMMIT")
    conn.close()


def _schema(home: Path) -> int:
    conn = sqlite3.connect(home / "kindred.db")
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _start(home: Path, op: str, plan: dict[str, Any]) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", WORKER, str(home), op, json.dumps(plan)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(proc.stderr.read() if proc.stderr else "worker failed")
    return proc


def _run_to_end(home: Path, op: str, plan: dict[str, Any]) -> float:
    proc = _start(home, op, plan)
    began = time.perf_counter()
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "done": the operation's own time, not the exit after it
    took = time.perf_counter() - began
    _, err = proc.communicate(timeout=600)
    if line.strip() != "done":
        raise RuntimeError(f"{op} failed on its own: {err[-2000:]}")
    return took


def _state(home: Path, op: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What the checks need, read after a normal start (recovery included)."""
    from kindred.core.archive import ledger, versions
    from kindred.core.archive.catalog import verify_all
    from kindred.core.session import open_session

    session = open_session(home)
    try:
        store = session.store
        rows = {v.id: v.status for v in versions.list_versions(store)}
        checks = {c.version_id: c.ok for c in verify_all(store)}
        used = {}
        for key in ("activate", "retire", "delete"):
            row = store.db.execute("SELECT used_at FROM consent_decisions WHERE request_id = ?",
                                   [plan[key]["consent"]]).fetchone()
            used[key] = bool(row and row[0])
        kinds = [e.kind for e in ledger.events(store)]
        names = [a[0] for a in store.db.execute("SELECT name FROM assistants").fetchall()]
        requests = store.db.execute("SELECT COUNT(*) FROM consent_requests").fetchone()[0]
        state = {"rows": rows, "checks": checks, "used": used, "kinds": kinds, "names": names,
                 "requests": requests, "ledger_ok": ledger.verify(store).ok,
                 "integrity": store.db.execute("PRAGMA integrity_check").fetchone()[0],
                 "active": session.assistant().active_version}
    finally:
        session.close()
    orphans = home / "archive" / "orphans"
    state["leftovers"] = (sorted(p.name for p in orphans.iterdir()) if orphans.is_dir() else []) \
        + sorted(p.name for p in (home / "tmp").iterdir())
    return state


def _happened(op: str, before: dict[str, Any], after: dict[str, Any],
              plan: dict[str, Any]) -> bool | None:
    """True (fully done), False (not at all) or None (half done)."""
    if op in ("activate", "retire", "delete"):
        target = plan[op]["version"]
        done_status = {"activate": "active", "retire": "retired", "delete": "deleted"}[op]
        event = {"activate": "activated", "retire": "retired", "delete": "deleted"}[op]
        status, used = after["rows"].get(target), after["used"][op]
        count = after["kinds"].count(event) - before["kinds"].count(event)
        if status == done_status and used and count == 1:
            return True
        if status == before["rows"][target] and not used and count == 0:
            return False
        return None
    new_rows = set(after["rows"]) - set(before["rows"])
    if op in ("archive", "adapter"):
        return {0: False, 1: True}.get(len(new_rows))
    if op == "import":
        restored = "Restored" in after["names"]
        if restored and len(new_rows) == len(plan["kept"]):
            return True
        return False if not restored and not new_rows else None
    if op == "ledger":
        return True  # each request is its own transaction; checked by the ledger verify
    raise ValueError(op)


def trial(tally: Tally, root: Path, op: str, plan: dict[str, Any], duration: float,
          rng: random.Random, baseline: dict[str, dict[str, Any]]) -> None:
    source = root / SOURCE.get(op, "full")
    home = root / "trial"
    if home.exists():
        shutil.rmtree(home)
    shutil.copytree(source, home)
    tally.trials += 1
    tally.by_op[op] = tally.by_op.get(op, 0) + 1
    proc = _start(home, op, plan)
    time.sleep(rng.uniform(0.0, duration))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    before = baseline[op]
    schema = _schema(home)
    try:
        after = _state(home, op, plan)
    except Exception as exc:  # a home that no longer opens is the worst case
        tally.bad("corrupt", op, f"does not open: {exc}")
        return
    if not after["ledger_ok"] or after["integrity"] != "ok" or not all(after["checks"].values()):
        tally.bad("corrupt", op, f"ledger {after['ledger_ok']}, sqlite {after['integrity']}, "
                  f"versions {after['checks']}")
    for version_id in before["rows"]:
        gone = version_id not in after["rows"] or (
            after["rows"][version_id] != "deleted" and not after["checks"].get(version_id))
        if gone and not (op == "delete" and version_id == plan["delete"]["version"]):
            tally.bad("lost", op, version_id[:12])
    from kindred.core.store import MIGRATIONS

    done = (schema == len(MIGRATIONS)) if op == "upgrade" else _happened(op, before, after, plan)
    if done is None or after["leftovers"]:
        tally.bad("half_done", op, f"happened={done}, leftovers={after['leftovers'][:3]}")
    if done:
        tally.happened += 1
        return
    try:  # what did not happen can be done now
        out = subprocess.run([sys.executable, "-c", WORKER.replace(
            'print("ready", flush=True)', "pass"), str(home), op, json.dumps(plan)],
            capture_output=True, text=True, timeout=600, check=False)
        if "done" not in out.stdout:
            tally.bad("stuck", op, out.stderr.strip().splitlines()[-1] if out.stderr else "?")
    except subprocess.TimeoutExpired:
        tally.bad("stuck", op, "the retry hung")


def campaign(trials: int, seed_value: int, ops: tuple[str, ...] = OPS,
             work: Path | None = None) -> dict[str, Any]:
    rng = random.Random(seed_value)
    with tempfile.TemporaryDirectory(prefix="kfaults-") as tmp:
        root = work or Path(tmp)
        plan = prepare(root)
        durations: dict[str, float] = {}
        baseline: dict[str, dict[str, Any]] = {}
        for op in ops:
            source = root / SOURCE.get(op, "full")
            probe = root / "probe"
            shutil.copytree(source, probe)
            baseline[op] = _state(root / "empty", op, plan) if op == "upgrade" else \
                _state(source, op, plan)
            durations[op] = _run_to_end(probe, op, plan)
            shutil.rmtree(probe)
        tally = Tally()
        for index in range(trials):
            trial(tally, root, ops[index % len(ops)], plan, durations[ops[index % len(ops)]],
                  rng, baseline)
    return {"trials": tally.trials, "lost": tally.lost, "corrupt": tally.corrupt,
            "half_done": tally.half_done, "stuck": tally.stuck,
            "completed_before_kill": tally.happened, "by_op": tally.by_op,
            "op_seconds": {k: round(v, 2) for k, v in durations.items()}, "seed": seed_value,
            "problems": tally.problems}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=210)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ops = tuple(o for o in args.ops.split(",") if o)
    unknown = set(ops) - set(OPS)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}; choose from {', '.join(OPS)}")
    started = time.perf_counter()
    result = campaign(args.trials, args.seed, ops)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(" ".join(f"{k}={result[k]}" for k in ("trials", "lost", "corrupt", "half_done",
                                                      "stuck")))
        for problem in result["problems"]:
            print("  " + problem)
    bad = any(result[k] for k in ("lost", "corrupt", "half_done", "stuck"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
