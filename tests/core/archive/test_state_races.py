"""The same operations from two processes at once on one home (issue 21): activate, retire,
delete, rollout start / next step / roll back / pause, trial start / end, each pair racing at a
barrier with consents granted just before. After each pair the home keeps every rule of the
one owner of the assistant's state (tests/support/racing.py); bench/state.py runs 200+ pairs."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kindred.core.archive import versions
from kindred.core.session import Session
from support.archive_helpers import activate, make_version
from support.racing import Racers, pick_pair, prepare, problems

pytestmark = pytest.mark.slow
PAIRS = 40


def test_racing_pairs_leave_one_consistent_state(session: Session, model_path: Path) -> None:
    rng = random.Random(21)
    known = [make_version(session, model_path, seed=s).id for s in range(1, 4)]
    activate(session, versions.get_version(session.store, known[0]))
    aid = session.assistant().id
    racers = Racers(session.home.root)
    outcomes: dict[str, int] = {}
    try:
        for n in range(PAIRS):
            if n % 6 == 5:
                known.append(make_version(session, model_path, seed=10 + n).id)
            (op_a, v_a), (op_b, v_b) = pick_pair(rng, known)
            results = racers.race(prepare(session, op_a, v_a), prepare(session, op_b, v_b))
            for (kind, message), op in zip(results, (op_a, op_b), strict=True):
                assert kind != "error", (op, message)
                outcomes[f"{op} {kind}"] = outcomes.get(f"{op} {kind}", 0) + 1
            assert problems(session.store, aid) == [], (op_a, op_b, results)
    finally:
        racers.close()
    assert sum(n for k, n in outcomes.items() if k.endswith("done")) >= PAIRS // 4, outcomes
    assert any(k.endswith("refused") for k in outcomes), outcomes
