"""Nothing private travels: no absolute path, user name or host name in archived files or in an
exported bundle. The base model is named by its sha256 and display name only."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import tarfile
from pathlib import Path

import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.archive.adapter_import import import_adapter
from kindred.core.archive.catalog import version_dir
from kindred.core.bundles.bundle import export_bundle
from kindred.core.chat.conversations import GenerationStats, add_message, create_conversation
from kindred.core.engine.llama import Engine
from kindred.core.home import consent
from kindred.core.home.models import add_model
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.core.upgrades import decisions, model_removal, retirement, rollout, trial
from support.archive_helpers import activate, grant, lora_config, make_version, write_peft_folder


def _needles(home: DataHome) -> list[bytes]:
    found = [str(home.root), str(home.root.parent), f"pytest-of-{getpass.getuser()}"]
    if str(Path.home()) not in ("/", ""):
        found.append(str(Path.home()))
    host = socket.gethostname()
    if len(host) >= 4:  # shorter names would match by chance
        found.append(host)
    return [n.encode() for n in found]


def test_an_exported_bundle_names_no_path_user_or_host(session: Session, home: DataHome,
                                                       model_path: Path, tmp_path: Path) -> None:
    model = session.model_for(session.assistant())
    # What PEFT's save_pretrained writes after Kindred trained on its cached base: the folder
    # the base was loaded from, inside the data home (inside the person's home folder).
    config = lora_config(base_model_name_or_path=str(home.cache / "bases" / model.sha256),
                         revision=None)
    folder = write_peft_folder(model_path, tmp_path / "trained", config=config)
    version = archive.archive_peft_folder(session.store, session.assistant(), folder)
    activate(session, version)
    conv = create_conversation(session.store, session.assistant().id)
    add_message(session.store, conv.id, "user", "Hello")
    feedback.add_preference(session.store, session.assistant().id, "Keep it short.")

    archived = json.loads((version_dir(home, version.id) / "adapter_config.json").read_text())
    assert archived["base_model_name_or_path"] == model.name
    manifest = json.loads((version_dir(home, version.id) / "manifest.json").read_text())
    assert manifest["base"]["sha256"] == model.sha256

    bundle = tmp_path / "out" / "kindred.bundle"
    bundle.parent.mkdir()
    export_bundle(session.store, session.assistant(), bundle)
    needles = _needles(home)
    with tarfile.open(bundle) as tar:
        members = tar.getmembers()
        assert len(members) >= 6
        for member in members:
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            for needle in needles:
                assert needle not in data, f"{member.name} holds {needle.decode()!r}"
            assert needle not in member.name.encode()
    raw = bundle.read_bytes()
    for needle in needles:
        assert needle not in raw


def _place_model(source: Path, target: Path) -> Path:
    """The person keeps a model file inside Kindred's data home (a hard link when possible)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return target


@pytest.mark.slow
def test_no_path_after_every_kind_of_event(session: Session, home: DataHome, model_path: Path,
                                           sibling_model_path: Path, engine: Engine,
                                           tmp_path: Path) -> None:
    """Export after every kind of event the ledger records (consents granted and refused,
    a model removed, an adapter imported from a folder in the home, a rollout, a trial, a
    retirement interview and report, a training asked for) and grep the bundle for
    the data home and the model files' paths (issue 21, 9)."""
    store = session.store
    assistant = session.assistant()
    local = _place_model(sibling_model_path, home.root / "my models" / "sibling-q8.gguf")
    sibling = add_model(store, local)
    plan = model_removal.plan_removal(store, sibling.id)
    asked = model_removal.request_removal(store, plan)
    consent.decide(store, asked.id, granted=False, via="cli-prompt")  # refused: still recorded

    folder = write_peft_folder(model_path, home.root / "downloads" / "my-adapter", seed=7)
    imported = import_adapter(store, assistant, folder)
    first = activate(session, make_version(session, model_path, seed=1))
    second = make_version(session, model_path, seed=2, parent=first.id)
    activate(session, second)
    versions.retire(store, second.id, grant(session, "retire", second))
    versions.restore(store, second.id, grant(session, "restore", second))
    req = consent.request(store, "activate", assistant.id, imported.id, "Use it?")
    decisions.answer(store, req.id, granted=False, via="gui")
    doomed = make_version(session, model_path, seed=3)
    versions.delete(store, doomed.id, grant(session, "delete", doomed))
    retirement.interview(session, first.id, engine=engine, max_tokens=2)
    retirement.report_for(store, first.id)

    candidate = make_version(session, model_path, seed=4, parent=second.id)
    kind, summary, evidence = rollout.describe_start(store, candidate, rollout.Plan())
    started = consent.request(store, kind, assistant.id, candidate.id, summary, evidence)
    rollout.start(store, candidate.id, rollout.Plan(),
                  consent.decide(store, started.id, granted=True, via="gui"))
    rollout.pause(store, assistant.id, via="gui")
    rollout.roll_back(store, assistant.id, via="gui")
    conv = create_conversation(store, assistant.id)
    running = trial.start(store, assistant.id, candidate.id, prompts=1)
    add_message(store, conv.id, "user", "Hello")
    stats = GenerationStats([(candidate.id, 1.0)], 3, 2, 0.1, 20.0, "stop")
    round_ = trial.record_round(store, running, conv.id, "b", ("Hi", stats), ("Hey", stats))
    trial.choose(store, round_.id, "second")

    feedback.add_preference(store, assistant.id, "Keep it short.")
    training = runner.plan_training(session, assistant)
    consent.decide(store, runner.request_training(store, training).id, granted=False, via="gui")
    plan = model_removal.plan_removal(store, sibling.id)
    removal = consent.decide(store, model_removal.request_removal(store, plan).id, granted=True,
                             via="gui")
    model_removal.remove_model(store, sibling.id, removal)

    bundle = tmp_path / "out" / "kindred.bundle"
    bundle.parent.mkdir()
    export_bundle(store, session.assistant(), bundle)
    needles = _needles(home) + [str(p).encode() for p in (
        local, local.parent, sibling_model_path, sibling_model_path.parent, model_path,
        model_path.parent, folder)]
    raw = bundle.read_bytes()
    with tarfile.open(bundle) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            for needle in needles:
                assert needle not in data, f"{member.name} holds {needle.decode()!r}"
    for needle in needles:
        assert needle not in raw
    # the home's own ledger and consents name the model by its name and sha256 only
    for table in ("ledger", "consent_requests"):
        dumped = json.dumps([list(r) for r in store.db.execute(f"SELECT * FROM {table}")])
        for needle in needles:
            assert needle.decode() not in dumped, f"{table} holds {needle.decode()!r}"
