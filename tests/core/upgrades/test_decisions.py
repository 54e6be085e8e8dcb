"""One dispatcher carries out the answer to any version request (upgrades.decisions), the one
the window's consent flow and the CLI use: granted, it does exactly what was asked through the
gated core function; refused, it records the refusal and changes nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from kindred.core.archive import assistant_state, versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.states import ConsentKind, VersionStatus
from kindred.core.home import consent
from kindred.core.session import Session
from kindred.core.upgrades import decisions, rollout
from support.archive_helpers import activate, make_version, phasing_in


def asked(session: Session, version_id: str, describe: str) -> int:
    version = versions.get_version(session.store, version_id)
    describer = {"activation": versions.describe_activation, "retire": versions.describe_retire,
                 "delete": versions.describe_delete}[describe]
    kind, summary, evidence = describer(session.store, version)
    return consent.request(session.store, kind, version.assistant_id, version.id, summary,
                           evidence).id


def test_each_kind_is_carried_out_and_says_so(session: Session, model_path: Path) -> None:
    store = session.store
    v1, v2 = make_version(session, model_path, seed=1), make_version(session, model_path, seed=2)
    activate(session, v1)
    aid = v1.assistant_id

    refused = decisions.answer(store, asked(session, v2.id, "activation"), granted=False,
                               via="gui")
    assert not refused.granted and not refused.speaks_changed
    assert "candidate stays archived" in refused.message
    assert versions.get_version(store, v2.id).status == VersionStatus.REFUSED
    assert assistant_state.speaks_through(store, aid) == [(v1.id, 1.0)]

    activated = decisions.answer(store, asked(session, v2.id, "activation"), granted=True,
                                 via="gui")
    assert activated.kind == ConsentKind.ACTIVATE and activated.speaks_changed
    assert "is now active" in activated.message
    assert assistant_state.speaks_through(store, aid) == [(v2.id, 1.0)]

    retired = decisions.answer(store, asked(session, v2.id, "retire"), granted=True, via="gui")
    assert retired.kind == ConsentKind.RETIRE and retired.speaks_changed
    assert assistant_state.speaks_through(store, aid) == []

    restored = decisions.answer(store, asked(session, v1.id, "activation"), granted=True,
                                via="gui")
    assert restored.kind == ConsentKind.RESTORE and restored.speaks_changed
    assert assistant_state.speaks_through(store, aid) == [(v1.id, 1.0)]

    gone = decisions.answer(store, asked(session, v2.id, "delete"), granted=True, via="gui")
    assert gone.kind == ConsentKind.DELETE and not gone.speaks_changed
    assert versions.get_version(store, v2.id).status == VersionStatus.DELETED


def test_a_phase_in_starts_with_the_plan_its_consent_agreed_to(session: Session,
                                                                model_path: Path) -> None:
    store = session.store
    v1, v2 = make_version(session, model_path, seed=1), make_version(session, model_path, seed=2)
    activate(session, v1)
    plan = rollout.Plan(steps=3)
    kind, summary, evidence = rollout.describe_start(store, v2, plan)
    request = consent.request(store, kind, v2.assistant_id, v2.id, summary, evidence)
    outcome = decisions.answer(store, request.id, granted=True, via="gui")
    assert outcome.kind == ConsentKind.ROLLOUT and outcome.message.startswith("Phasing in:")
    current = rollout.current(store, v2.assistant_id)
    assert current is not None and current.steps == 3 and current.to_version == v2.id


def test_a_request_that_is_not_about_a_version_is_refused_and_nothing_changes(
        session: Session, model_path: Path) -> None:
    store = session.store
    v1 = make_version(session, model_path, seed=1)
    request = consent.request(store, "train", v1.assistant_id, "run-1", "Train?", {})
    decision = consent.decide(store, request.id, granted=True, via="gui")
    with pytest.raises(KindredError, match="not about a version"):
        decisions.carry_out(store, decision)
    assert versions.get_version(store, v1.id).status == VersionStatus.CANDIDATE


def test_a_rollouts_next_step_is_carried_out_and_a_refusal_changes_nothing(
        session: Session, model_path: Path) -> None:
    store = session.store
    a, b = phasing_in(session, model_path, steps=2)
    aid = a.assistant_id

    def ask_next() -> int:
        kind, summary, evidence = rollout.describe_next_step(store, aid)
        return consent.request(store, kind, aid, evidence["version"], summary, evidence).id

    before = assistant_state.speaks_through(store, aid)
    refused = decisions.answer(store, ask_next(), granted=False, via="gui")
    assert not refused.granted and "goes on at its pace" in refused.message
    assert assistant_state.speaks_through(store, aid) == before
    assert versions.get_version(store, b.id).status == VersionStatus.TRIAL  # not "refused"

    finished = decisions.answer(store, ask_next(), granted=True, via="gui")
    assert finished.granted and finished.speaks_changed and "finished" in finished.message
    assert assistant_state.speaks_through(store, aid) == [(b.id, 1.0)]
    assert versions.get_version(store, a.id).status == VersionStatus.RETIRED
