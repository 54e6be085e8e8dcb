"""Before any training: bad inputs and missing consent give a clear message and change nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from kindred.core.basics.errors import KindredError
from kindred.core.chat.conversations import add_message, create_conversation
from kindred.core.home import consent
from kindred.core.home.assistants import create_assistant
from kindred.core.home.consent import ConsentError
from kindred.core.home.models import add_model
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.core.training.run import list_runs
from support.archive_helpers import home_state
from support.training_helpers import PIRATE, add_examples, events_of, fast_config


def _foreign_base(path: Path) -> Path:
    """A small but valid GGUF base of an architecture transformers cannot load (rwkv6)."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "rwkv6")
    writer.add_string("general.name", "Tiny RWKV")
    writer.add_string("tokenizer.ggml.model", "gpt2")
    writer.add_token_list(["a", "b", "c"])
    writer.add_uint32("rwkv6.context_length", 512)
    writer.add_tensor("token_embd.weight", np.zeros((3, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_nothing_to_learn_is_refused(session: Session) -> None:
    before = home_state(session)
    with pytest.raises(KindredError, match="nothing to learn"):
        runner.plan_training(session, session.assistant())
    assert home_state(session) == before
    conv = create_conversation(session.store, session.assistant().id)
    add_message(session.store, conv.id, "user", "Hi")
    answer = add_message(session.store, conv.id, "assistant", "Go away.")
    feedback.rate(session.store, answer.id, -1)  # "not this" alone is not a target
    before = home_state(session)
    with pytest.raises(KindredError, match="nothing to learn"):
        runner.plan_training(session, session.assistant())
    assert home_state(session) == before


def test_an_example_longer_than_the_context_is_named(session: Session) -> None:
    aid = session.assistant().id
    add_examples(session, PIRATE[:1])
    long = feedback.add_example(session.store, aid, "word " * 2500, "Too long.")
    before = home_state(session)
    with pytest.raises(KindredError, match=rf"#{long.id} .* tokens long.*at most 2048"):
        runner.plan_training(session, session.assistant())
    assert home_state(session) == before
    with pytest.raises(KindredError, match="at most 256"):
        runner.plan_training(session, session.assistant(), fast_config(max_length=256))


def test_a_base_transformers_cannot_load_is_refused(session: Session, tmp_path: Path) -> None:
    model = add_model(session.store, _foreign_base(tmp_path / "tiny-rwkv.gguf"))
    assistant = create_assistant(session.store, "Foreign", model_id=model.id)
    feedback.add_example(session.store, assistant.id, "Hi", "Hello!")
    before = home_state(session)
    with pytest.raises(KindredError, match="architecture 'rwkv6' cannot be loaded"):
        runner.plan_training(session, assistant)
    assert home_state(session) == before


def test_refused_or_mismatched_consent_writes_nothing(session: Session) -> None:
    add_examples(session, PIRATE[:2])
    plan = runner.plan_training(session, session.assistant(), fast_config())
    assert "2 corrected answers" in plan.summary() and plan.total_steps == 8
    req = runner.request_training(session.store, plan)
    assert req.kind == "train" and req.subject == plan.run_id
    assert req.evidence["counts"]["correction"] == 2
    refused = consent.decide(session.store, req.id, granted=False, via="cli-prompt")
    with pytest.raises(ConsentError, match="refused"):
        runner.start_training(session, plan, refused)
    with pytest.raises(ConsentError, match="none was given"):
        runner.start_training(session, plan, None)
    other = consent.request(session.store, "train", plan.assistant_id, "another-run", "Train")
    granted_elsewhere = consent.decide(session.store, other.id, granted=True, via="gui")
    after_requests = home_state(session)
    with pytest.raises(ConsentError, match="given for another-run, not"):
        runner.start_training(session, plan, granted_elsewhere)
    assert home_state(session) == after_requests
    assert list_runs(session.home.runs) == []
    assert not any(session.home.datasets.iterdir())


def test_the_training_process_refuses_to_start_without_consent(session: Session) -> None:
    """Even started by hand, with a run folder, it uses up a granted consent or trains nothing."""
    add_examples(session, PIRATE[:2])
    plan = runner.plan_training(session, session.assistant(), fast_config())
    req = runner.request_training(session.store, plan)
    granted = consent.decide(session.store, req.id, granted=True, via="gui")
    run = runner.start_training(session, plan, granted)
    other = consent.request(session.store, "train", plan.assistant_id, plan.run_id, "again")
    refused = consent.decide(session.store, other.id, granted=False, via="gui")
    proc = subprocess.run(runner.training_command(run, refused), env=runner.training_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    events = events_of(proc.stdout.splitlines())
    assert proc.returncode == 2
    assert [e["event"] for e in events] == ["error"]
    assert "refused" in events[0]["message"]
    assert run.status() == "created" and not run.checkpoints()
    assert session.store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0
    assert consent.get_decision(session.store, granted.id).used_at is None  # type: ignore[union-attr]


def test_continuing_training_names_the_version_it_continues_from(session: Session,
                                                                   model_path: Path) -> None:
    from support.archive_helpers import activate, make_version

    activate(session, make_version(session, model_path, seed=1))
    add_examples(session, PIRATE[:2])
    plan = runner.plan_training(session, session.assistant(), fast_config())
    assert plan.parent is not None and plan.parent_name == "Version 1"
    assert "continuing from Version 1 and replaying all past data" in plan.summary()


def test_the_estimate_learns_this_computers_pace(session: Session, tmp_path: Path) -> None:
    from kindred.core.training import estimate

    add_examples(session, PIRATE[:2])
    base = session.model_for(session.assistant()).sha256
    plain = runner.plan_training(session, session.assistant(), fast_config()).estimate_s
    assert estimate.measured_factor(session.home.cache, base) == 1.0  # nothing measured yet
    for took in (300.0, 500.0, 400.0):  # three runs took 3-5 times their estimate of 100 s
        estimate.record(session.home.cache, base, 100.0, took)
    assert estimate.measured_factor(session.home.cache, base) == 4.0
    paced = runner.plan_training(session, session.assistant(), fast_config()).estimate_s
    assert paced == pytest.approx(4.0 * plain, rel=0.01)
    assert estimate.measured_factor(session.home.cache, "another base") == 1.0
    (session.home.cache / estimate.MEASURED).write_text("{not json")  # damaged: start over
    assert estimate.measured_factor(session.home.cache, base) == 1.0
    estimate.record(session.home.cache, base, 100.0, 5000.0)  # one odd run cannot promise a day
    assert estimate.measured_factor(session.home.cache, base) == 20.0
