"""The assistant's state under random sequences of every operation (issue 21): activate,
restore, retire, delete (consents granted, refused, stale, re-used), rollout start, steps by
consent and by pace, pause, resume, roll back, trials, real chatting, and at the end an export
imported into a fresh home. After every step the real core must agree with a small reference
model (tests/support/state_machine.py). bench/state.py runs the long profile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from kindred.core.engine.llama import Engine
from support.state_machine import OUTCOMES, machine_for

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("KINDRED_STATE_EXAMPLES", "12"))


def test_the_state_keeps_its_promises_under_random_sequences(engine: Engine,
                                                             model_path: Path) -> None:
    run_state_machine_as_test(
        machine_for(engine, model_path),
        settings=settings(max_examples=EXAMPLES, stateful_step_count=50, deadline=None,
                          derandomize=True, database=None,
                          suppress_health_check=list(HealthCheck)))
    # the sequences reached the places where features meet, not only the easy paths
    reached = {k for k, n in OUTCOMES.items() if n}
    for needed in ("activate", "activate refused", "retire", "delete", "delete refused",
                   "rollout", "rollout refused", "next_step", "pace step", "trial_start",
                   "chat", "export imported", "copy here"):
        assert needed in reached, (needed, OUTCOMES)
    assert any("(stale)" in k for k in reached), OUTCOMES
