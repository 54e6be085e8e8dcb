"""Fault campaign: SIGKILL at random points of every writing operation, then check the home.

Each trial copies a prepared data home, starts one writing operation in a real process and kills
it (SIGKILL) after a random delay within that operation's measured duration (for a move to
another base, half the time within the stretch from the end of training to the archived
version, where the archive is written). Then, as the next start would: open the home (recovery
runs), and check
- corrupt: `versions verify` fails, `ledger verify` fails, or SQLite's integrity_check is not ok;
- lost: a version the home had before (and the operation was not deleting) no longer verifies;
- half_done: the operation neither fully happened nor left everything as it was (status, ledger
  event and consent use agree), or something stayed in tmp/, or a copy set aside in
  archive/orphans (a kill between the archive's rename and its commit) is still there once the
  operation was done again (or resumed);
- stuck: after the crash, the same operation (if it had not happened) cannot be done again.
Operations: archive a version, activate (consent), retire the active version (consent), delete
(consent), bundle import, adapter import (`versions import`), a burst of ledger appends
(consent requests), the schema upgrade of an old database, the rollout steps (start, next step,
the last step that makes the new version active and retires the old one, roll back), and a move
to another base (`migrate`: the training process re-learning on a same-family sibling base and
archiving the new version with its `migrated` event; after a kill the run must resume to the end,
and leave no copy aside, as `kindred migrate --resume` promises).

    python bench/faults.py --json [--trials N] [--seed S] [--ops archive,activate,...]

Prints trials, lost, corrupt, half_done, stuck (targets: 0 of each over >= 200 trials).
"""

from __future__ import annotations

import argparse
import json
import os
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

OPS = ("archive", "activate", "retire", "delete", "import", "adapter", "ledger", "upgrade",
       "rollout_start", "rollout_step", "rollout_finish", "rollback", "activate_in_trial",
       "retire_in_trial", "migrate")
SOURCE = {"import": "empty", "upgrade": "old", "rollout_step": "rolling",
          "rollout_finish": "rolling2", "rollback": "rolling", "migrate": "migrating",
          "activate_in_trial": "trialling", "retire_in_trial": "trialling"}
CONSENTED = ("activate", "retire", "delete", "rollout_start", "rollout_step", "rollout_finish",
             "activate_in_trial", "retire_in_trial")
IN_TRIAL = {"activate_in_trial": "activate", "retire_in_trial": "retire"}
"""Transitions of the one owner of the assistant's state that do two things at once: an
activation or retirement that also ends the open side-by-side trial."""
ROLLOUT_STEPS = 3
QUICK_MIGRATION = 2  # distillation and card prompts, and training steps x2: a short trial
# The quality card a training run measures after archiving is not what is tested here: the
# smallest set (one fact, one style request, no open answer) keeps a move's trial short.
CARD_SET = {"version": 9002, "about": "fault campaign", "open": [],
            "facts": [{"q": "What is the capital of France?", "a": ["paris"]}],
            "style": ["Give me a tip for sleeping better."]}
BIG = "layers=tuple(range(12)), rank=16"  # a few MB per version: a window worth killing in

WORKER = textwrap.dedent(f"""
    import json, sys
    sys.path.insert(0, {str(TESTS)!r})
    from kindred.core.session import open_session
    home, op, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if op.startswith("rollout") or op == "rollback":  # imported before "ready": the kill
        from kindred.core.upgrades import rollout     # window is the change itself
    if op == "upgrade":  # killed while an old database is being brought up to date
        print("ready", flush=True)
    session = open_session(home)
    if op != "upgrade":
        print("ready", flush=True)
    store = session.store
    if op == "upgrade":
        pass
    elif op == "archive":
        from kindred.core.home.models import embedded_model_path
        from support.archive_helpers import make_version
        make_version(session, embedded_model_path(), seed=77, {BIG})
    elif op in ("activate", "retire", "delete", "activate_in_trial", "retire_in_trial"):
        from kindred.core.archive import versions
        action = {{"activate": versions.activate, "retire": versions.retire,
                  "delete": versions.delete}}[op.removesuffix("_in_trial")]
        action(store, plan[op]["version"], plan[op]["consent"])
    elif op == "import":
        from kindred.core.bundles.bundle import import_bundle
        import_bundle(store, plan["bundle"], name="Restored")
    elif op == "adapter":
        from kindred.core.archive.adapter_import import import_adapter
        import_adapter(store, session.assistant(), plan["peft"])
    elif op == "ledger":
        from kindred.core.home import consent
        for i in range(40):
            consent.request(store, "activate", session.assistant().id, "x" * 64, f"ask {{i}}")
    elif op == "rollout_start":
        rollout.start(store, plan[op]["version"], rollout.Plan(steps={ROLLOUT_STEPS}),
                      plan[op]["consent"])
    elif op in ("rollout_step", "rollout_finish"):
        rollout.next_step(store, session.assistant().id, plan[op]["consent"])
    elif op == "rollback":
        rollout.roll_back(store, session.assistant().id, via="cli-prompt")
    elif op == "migrate":  # this process becomes the training process: the kill lands in it
        import os
        from kindred.core.training import runner
        from kindred.core.training.run import RunDir
        command = runner.training_command(RunDir(session.home.runs / plan[op]["run"]),
                                          plan[op]["consent"])
        session.close()
        os.execve(command[0], command, runner.training_env())
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
    happened_by_op: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def completed(self, op: str) -> None:
        self.happened += 1
        self.happened_by_op[op] = self.happened_by_op.get(op, 0) + 1

    def bad(self, what: str, op: str, detail: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        if len(self.problems) < 20:
            self.problems.append(f"{op}: {what}: {detail}")


def prepare(root: Path, ops: tuple[str, ...] = OPS) -> dict[str, Any]:
    """The homes the operations start from (one with versions and granted consents, one empty,
    an old one, two in the middle of a rollout, one about to move to another base), a bundle,
    a PEFT folder."""
    from kindred.core.archive import versions
    from kindred.core.bundles.bundle import export_bundle
    from kindred.core.home.models import embedded_model_path
    from kindred.core.session import open_session
    from kindred.core.upgrades import rollout
    from support.archive_helpers import make_version, write_peft_folder

    model = embedded_model_path()
    session = open_session(root / "full")
    spec = {"layers": tuple(range(12)), "rank": 16}
    first = make_version(session, model, seed=1, **spec)
    versions.activate(session.store, first.id, _granted(session, "activate", first.id))
    second = make_version(session, model, seed=2, **spec)
    third = make_version(session, model, seed=3, **spec)

    def granted(kind: str, version_id: str) -> int:
        return _granted(session, kind, version_id)

    plan: dict[str, Any] = {
        "activate": {"version": second.id, "consent": granted("activate", second.id)},
        "retire": {"version": first.id, "consent": granted("retire", first.id)},
        "delete": {"version": third.id, "consent": granted("delete", third.id)},
        "rollout_start": {"version": second.id,
                          "consent": _ask(session, rollout.describe_start(
                              session.store, second, rollout.Plan(steps=ROLLOUT_STEPS)),
                                          second.id)},
        "bundle": str(root / "full.bundle"), "peft": str(root / "peft"),
        "kept": [first.id, second.id, third.id]}
    export_bundle(session.store, session.assistant(), root / "full.bundle")
    session.close()
    open_session(root / "empty").close()
    _old_home(root / "old")
    write_peft_folder(model, root / "peft", seed=9, rank=16, layers=tuple(range(12)))
    _rolling_homes(root, plan)
    _trialling_home(root, plan)
    if "migrate" in ops:
        _migrating_home(root, plan)
    return plan


def _granted(session: Any, kind: str, version_id: str) -> int:
    """A granted consent asked against the assistant's state now (it names that state)."""
    from kindred.core.archive import assistant_state
    from kindred.core.home import consent

    aid = session.assistant().id
    state = assistant_state.fingerprint(session.store, aid, version_id)
    request = consent.request(session.store, kind, aid, version_id, f"{kind}?",
                              {"state": state})
    return consent.decide(session.store, request.id, granted=True, via="gui").id


def _trialling_home(root: Path, plan: dict[str, Any]) -> None:
    """`trialling`: the third version on a side-by-side trial against the first (active),
    with consents to activate the second and to retire the first: each ends the trial."""
    from kindred.core.session import open_session
    from kindred.core.upgrades import trial

    shutil.copytree(root / "full", root / "trialling")
    session = open_session(root / "trialling")
    first, second, third = plan["kept"]
    trial.start(session.store, session.assistant().id, third)
    plan["activate_in_trial"] = {"version": second,
                                 "consent": _granted(session, "activate", second)}
    plan["retire_in_trial"] = {"version": first, "consent": _granted(session, "retire", first)}
    session.close()


def _ask(session: Any, described: tuple[str, str, dict[str, Any]], subject: str) -> int:
    """A granted consent for what `describe_*` described (kind, summary, evidence)."""
    from kindred.core.home import consent

    kind, summary, evidence = described
    request = consent.request(session.store, kind, session.assistant().id, subject, summary,
                              evidence)
    return consent.decide(session.store, request.id, granted=True, via="gui").id


def _rolling_homes(root: Path, plan: dict[str, Any]) -> None:
    """`rolling`: the second version phased in, at step 1 of 3, with consent for step 2;
    `rolling2`: the same at step 2, with consent for the last step."""
    from kindred.core.session import open_session
    from kindred.core.upgrades import rollout

    shutil.copytree(root / "full", root / "rolling")
    session = open_session(root / "rolling")
    aid = session.assistant().id
    target = plan["rollout_start"]["version"]
    rollout.start(session.store, target, rollout.Plan(steps=ROLLOUT_STEPS),
                  plan["rollout_start"]["consent"])
    step = _ask(session, rollout.describe_next_step(session.store, aid), target)
    session.close()
    shutil.copytree(root / "rolling", root / "rolling2")
    session = open_session(root / "rolling2")
    rollout.next_step(session.store, aid, step)
    plan["rollout_step"] = {"version": target, "consent": step}
    plan["rollout_finish"] = {"version": target, "consent": _ask(
        session, rollout.describe_next_step(session.store, aid), target)}
    plan["rollback"] = {"version": target}
    session.close()


def _migrating_home(root: Path, plan: dict[str, Any]) -> None:
    """A home whose active version (taught with corrections) is about to move to the sibling
    base: the `migrate` consent is granted and the run folder written, the training process not
    started. Made at the trials' own path (the run's plan names its home), then moved aside."""
    from kindred.core.archive import versions
    from kindred.core.home import consent
    from kindred.core.home.models import add_model, embedded_model_path
    from kindred.core.session import open_session
    from kindred.core.upgrades import migration
    from support.archive_helpers import grant, make_version
    from support.bases import link_base_cache, shared_cache, sibling_path
    from support.training_helpers import PIRATE, add_examples, fast_config

    home = root / "trial"
    session = open_session(home)
    add_examples(session, PIRATE[:4])
    old = make_version(session, embedded_model_path(), seed=4)
    versions.activate(session.store, old.id, grant(session, "activate", old))
    target = add_model(session.store, sibling_path())
    link_base_cache(session.home.cache, shared_cache(target.path), target.sha256)
    moving = None
    for moving in migration.plan_migration(  # noqa: B007 - the last item is the plan
            session, session.assistant(), target.id,
            fast_config(steps=2 * QUICK_MIGRATION, checkpoint_every=2),
            prompt_limit=QUICK_MIGRATION):
        pass
    assert isinstance(moving, migration.MigrationPlan)
    request = migration.request_migration(session.store, moving)
    decision = consent.decide(session.store, request.id, granted=True, via="cli-flag")
    run = migration.start_migration(session, moving, decision)
    plan["migrate"] = {"run": run.id, "consent": decision.id, "from": old.id,
                       "to_base": target.sha256}
    session.close()
    home.rename(root / "migrating")


def _old_home(root: Path) -> None:
    """A data home whose database stopped at schema 2 (as an old Kindred left it)."""
    from kindred.core.home.paths import resolve_home
    from kindred.core.home.store import MIGRATIONS

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


def _mark(line: str) -> str:
    """"done" for the worker's own line, else a training progress event's name."""
    text = line.strip()
    if text.startswith("{"):
        try:
            return str(json.loads(text).get("event", ""))
        except ValueError:
            return ""
    return text


def _run_to_end(home: Path, op: str, plan: dict[str, Any]) -> list[tuple[float, float]]:
    """Run the operation once, untouched; the windows its kills are drawn from (seconds after
    "ready"): its whole time until its "done" line (not the process exit after it), and for a
    migration also the stretch from the end of training to the archived version."""
    proc = _start(home, op, plan)
    began = time.perf_counter()
    assert proc.stdout is not None
    marks: dict[str, float] = {}
    for line in proc.stdout:
        event = _mark(line)
        marks[event] = time.perf_counter() - began
        if event in ("done", "error"):
            break
    _, err = proc.communicate(timeout=600)
    if "done" not in marks:
        raise RuntimeError(f"{op} failed on its own: {err[-2000:]}")
    windows = [(0.0, marks["done"])]
    if op == "migrate":
        windows.append((marks["eval"], marks["archived"] + 0.2))
    return windows


def _copy_home(source: Path, target: Path) -> None:
    """A copy of a data home; the rebuildable caches (a 269 MB dequantized base) are hard links,
    as the app never writes into a cache file (it renames a new folder into place)."""
    def copy(src: str, dst: str) -> None:
        if "cache" in Path(src).relative_to(source).parts[:1]:
            os.link(src, dst)
        else:
            shutil.copy2(src, dst)

    shutil.copytree(source, target, copy_function=copy)


def _consent_used(store: Any, consent_id: int) -> bool:
    row = store.db.execute("SELECT used_at FROM consent_decisions WHERE request_id = ?",
                           [consent_id]).fetchone()
    return bool(row and row[0])


def _state(home: Path, op: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What the checks need, read after a normal start (recovery included)."""
    from kindred.core.archive import versions
    from kindred.core.archive.catalog import verify_all
    from kindred.core.home import ledger
    from kindred.core.session import open_session

    session = open_session(home)
    try:
        store = session.store
        listed = versions.list_versions(store)
        rows = {v.id: v.status for v in listed}
        checks = {c.version_id: c.ok for c in verify_all(store)}
        used = {key: _consent_used(store, plan[key]["consent"])
                for key in CONSENTED if key in plan}
        kinds = [e.kind for e in ledger.events(store)]
        names = [a[0] for a in store.db.execute("SELECT name FROM assistants").fetchall()]
        requests = store.db.execute("SELECT COUNT(*) FROM consent_requests").fetchone()[0]
        rollouts = {int(r[0]): (r[1], int(r[2]), r[3]) for r in store.db.execute(
            "SELECT id, to_version, step, state FROM rollouts").fetchall()}
        to_base = plan.get("migrate", {}).get("to_base")
        migrated = sorted(v.id for v in listed if v.source == "migrated"
                          and v.base_sha256 == to_base)
        trials_open = store.db.execute("SELECT COUNT(*) FROM trials WHERE ended_at IS NULL"
                                       ).fetchone()[0]
        state = {"rows": rows, "checks": checks, "used": used, "kinds": kinds, "names": names,
                 "trials_open": trials_open,
                 "requests": requests, "ledger_ok": ledger.verify(store).ok,
                 "integrity": store.db.execute("PRAGMA integrity_check").fetchone()[0],
                 "active": session.assistant().active_version, "rollouts": rollouts,
                 "migrated": migrated}
    finally:
        session.close()
    orphans = home / "archive" / "orphans"
    state["orphans"] = sorted(p.name for p in orphans.iterdir()) if orphans.is_dir() else []
    state["leftovers"] = state["orphans"] + sorted(p.name for p in (home / "tmp").iterdir())
    return state


def _events(before: dict[str, Any], after: dict[str, Any], kind: str) -> int:
    return int(after["kinds"].count(kind) - before["kinds"].count(kind))


def _happened(op: str, before: dict[str, Any], after: dict[str, Any],
              plan: dict[str, Any], used_key: str | None = None) -> bool | None:
    """True (fully done), False (not at all) or None (half done)."""
    if op in IN_TRIAL:  # the change and the trial's end: both or neither
        done = _happened(IN_TRIAL[op], before, after, {IN_TRIAL[op]: plan[op]},
                         used_key=op)
        ended = _events(before, after, "trial_ended")
        if done and ended == 1 and after["trials_open"] == 0:
            return True
        if done is False and ended == 0 and after["trials_open"] == before["trials_open"]:
            return False
        return None
    if op in ("activate", "retire", "delete"):
        target = plan[op]["version"]
        done_status = {"activate": "active", "retire": "retired", "delete": "deleted"}[op]
        event = {"activate": "activated", "retire": "retired", "delete": "deleted"}[op]
        status, used = after["rows"].get(target), after["used"][used_key or op]
        count = _events(before, after, event)
        if status == done_status and used and count == 1:
            return True
        if status == before["rows"][target] and not used and count == 0:
            return False
        return None
    if op.startswith("rollout") or op == "rollback":
        return _rollout_happened(op, before, after, plan)
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
    if op == "migrate":  # the version and its `migrated` event come in one transaction
        count = _events(before, after, "migrated")
        if new_rows == set(after["migrated"]) and len(new_rows) == 1 and count == 1:
            return after["rows"][next(iter(new_rows))] == "candidate" or None
        return False if not new_rows and count == 0 else None
    raise ValueError(op)


def _rollout_happened(op: str, before: dict[str, Any], after: dict[str, Any],
                      plan: dict[str, Any]) -> bool | None:
    """Rollout row, version statuses, ledger events and consent use agree, all done or none."""
    target = plan[op]["version"]
    used = after["used"].get(op, False)
    if op == "rollout_start":
        new = [r for key, r in after["rollouts"].items() if key not in before["rollouts"]]
        started = _events(before, after, "rollout_started")
        if new == [(target, 1, "running")] and used and started == 1 \
                and after["rows"][target] == "trial":
            return True
        if not new and not used and started == 0 \
                and after["rows"][target] == before["rows"][target]:
            return False
        return None
    (key, was), = before["rollouts"].items()
    now = after["rollouts"].get(key)
    steps = _events(before, after, "rollout_step")
    same = after["rows"] == before["rows"] and after["active"] == before["active"]
    if now == was and same and not used and all(
            _events(before, after, k) == 0 for k in ("rollout_step", "rollout_finished",
                                                     "rolled_back")):
        return False
    if op == "rollout_step":
        return (now == (target, was[1] + 1, "running") and used and steps == 1 and same) or None
    if op == "rollout_finish":
        outgoing = before["active"]
        return (now == (target, ROLLOUT_STEPS, "finished") and used and steps == 1
                and _events(before, after, "rollout_finished") == 1
                and after["active"] == target and after["rows"][target] == "active"
                and after["rows"][outgoing] == "retired") or None
    if op == "rollback":
        return (now == (target, was[1], "rolled_back") and after["rows"][target] == "refused"
                and _events(before, after, "rolled_back") == 1
                and after["active"] == before["active"]) or None
    raise ValueError(op)


def _resume_migration(home: Path, plan: dict[str, Any]) -> str:
    """What `kindred migrate --resume --yes` does: ask (granted), run the training process
    with --resume to its end. Returns "" when it finished, else what went wrong."""
    from kindred.core.home import consent
    from kindred.core.session import open_session
    from kindred.core.training import runner
    from kindred.core.upgrades import migration

    session = open_session(home)
    try:
        run = migration.resumable(session, session.assistant())
        if run is None:
            return f"no resumable run (status {_run_status(home, plan)})"
        request = runner.request_resume(session.store, run)
        decision = consent.decide(session.store, request.id, granted=True, via="cli-flag")
    finally:
        session.close()
    out = subprocess.run(runner.training_command(run, decision, resume=True),
                         env=runner.training_env(), capture_output=True, text=True,
                         timeout=900, check=False)
    events = [_mark(line) for line in out.stdout.splitlines()]
    if out.returncode != 0 or "done" not in events:
        tail = out.stdout.strip().splitlines()[-1:] or out.stderr.strip().splitlines()[-1:]
        return f"resume ended with {out.returncode}: {tail}"
    return ""


def _run_status(home: Path, plan: dict[str, Any]) -> str:
    from kindred.core.training.run import RunDir

    return RunDir(home / "runs" / plan["migrate"]["run"]).status()


def trial(tally: Tally, root: Path, op: str, plan: dict[str, Any],
          windows: list[tuple[float, float]], rng: random.Random,
          baseline: dict[str, dict[str, Any]]) -> None:
    source = root / SOURCE.get(op, "full")
    home = root / "trial"
    if home.exists():
        shutil.rmtree(home)
    _copy_home(source, home)
    tally.trials += 1
    tally.by_op[op] = tally.by_op.get(op, 0) + 1
    proc = _start(home, op, plan)
    low, high = rng.choice(windows)
    time.sleep(rng.uniform(low, high))
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
    from kindred.core.home.store import MIGRATIONS

    done = (schema == len(MIGRATIONS)) if op == "upgrade" else _happened(op, before, after, plan)
    if op == "migrate":
        _after_migration(tally, home, plan, before, after, done)
        return
    # A version folder renamed into the archive before its row was committed is set aside
    # whole (recovery never deletes it) and reclaimed once the same weights are archived again:
    # it may wait for the redo below, but nothing else may stay behind.
    waiting = after["orphans"] if done is False and op in ("archive", "adapter") else []
    if done is None or set(after["leftovers"]) - set(waiting):
        tally.bad("half_done", op, f"happened={done}, leftovers={after['leftovers'][:3]}")
    if done:
        tally.completed(op)
        return
    try:  # what did not happen can be done now
        out = subprocess.run([sys.executable, "-c", WORKER.replace(
            'print("ready", flush=True)', "pass"), str(home), op, json.dumps(plan)],
            capture_output=True, text=True, timeout=600, check=False)
        if "done" not in out.stdout:
            tally.bad("stuck", op, out.stderr.strip().splitlines()[-1] if out.stderr else "?")
        elif waiting and (kept := _state(home, op, plan)["orphans"]):
            tally.bad("half_done", op, f"done again, yet the copy set aside stays: {kept[:3]}")
    except subprocess.TimeoutExpired:
        tally.bad("stuck", op, "the retry hung")


def _after_migration(tally: Tally, home: Path, plan: dict[str, Any], before: dict[str, Any],
                     after: dict[str, Any], done: bool | None) -> None:
    """A killed move is resumable: unless its run already finished, `--resume` takes it to the
    end, with exactly one migrated version (the one archived before the kill, if any) and no
    copy left aside (a folder a kill set aside is reclaimed when the same weights archive)."""
    op = "migrate"
    if done is None:
        tally.bad("half_done", op, f"version rows {after['migrated']}, events "
                  f"{_events(before, after, 'migrated')}")
        return
    if done:
        tally.completed(op)
    if _run_status(home, plan) != "done":
        problem = _resume_migration(home, plan)
        if problem:
            tally.bad("stuck", op, problem)
            return
        final = _state(home, op, plan)
    else:
        final = after
    if len(final["migrated"]) != 1 or (done and final["migrated"] != after["migrated"]):
        tally.bad("half_done", op, f"after resuming: migrated versions {final['migrated']}")
    if final["leftovers"] or not final["ledger_ok"] or not all(final["checks"].values()):
        tally.bad("half_done", op, f"after resuming: leftovers {final['leftovers'][:3]}, "
                  f"ledger {final['ledger_ok']}")


def campaign(trials: int, seed_value: int, ops: tuple[str, ...] = OPS,
             work: Path | None = None) -> dict[str, Any]:
    rng = random.Random(seed_value)
    saved = os.environ.get("KINDRED_QUALITY_SET")
    with tempfile.TemporaryDirectory(prefix="kfaults-") as tmp:
        root = work or Path(tmp)
        (root / "card-set.json").write_text(json.dumps(CARD_SET))
        os.environ["KINDRED_QUALITY_SET"] = str(root / "card-set.json")  # for the processes
        try:
            return _campaign(root, trials, seed_value, ops, rng)
        finally:
            if saved is None:
                os.environ.pop("KINDRED_QUALITY_SET", None)
            else:
                os.environ["KINDRED_QUALITY_SET"] = saved


def _campaign(root: Path, trials: int, seed_value: int, ops: tuple[str, ...],
              rng: random.Random) -> dict[str, Any]:
    plan = prepare(root, ops)
    windows: dict[str, list[tuple[float, float]]] = {}
    baseline: dict[str, dict[str, Any]] = {}
    for op in ops:
        source = root / SOURCE.get(op, "full")
        probe = root / "trial"  # the trials' own path: a run's plan names its home
        if probe.exists():
            shutil.rmtree(probe)
        _copy_home(source, probe)
        baseline[op] = _state(root / "empty", op, plan) if op == "upgrade" else \
            _state(source, op, plan)
        windows[op] = _run_to_end(probe, op, plan)
        shutil.rmtree(probe)
    tally = Tally()
    for index in range(trials):
        op = ops[index % len(ops)]
        trial(tally, root, op, plan, windows[op], rng, baseline)
    return {"trials": tally.trials, "lost": tally.lost, "corrupt": tally.corrupt,
            "half_done": tally.half_done, "stuck": tally.stuck,
            "completed_before_kill": tally.happened, "by_op": tally.by_op,
            "completed_by_op": tally.happened_by_op,
            "op_seconds": {k: round(v[0][1], 2) for k, v in windows.items()},
            "seed": seed_value, "problems": tally.problems}


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
