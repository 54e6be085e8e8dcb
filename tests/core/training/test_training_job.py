"""Real training runs (tiny data, few steps) through the runner and the training process."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from kindred.core.archive import versions
from kindred.core.archive.objects import dataset_path, peft_folder, verify_version
from kindred.core.engine.llama import Engine
from kindred.core.formats.peft_files import read_safetensors
from kindred.core.home import consent
from kindred.core.home.consent import ConsentError
from kindred.core.learning.dataset import Dataset
from kindred.core.session import Session
from kindred.core.training import evidence, runner
from kindred.core.training.run import RunDir
from kindred.core.upgrades import decisions
from support.training_helpers import (
    PIRATE,
    TEXTS,
    add_examples,
    fast_config,
    grant_training,
    peft_loss,
    run_process,
    stream_process,
    train_version,
    use_shared_cache,
)

pytestmark = pytest.mark.slow
NEW_PROMPTS = ["What is the tallest mountain?", "Tell me about dogs."]


def _grant(session: Session, req: consent.ConsentRequest) -> consent.Decision:
    return consent.decide(session.store, req.id, granted=True, via="gui")


def test_candidate_shows_the_taught_style_and_waits_for_consent(session: Session,
                                                                 engine: Engine) -> None:
    add_examples(session, PIRATE)
    version_id = train_version(session, fast_config(steps=16, lr=3e-3))
    store, assistant = session.store, session.assistant()
    version = versions.get_version(store, version_id)
    assert (version.status, version.source, version.parent) == ("candidate", "trained", None)
    assert assistant.active_version is None and verify_version(store, version_id).ok
    metrics = version.metrics
    assert metrics["train_loss"] < 0.7 * metrics["train_loss_start"]
    assert metrics["steps"] == 16 and metrics["examples"] == len(PIRATE)
    snapshot = Dataset.from_bytes(dataset_path(store, str(version.dataset)).read_bytes())
    assert [e.answer for e in snapshot.examples] == [a for _, a in PIRATE]
    assert version.manifest["training"]["config"]["steps"] == 16

    # the training process answered the review's questions already: Review opens at once
    kept = session.home.cache / evidence.REVIEW_CACHE / f"{version_id}.json"
    assert kept.is_file()
    # and it noted how long it took against its estimate, for the next consent's
    from kindred.core.training import estimate
    assert estimate.measured_factor(session.home.cache, version.base_sha256) != 1.0
    closed = Engine(engine.model_path, n_ctx=512)
    closed.close()  # answers from the cache need no llama.cpp
    assert evidence.review_answers(store, closed, assistant, version_id)

    rows = evidence.side_by_side(engine, store, assistant, version_id, NEW_PROMPTS)
    assert engine.adapters == []  # put back as it was
    assert all("ahoy" in r["candidate"].lower() for r in rows), rows
    assert not any("ahoy" in r["current"].lower() for r in rows), rows

    with pytest.raises(ConsentError):
        versions.activate(store, version_id, None)
    req = evidence.request_activation(store, engine, version_id, NEW_PROMPTS[:1])
    assert req.kind == "activate" and req.evidence["side_by_side"][0]["prompt"] == NEW_PROMPTS[0]
    decisions.answer(store, req.id, granted=False, via="gui")
    assert versions.get_version(store, version_id).status == "refused"
    assert session.assistant().active_version is None
    req = evidence.request_activation(store, engine, version_id, NEW_PROMPTS[:1])
    decisions.answer(store, req.id, granted=True, via="gui")
    assert session.assistant().active_version == version_id


def test_a_child_version_keeps_what_its_parent_learned(session: Session) -> None:
    cfg = fast_config(steps=10)
    add_examples(session, PIRATE[:3])
    parent = train_version(session, cfg)
    kind, summary, proof = versions.describe_activation(session.store,
                                                        versions.get_version(session.store,
                                                                             parent))
    req = consent.request(session.store, kind, session.assistant().id, parent, summary, proof)
    versions.activate(session.store, parent, _grant(session, req))
    add_examples(session, TEXTS)
    child = train_version(session, cfg)
    record = versions.get_version(session.store, child)
    assert record.parent == parent and record.manifest["training"]["started_from"] == "parent"
    assert record.metrics["examples"] == len(PIRATE[:3]) + len(TEXTS)  # all past data replayed
    assert session.assistant().active_version == parent  # still the parent until consent

    before, after = (peft_loss(session, v, PIRATE[:3]) for v in (parent, child))
    assert after <= 1.10 * before, (before, after)
    assert peft_loss(session, child, TEXTS) < peft_loss(session, parent, TEXTS)


def test_stop_needs_consent_keeps_a_checkpoint_and_resume_gives_the_same_adapter(
        session: Session) -> None:
    add_examples(session, PIRATE[:4])
    cfg = fast_config(steps=8, checkpoint_every=2)
    reference = train_version(session, cfg)

    plan = runner.plan_training(session, session.assistant(), cfg)
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    process, events = stream_process(run, decision)
    with process:
        for event in events:
            if event["event"] == "checkpoint":
                break
        # background work: the trainer runs below the chat's priority
        assert os.getpriority(os.PRIO_PROCESS, process.pid) >= max(10, os.nice(0))
        with pytest.raises(ConsentError):
            runner.interrupt(session.store, run, None)
        assert run.is_running()
        runner.interrupt(session.store, run,
                         _grant(session, runner.request_interrupt(session.store, run)))
        rest = [e["event"] for e in events]
        code = process.wait(timeout=120)
    assert code == 3 and rest[-1] == "stopped", rest
    checkpoint = run.last_checkpoint()
    assert run.status() == "stopped" and checkpoint is not None and checkpoint[0] < 8
    assert runner.resumable_run(session, plan.assistant_id) == run

    resumed = _grant(session, runner.request_resume(session.store, run))
    code, tail = run_process(run, resumed, resume=True)
    assert code == 0, tail[-1:]
    start = next(e for e in tail if e["event"] == "start")
    assert start["resumed_from"] == checkpoint[0]
    assert [e["step"] for e in tail if e["event"] == "step"] == list(range(checkpoint[0] + 1, 9))
    version = str(tail[-1]["version"])
    assert RunDir(run.path).status() == "done" and not run.checkpoints()
    a, b = (read_safetensors(peft_folder(session.store, v) / "adapter_model.safetensors")
            for v in (reference, version))
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-7, err_msg=name)
    assert runner.resumable_run(session, plan.assistant_id) is None


def test_an_unloadable_base_fails_in_the_process_with_a_message(session: Session) -> None:
    """If the cache is damaged and the GGUF cannot be read by transformers, the run fails with
    the reason, archives nothing and stays resumable."""
    add_examples(session, PIRATE[:2])
    model = session.model_for(session.assistant())
    use_shared_cache(session.home, model.sha256)
    plan = runner.plan_training(session, session.assistant(), fast_config())
    decision = grant_training(session, plan)
    run = runner.start_training(session, plan, decision)
    plan_data = run.plan()
    plan_data["base"]["path"] = str(session.home.root / "missing.gguf")
    (session.home.cache / "bases" / model.sha256 / "model.safetensors").unlink()
    run.plan_path.write_text(json.dumps(plan_data))
    code, events = run_process(run, decision)
    assert code == 2 and events[-1]["event"] == "error"
    assert "cannot load missing.gguf" in events[-1]["message"]
    assert run.status() == "failed"
    assert session.store.db.execute("SELECT COUNT(*) FROM versions").fetchone()[0] == 0
