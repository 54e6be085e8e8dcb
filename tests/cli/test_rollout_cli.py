"""`kindred rollout`, `kindred trial` and `kindred versions interview|report`, as a user types
them (subprocesses for chat and the last step's interview; the rest in-process via `main`)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kindred.cli import main
from kindred.core.basics.sampling import Sampling
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import update_assistant
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from support.archive_helpers import activate, make_version


def kindred(*args: str, home: Path, input: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kindred", *args, "--home", str(home)],
                          capture_output=True, text=True, input=input, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: DataHome,
        *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([*args, "--home", str(home.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def status(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
           home: DataHome) -> dict:  # type: ignore[type-arg]
    code, out, _ = run(capsys, monkeypatch, home, "rollout", "status", "--json")
    assert code == 0
    return dict(json.loads(out))


@pytest.mark.slow
def test_rollout_from_the_command_line(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch, home: DataHome,
                                       session: Session, model_path: Path) -> None:
    update_assistant(session.store, session.assistant().id,
                     sampling=Sampling(temperature=0.0, top_k=1, max_tokens=3))
    a = activate(session, make_version(session, model_path, seed=0))
    b = make_version(session, model_path, seed=1, parent=a.id)
    assert run(capsys, monkeypatch, home, "rollout", "status", "--json")[1].strip() == "null"

    code, out, _ = run(capsys, monkeypatch, home, "rollout", "start", b.short, "--steps", "2",
                       "--every-answers", "5", stdin="n\n")
    assert code == 1 and "you refused" in out
    assert consent.history(session.store)[-1][1].granted is False  # type: ignore[union-attr]
    code, out, _ = run(capsys, monkeypatch, home, "rollout", "start", b.short, "--steps", "2",
                       "--every-answers", "5", "--yes")
    assert code == 0 and "50 %" in out
    info = status(capsys, monkeypatch, home)
    assert {k: info[k] for k in ("from", "to", "step", "steps", "scale", "state")} == {
        "from": a.id, "to": b.id, "step": 1, "steps": 2, "scale": 0.5, "state": "running"}
    assert info["blend"] == "Version 1 50 % + Version 2 50 %"

    chatted = kindred("chat", "-m", "Hi", home=home.root)
    assert chatted.returncode == 0, chatted.stderr
    assert "(Version 1 50 % + Version 2 50 %)" in chatted.stderr

    assert run(capsys, monkeypatch, home, "rollout", "pause")[0] == 0
    assert status(capsys, monkeypatch, home)["state"] == "paused"
    assert run(capsys, monkeypatch, home, "rollout", "resume")[0] == 0
    assert status(capsys, monkeypatch, home)["state"] == "running"
    code, _, err = run(capsys, monkeypatch, home, "rollout", "resume")
    assert code == 2 and "already running" in err

    # The last step retires A, and its interview is held at once (then shown, unchanged).
    last = kindred("rollout", "next", "--yes", home=home.root)
    assert last.returncode == 0, last.stderr
    assert "Rollout finished" in last.stdout and "interview" in last.stdout
    assert "Version 1 is retired (archived and restorable)" in last.stdout
    assert status(capsys, monkeypatch, home)["state"] == "finished"
    code, out, _ = run(capsys, monkeypatch, home, "versions", "interview", a.short, "--json")
    held = json.loads(out)
    assert code == 0 and held["version"] == a.id and len(held["answers"]) >= 5
    again = json.loads(run(capsys, monkeypatch, home, "versions", "interview", a.short,
                           "--json")[1])
    assert again == held
    code, out, _ = run(capsys, monkeypatch, home, "versions", "report", a.short)
    assert code == 0 and "answers given: 1 (1 in a rollout blend)" in out
    report = json.loads(run(capsys, monkeypatch, home, "versions", "report", a.short,
                            "--json")[1])
    assert report["final"] is True and report["interview"] == held["sha256"]
    assert [e.kind for e in ledger.events(session.store, kind=ledger.INTERVIEWED)] == [
        ledger.INTERVIEWED]


def test_roll_back_asks_and_a_trial_is_kept(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch, home: DataHome,
                                            session: Session, model_path: Path) -> None:
    a = activate(session, make_version(session, model_path, seed=0))
    b = make_version(session, model_path, seed=1, parent=a.id)
    assert run(capsys, monkeypatch, home, "rollout", "start", b.short, "--yes")[0] == 0
    assert run(capsys, monkeypatch, home, "trial", "start", "--prompts", "3")[0] == 0
    code, out, _ = run(capsys, monkeypatch, home, "trial", "status", "--json")
    assert code == 0 and json.loads(out)["running"]["prompts"] == 3
    code, out, _ = run(capsys, monkeypatch, home, "rollout", "back", stdin="n\n")
    assert code == 1 and "Not rolled back" in out
    assert status(capsys, monkeypatch, home)["state"] == "running"
    code, out, _ = run(capsys, monkeypatch, home, "rollout", "back", stdin="y\n")
    assert code == 0 and "Version 1 answers alone again" in out
    info = status(capsys, monkeypatch, home)
    assert info["state"] == "rolled_back" and info["adapters"] == [[a.id, 1.0]]
    event = ledger.events(session.store, kind=ledger.ROLLED_BACK)[-1]
    assert event.payload["via"] == "cli-prompt"
    code, _, err = run(capsys, monkeypatch, home, "rollout", "next", "--yes")
    assert code == 2 and "No rollout" in err
    # with nothing left to try, the last trial's tally is still there to read
    assert run(capsys, monkeypatch, home, "versions", "activate", b.short, "--yes")[0] == 0
    code, out, _ = run(capsys, monkeypatch, home, "trial", "status")
    assert code == 0 and out.startswith("Version 2 against Version 1: "), out
    assert out.rstrip().endswith("(the trial has ended)")


def test_the_consent_question_says_its_evidence_in_words(capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         home: DataHome, session: Session,
                                                         model_path: Path) -> None:
    a = activate(session, make_version(session, model_path, seed=0))
    b = make_version(session, model_path, seed=1, parent=a.id)
    code, _, err = run(capsys, monkeypatch, home, "rollout", "start", b.short, "--steps", "2",
                       "--every-answers", "5", stdin="n\n")
    assert code == 1
    assert f"  Version: Version 2 ({b.id[:12]})" in err
    assert f"  Replaces: Version 1 ({a.id[:12]})" in err
    assert "  Pace: 2 steps, one step every 5 answers" in err
    assert "Phase in Version 2? [y/N]" in err
    assert "null" not in err and "state" not in err
