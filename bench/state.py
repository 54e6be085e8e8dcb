"""The one owner of the assistant's state under load (issue 21), not a test:

- the model-based test's long profile (tests/support/state_machine.py): random sequences of
  every operation (activate, restore, retire, delete with consents granted, refused, stale and
  re-used; rollout start, steps by consent and by pace, pause, resume, roll back; trials; real
  chatting through llama.cpp; an export imported into a fresh home at the end of each), each
  step checked against a reference model. `violations` counts chunks of examples in which
  hypothesis found a disagreement (target 0);
- racing pairs (tests/support/racing.py): two processes on one home run two operations at
  once at a barrier, consents granted just before; `inconsistent` counts pairs after which the
  home broke a rule or an operation died with a traceback instead of a clear refusal (target 0).

    python bench/state.py --json [--sequences 2000] [--steps 50] [--pairs 200] [--chunk 100]

Targets: sequences >= 2000, steps >= 50000, violations 0, racing_pairs >= 200, inconsistent 0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def long_profile(sequences: int, steps: int, chunk: int) -> dict[str, object]:
    from hypothesis import HealthCheck, settings
    from hypothesis.stateful import run_state_machine_as_test

    from kindred.core.engine.llama import Engine
    from kindred.core.home.models import embedded_model_path
    from support.state_machine import EXPORT_EVERY, OUTCOMES, TOTALS, machine_for

    EXPORT_EVERY[0] = 10
    model = embedded_model_path()
    engine = Engine(model, n_threads=1)  # one thread: steady beside other work (two stall)
    violations: list[str] = []
    started = time.monotonic()
    try:
        while TOTALS["sequences"] < sequences:
            try:
                run_state_machine_as_test(
                    machine_for(engine, model),
                    settings=settings(max_examples=chunk, stateful_step_count=steps,
                                      deadline=None, database=None, derandomize=False,
                                      suppress_health_check=list(HealthCheck)))
            except Exception as exc:  # hypothesis reports the shrunk failing sequence
                violations.append(f"{type(exc).__name__}: {str(exc)[:2000]}")
            print(f"state: {TOTALS['sequences']} sequences, {TOTALS['steps']} steps, "
                  f"{len(violations)} violations", file=sys.stderr, flush=True)
    finally:
        engine.close()
    return {"sequences": TOTALS["sequences"], "steps": TOTALS["steps"],
            "exports_checked": TOTALS["exports"],
            "violations": len(violations), "violation_examples": violations[:3],
            "outcomes": dict(sorted(OUTCOMES.items())),
            "profile_s": round(time.monotonic() - started, 1)}


def racing(pairs: int, seed: int) -> dict[str, object]:
    from kindred.core.archive import versions
    from kindred.core.home.models import embedded_model_path
    from kindred.core.session import open_session
    from support.archive_helpers import activate, make_version
    from support.racing import Racers, pick_pair, prepare, problems

    rng = random.Random(seed)
    model = embedded_model_path()
    inconsistent: list[str] = []
    outcomes: dict[str, int] = {}
    started = time.monotonic()
    done = 0
    while done < pairs:  # a fresh home every 50 pairs, so versions keep coming and going
        with tempfile.TemporaryDirectory(prefix="kindred-race-") as tmp:
            session = open_session(Path(tmp) / "home")
            known = [make_version(session, model, seed=s).id for s in range(1, 4)]
            activate(session, versions.get_version(session.store, known[0]))
            aid = session.assistant().id
            racers = Racers(session.home.root)
            try:
                for n in range(min(50, pairs - done)):
                    if n % 6 == 5:
                        known.append(make_version(session, model, seed=100 + n).id)
                    (op_a, v_a), (op_b, v_b) = pick_pair(rng, known)
                    results = racers.race(prepare(session, op_a, v_a),
                                          prepare(session, op_b, v_b))
                    for (kind, _), op in zip(results, (op_a, op_b), strict=True):
                        outcomes[f"{op} {kind}"] = outcomes.get(f"{op} {kind}", 0) + 1
                    found = problems(session.store, aid)
                    found += [f"{op}: {msg}" for (kind, msg), op in
                              zip(results, (op_a, op_b), strict=True) if kind == "error"]
                    if found:
                        inconsistent.append(f"{op_a} + {op_b}: {found}")
                    done += 1
            finally:
                racers.close()
                session.close()
    return {"racing_pairs": done, "inconsistent": len(inconsistent),
            "inconsistent_examples": inconsistent[:3],
            "racing_outcomes": dict(sorted(outcomes.items())),
            "racing_s": round(time.monotonic() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--part", choices=("all", "profile", "racing"), default="all")
    args = parser.parse_args()
    result: dict[str, object] = {}
    if args.part in ("all", "racing"):
        result.update(racing(args.pairs, args.seed))
    if args.part in ("all", "profile"):
        result.update(long_profile(args.sequences, args.steps, args.chunk))
    print(json.dumps(result, indent=None if args.json else 1))
    bad = int(result.get("violations", 0) or 0) + int(result.get("inconsistent", 0) or 0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
