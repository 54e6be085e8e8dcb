"""Moving an assistant to another base model: real training runs, real llama.cpp, real archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kindred.core.archive import versions as archive_versions
from kindred.core.archive.catalog import get_version
from kindred.core.basics.errors import KindredError
from kindred.core.basics.progress import run_to_end
from kindred.core.home import consent, ledger
from kindred.core.home.models import Model, add_model
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.upgrades import migration
from kindred.core.upgrades.migration_data import (
    answer_problem,
    repeated_ngram_share,
    trim_unfinished,
)
from support.archive_helpers import grant, home_state
from support.bases import link_base_cache, shared_cache
from support.training_helpers import (
    PIRATE,
    add_examples,
    fast_config,
    run_process,
    train_version,
)

QUICK = 4  # distillation and card prompts: enough to exercise them, quick on 2 busy cores


def last(work: Any) -> Any:
    """The operation's result: what it returns (the progress rule), never its last event."""
    return run_to_end(work)


def taught_assistant(session: Session) -> str:
    """An assistant with pirate corrections and a name, trained and active on the embedded
    model; returns the active version id."""
    add_examples(session, PIRATE)
    feedback.add_preference(session.store, session.assistant().id, "Call me Sam")
    version = get_version(session.store, train_version(session, fast_config(steps=6)))
    archive_versions.activate(session.store, version.id,
                              grant(session, "activate", version))
    return version.id


def migrate(session: Session, target: Model, steps: int = 6) -> tuple[str, dict[str, Any]]:
    """Plan, consent, run the real training process, measure: (new version id, card)."""
    link_base_cache(session.home.cache, shared_cache(target.path), target.sha256)
    plan = last(migration.plan_migration(session, session.assistant(), target.id,
                                         fast_config(steps=steps), prompt_limit=QUICK))
    assert isinstance(plan, migration.MigrationPlan)
    req = migration.request_migration(session.store, plan)
    assert req.kind == "migrate"
    decision = consent.decide(session.store, req.id, granted=True, via="cli-flag")
    run = migration.start_migration(session, plan, decision)
    code, events = run_process(run, decision, timeout=900)
    assert code == 0, events[-3:]
    version_id = str(events[-1]["version"])
    card = last(migration.measure(session, version_id))
    return version_id, card


# -- the quality rules (pure) ------------------------------------------------------------------


def test_distilled_answers_must_be_sound() -> None:
    assert answer_problem("") == "empty"
    assert answer_problem("!!! ??? ...") is not None
    assert answer_problem("Ahoy! " * 12) == "repetitive"
    assert answer_problem("the cat sat on the mat and the cat sat on the mat again and "
                          "the cat sat on the mat") == "repetitive"
    assert answer_problem("Ahoy, Sam! Paris be the capital of France, arr!") is None
    assert repeated_ngram_share("one two three four") == 0.0
    assert trim_unfinished("Paris is lovely. It has many") == "Paris is lovely."
    assert trim_unfinished("no sentence end here") == ""


# -- bad inputs: a clear error, nothing changed ----------------------------------------------


def test_refuses_without_anything_learned(session: Session, sibling_model_path: Path) -> None:
    target = add_model(session.store, sibling_model_path)
    before = home_state(session)
    with pytest.raises(KindredError, match="no active version"):
        last(migration.plan_migration(session, session.assistant(), target.id))
    assert home_state(session) == before


@pytest.mark.slow
def test_bad_moves_change_nothing(session: Session, sibling_model_path: Path,
                                  model_path: Path) -> None:
    version_id = taught_assistant(session)
    embedded = session.model_for(session.assistant())
    target = add_model(session.store, sibling_model_path)
    session.store.db.execute("UPDATE models SET architecture = 'mamba' WHERE id = ?",
                             [target.id])  # as if the trainer could not load it
    before = home_state(session)
    cases = [(embedded.id, "already uses"), (target.id, "cannot train on")]
    for key, message in cases:
        with pytest.raises(KindredError, match=message):
            last(migration.plan_migration(session, session.assistant(), key))
        assert home_state(session) == before
    session.store.db.execute("UPDATE models SET architecture = 'llama' WHERE id = ?",
                             [target.id])
    version = get_version(session.store, version_id)
    folder = session.home.objects / version_id[:2] / version_id
    weights = folder / "adapter_model.safetensors"
    weights.chmod(0o644)
    weights.write_bytes(weights.read_bytes()[:-8] + b"\0" * 8)  # damaged on disk
    before = home_state(session)
    with pytest.raises(KindredError, match="cannot be carried over"):
        last(migration.plan_migration(session, session.assistant(), target.id))
    assert home_state(session) == before
    assert version.status == "active"


# -- a whole move and back -------------------------------------------------------------------


@pytest.mark.slow
def test_migrate_to_sibling_card_lineage_ledger_and_back(session: Session,
                                                         sibling_model_path: Path) -> None:
    old_id = taught_assistant(session)
    embedded = session.model_for(session.assistant())
    target = add_model(session.store, sibling_model_path)
    new_id, card = migrate(session, target)

    new = get_version(session.store, new_id)
    assert new.status == "candidate" and new.source == "migrated"
    assert new.parent == old_id and new.base_sha256 == target.sha256
    assert session.assistant().active_version == old_id  # nothing changed in the chats yet
    event = migration.migrated_event(session.store, new_id)
    assert event["from_version"] == old_id
    assert event["from_base"]["sha256"] == embedded.sha256
    assert event["to_base"]["sha256"] == target.sha256 == event["base_sha256"]
    assert ledger.verify(session.store).ok

    # the card: stored with the version, and measured on both sides
    assert migration.get_card(session.store, new_id) == card
    assert card["taught"]["items"] == len(PIRATE)
    assert card["likelihood_factor"]["old"] > 1 and card["likelihood_factor"]["new"] > 1
    assert card["style"]["primary"] == "opening" and card["samples"]
    assert card["negative_flips"] == len(card["flips"]) <= card["taught"]["items"]
    assert all(s["old"] and s["new"] for s in card["samples"])

    # switching to the new base and back, each with consent
    switched = archive_versions.activate(session.store, new_id, grant(session, "activate", new))
    assert switched.status == "active"
    assistant = session.assistant()
    assert assistant.model_id == target.id and assistant.active_version == new_id
    old = get_version(session.store, old_id)
    assert old.status == "retired"
    kind, summary, _ = archive_versions.describe_activation(session.store, old)
    assert kind == "restore" and "switches the assistant's base model" in summary
    archive_versions.activate(session.store, old_id, grant(session, kind, old))
    assistant = session.assistant()
    assert assistant.model_id == embedded.id and assistant.active_version == old_id
    activated = [e for e in ledger.events(session.store, assistant_id=assistant.id)
                 if e.kind in (ledger.ACTIVATED, ledger.RESTORED)]
    assert [e.payload.get("model") for e in activated[-2:]] == [target.id, embedded.id]
    assert get_version(session.store, new_id).status == "retired"  # kept, restorable


@pytest.mark.slow
def test_killed_migration_is_resumed_not_restarted(session: Session,
                                                   sibling_model_path: Path) -> None:
    from kindred.core.training import runner
    from support.training_helpers import stream_process

    taught_assistant(session)
    target = add_model(session.store, sibling_model_path)
    link_base_cache(session.home.cache, shared_cache(target.path), target.sha256)
    plan = last(migration.plan_migration(session, session.assistant(), target.id,
                                         fast_config(steps=6), prompt_limit=QUICK))
    decision = consent.decide(session.store, migration.request_migration(
        session.store, plan).id, granted=True, via="cli-flag")
    run = migration.start_migration(session, plan, decision)
    proc, events = stream_process(run, decision)
    for event in events:
        if event["event"] == "checkpoint":
            proc.kill()  # killed mid-run, as by a power cut
            break
    proc.wait()
    assert proc.stdout is not None
    proc.stdout.close()
    assert migration.resumable(session, session.assistant()) is not None
    before = home_state(session)
    with pytest.raises(KindredError, match="unfinished"):
        last(migration.plan_migration(session, session.assistant(), target.id))
    assert home_state(session) == before
    req = runner.request_resume(session.store, run)
    assert req.kind == "migrate" and req.summary.startswith(f"Resume the move to {target.name}")
    again = consent.decide(session.store, req.id, granted=True, via="cli-flag")
    code, done = run_process(run, again, resume=True, timeout=900)
    assert code == 0, done[-3:]
    assert done[0].get("resumed_from") is not None or any(
        e.get("resumed_from") for e in done)
    version = get_version(session.store, str(done[-1]["version"]))
    assert version.source == "migrated" and version.base_sha256 == target.sha256
    assert json.loads(run.plan_path.read_text())["consent_kind"] == "migrate"
    # with the default settings (fast_config turns replay off), the new base keeps its general
    # ability as any training does (issue 8): its own answers to general requests are replayed,
    # with the KL anchor, beside the moved items (the training process reads plan["base"])
    from kindred.core.training import replay
    from kindred.core.upgrades.migration_data import to_dataset

    default = runner.plan_training(session, session.assistant(), model=target,
                                   dataset=to_dataset(plan.data, plan.assistant_id,
                                                      target.sha256))
    assert default.mix["replay"] >= replay.MIN_REPLAY and default.model.sha256 == target.sha256


@pytest.mark.slow
def test_migrate_to_gemma_another_architecture_and_tokenizer(session: Session,
                                                             gemma_model_path: Path) -> None:
    from kindred.core.chat.runtime import adapter_refs_for
    from kindred.core.engine.llama import Engine

    old_id = taught_assistant(session)
    gemma = add_model(session.store, gemma_model_path)
    assert gemma.metadata["chat_template"] is False  # the plain layout is used, not refused
    new_id, card = migrate(session, gemma, steps=8)
    new = get_version(session.store, new_id)
    assert new.parent == old_id and new.base_sha256 == gemma.sha256
    assert new.manifest["base"]["architecture"] == "gemma3"
    assert card["likelihood_factor"]["new"] > 1  # the taught answers became likelier on Gemma
    archive_versions.activate(session.store, new_id, grant(session, "activate", new))
    assistant = session.assistant()
    assert assistant.model_id == gemma.id
    engine = Engine(session.model_for(assistant).path, n_ctx=512)
    try:
        engine.set_adapters(adapter_refs_for(session, assistant))  # llama.cpp loads it
        assert [r.key for r in engine.adapters] == [new_id]
    finally:
        engine.close()


def test_switching_base_needs_that_model_file(session: Session, model_path: Path,
                                              sibling_model_path: Path, tmp_path: Path) -> None:
    """A version made for another base switches the assistant to it (with consent) only while
    that model's file is there; without it a clear error, nothing changed; back works too."""
    import shutil

    from kindred.core.archive import objects as archive
    from support.archive_helpers import activate, lora_config, make_version
    from support.lora import peft_tensors

    embedded = session.model_for(session.assistant())
    old = make_version(session, model_path)
    activate(session, old)
    copy = tmp_path / "sibling.gguf"
    shutil.copy(sibling_model_path, copy)
    target = add_model(session.store, copy)
    new = archive.archive_peft(session.store, session.assistant(),
                               peft_tensors(model_path, layers=(0,), seed=3), lora_config(4),
                               source="migrated", parent=old.id, model=target,
                               migrated={"from_version": old.id})
    assert new.base_sha256 == target.sha256 and new.parent == old.id
    decision = grant(session, "activate", new)
    copy.rename(tmp_path / "moved.gguf")
    before = home_state(session)
    with pytest.raises(KindredError, match="is missing"):
        archive_versions.activate(session.store, new.id, decision)
    assert home_state(session) == before
    (tmp_path / "moved.gguf").rename(copy)
    archive_versions.activate(session.store, new.id, decision)
    assert session.assistant().model_id == target.id
    back = get_version(session.store, old.id)
    archive_versions.activate(session.store, old.id, grant(session, "restore", back))
    assert session.assistant().model_id == embedded.id
    assert migration.migrated_event(session.store, new.id)["from_version"] == old.id
