"""`kindred migrate` as a user runs it (subprocesses): bad inputs, a refusal, a whole move."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kindred.core.archive import versions as archive_versions
from kindred.core.archive.catalog import get_version
from kindred.core.home import consent
from kindred.core.home.models import add_model
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback
from kindred.core.session import Session
from support.archive_helpers import grant, home_state
from support.bases import link_base_cache, shared_cache
from support.cli import kindred
from support.training_helpers import PIRATE, add_examples, fast_config, train_version


def test_migrate_bad_inputs_change_nothing(home: DataHome, session: Session,
                                           sibling_model_path: Path) -> None:
    sibling = add_model(session.store, sibling_model_path)
    before = home_state(session)
    cases = [([], "Say which model"), (["--to", "nope"], "No model 'nope'"),
             (["--to", sibling.id], "no active version"),
             (["--to", sibling.id, "--steps", "0"], "0 is out of range: use a whole number from 1"),
             (["--resume"], "no unfinished move")]
    for args, message in cases:
        out = kindred("migrate", "--yes", *args, home=home.root)
        assert out.returncode == 2, out.stderr
        assert message in out.stderr and "Traceback" not in out.stderr
        assert out.stdout == ""
        assert home_state(session) == before


@pytest.mark.slow
def test_migrate_refused_then_done_and_shown(home: DataHome, session: Session,
                                             sibling_model_path: Path) -> None:
    add_examples(session, PIRATE)
    feedback.add_preference(session.store, session.assistant().id, "Call me Sam")
    old = get_version(session.store, train_version(session, fast_config(steps=4)))
    archive_versions.activate(session.store, old.id, grant(session, "activate", old))
    sibling = add_model(session.store, sibling_model_path)
    same = kindred("migrate", "--to", session.model_for(session.assistant()).id, "--yes",
                   home=home.root)
    assert same.returncode == 2 and "already uses" in same.stderr

    link_base_cache(home.cache, shared_cache(sibling.path), sibling.sha256)
    runs = sorted(home.runs.iterdir())
    before = home_state(session)
    refused = kindred("migrate", "--to", sibling.name, "--steps", "3", "--prompts", "4",
                      home=home.root, input="n\n", timeout=600)
    assert refused.returncode == 1, refused.stderr
    assert "[y/N]" in refused.stderr and "Move to" in refused.stderr
    assert refused.stdout == ""
    assert sorted(home.runs.iterdir()) == runs  # no run was started
    assert home_state(session)[0] == before[0]  # the files: only the refusal was recorded

    done = kindred("migrate", "--to", sibling.id, "--steps", "3", "--prompts", "4", "--yes",
                   home=home.root, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    new_id = done.stdout.strip().splitlines()[-1]
    shown = json.loads(kindred("versions", "show", new_id, "--json", home=home.root).stdout)
    assert shown["source"] == "migrated" and shown["parent"] == old.id
    assert shown["base_sha256"] == sibling.sha256
    assert shown["migration"]["from"]["version"] == old.id
    assert "Taught answers" in " ".join(shown["migration"]["summary"])
    assert "Taught answers" in done.stderr


def test_train_resume_of_a_stopped_move_says_it_is_the_move(home: DataHome,
                                                            session: Session) -> None:
    run = home.runs / "move-1"
    run.mkdir(parents=True)
    (run / "plan.json").write_text(json.dumps({
        "assistant_id": session.assistant().id, "created_at": 1.0, "total_steps": 12,
        "consent_kind": "migrate", "migration": {"to_base": {"name": "Other Model"}}}))
    (run / "state.json").write_text(json.dumps({"status": "killed"}))
    for command in (["train", "--resume"], ["migrate", "--resume"]):
        out = kindred(*command, home=home.root, input="n\n")
        assert out.returncode == 1, out.stderr
        assert "Resuming the move to Other Model (started " in out.stderr
        assert "), cut off (the app or computer closed), from the beginning" in out.stderr
        assert "Resume the move to Other Model? [y/N]" in out.stderr
        assert "Nothing was moved" in out.stderr and out.stdout == ""
    requests = [r for r, _ in consent.history(session.store)]
    assert [(r.kind, r.subject) for r in requests] == [("migrate", "move-1")] * 2
    assert requests[0].summary.startswith("Resume the move to Other Model")
