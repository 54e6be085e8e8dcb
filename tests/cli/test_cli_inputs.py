"""Command lines a clumsy user types: clear messages, no tracebacks, nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kindred.core.session import Session


def _run(*args: str | bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable.encode(), b"-m", b"kindred",
                           *[a.encode() if isinstance(a, str) else a for a in args]],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def test_invalid_utf8_in_an_argument(tmp_path: Path) -> None:
    out = _run(b"teach", b"caf\xe9 au lait", b"--home", str(tmp_path / "h").encode())
    assert out.returncode == 2 and "not valid UTF-8" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "h").exists()


def test_home_that_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "file"
    home.write_text("not a folder")
    out = _run("examples", "list", "--home", str(home))
    assert out.returncode == 2 and "is a file, not a folder" in out.stderr
    assert "Traceback" not in out.stderr and home.read_text() == "not a folder"


def test_a_name_that_looks_like_an_id(tmp_path: Path) -> None:
    home = str(tmp_path / "h")
    assert _run("assistants", "create", "7", "--home", home).returncode == 0, "create"
    out = _run("teach", "Speak like a pirate.", "-a", "7", "--home", home)
    assert out.returncode == 0, out.stderr
    listed = _run("examples", "list", "--json", "-a", "7", "--home", home)
    assert "pirate" in listed.stdout
    first = _run("examples", "list", "--json", "-a", "#1", "--home", home)
    assert first.returncode == 0 and "pirate" not in first.stdout
    escape = _run("assistants", "create", "\x1b[31mRed", "--home", home)
    assert escape.returncode == 2 and "U+001B" in escape.stderr


def test_a_new_home_under_a_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = _run("examples", "list", "--home", str(folder / "home"))
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert out.returncode == 2 and "cannot create its data home" in out.stderr
    assert "Traceback" not in out.stderr


# -- numeric options (issue 21): every one range-checked, one line, nothing created ------------

BIG = "99999999999999999999"
V = "0" * 12  # parsing fails before any version is looked up
NUMBERS: list[tuple[list[str], str]] = [
    (["rollout", "start", V, "--every-answers", BIG], "--every-answers"),
    (["rollout", "start", V, "--every-answers", "0"], "--every-answers"),
    (["rollout", "start", V, "--every-answers", "-5"], "--every-answers"),
    (["rollout", "start", V, "--every-days", "0"], "--every-days"),
    (["rollout", "start", V, "--every-days", "inf"], "--every-days"),
    (["rollout", "start", V, "--every-days", "nan"], "--every-days"),
    (["rollout", "start", V, "--every-days", "1e400"], "--every-days"),
    (["rollout", "start", V, "--every-days", "soon"], "--every-days"),
    (["rollout", "start", V, "--steps", "1"], "--steps"),
    (["rollout", "start", V, "--steps", BIG], "--steps"),
    (["trial", "start", "--prompts", "0"], "--prompts"),
    (["trial", "start", "--prompts", BIG], "--prompts"),
    (["assistants", "create", "Bo", "--temperature", "nan"], "--temperature"),
    (["assistants", "create", "Bo", "--temperature", "9"], "--temperature"),
    (["assistants", "create", "Bo", "--top-p", "0"], "--top-p"),
    (["assistants", "create", "Bo", "--top-k", BIG], "--top-k"),
    (["assistants", "create", "Bo", "--top-k", "-1"], "--top-k"),
    (["assistants", "create", "Bo", "--max-tokens", "0"], "--max-tokens"),
    (["assistants", "create", "Bo", "--max-tokens", BIG], "--max-tokens"),
    (["train", "--steps", BIG], "--steps"),
    (["train", "--steps", "0"], "--steps"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "1e9"], "--epochs"),
    (["migrate", "--steps", BIG], "--steps"),
    (["examples", "remove", BIG], "id"),
    (["examples", "remove", "0"], "id"),
]


@pytest.mark.parametrize(("args", "option"), NUMBERS, ids=[" ".join(a[:2] + a[-2:])
                                                          for a, _ in NUMBERS])
def test_numeric_options_are_range_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           args: list[str], option: str) -> None:
    from kindred.cli import main

    with pytest.raises(SystemExit) as exited:
        main([*args, "--home", str(tmp_path / "h")])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.count("\n") == 1 and f"argument {option}" in err, err
    assert ("out of range" in err or "is not a" in err) and "Nothing was changed." in err, err
    assert "Traceback" not in err and "JSON" not in err and "Choose one pace" not in err
    assert not (tmp_path / "h").exists()


def test_a_valid_pace_is_taken_as_given(session: Session, model_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`--every-days 0.5` is a pace of half a day (not 'choose one pace'), and `--every-answers
    3` three answers (not the default)."""
    from kindred.cli import main
    from kindred.core.upgrades import rollout
    from support.archive_helpers import activate, make_version

    activate(session, make_version(session, model_path, seed=1))
    second = make_version(session, model_path, seed=2)
    home = str(session.home.root)
    assert main(["rollout", "start", second.id, "--every-days", "0.5", "--yes",
                 "--home", home]) == 0, capsys.readouterr().err
    plan = rollout.latest(session.store, session.assistant().id)
    assert plan is not None and (plan.plan.every_days, plan.plan.every_answers) == (0.5, None)
    assert main(["rollout", "back", "--yes", "--home", home]) == 0
    third = make_version(session, model_path, seed=3)
    assert main(["rollout", "start", third.id, "--every-answers", "3", "--yes",
                 "--home", home]) == 0, capsys.readouterr().err
    plan = rollout.latest(session.store, session.assistant().id)
    assert plan is not None and (plan.plan.every_days, plan.plan.every_answers) == (None, 3)


@pytest.mark.parametrize("command", [["report"], ["versions", "list"], ["ledger", "list"]])
def test_a_closed_stdout_is_quiet(tmp_path: Path, command: list[str]) -> None:
    """`kindred report | head -1`: the reader went away; no BrokenPipeError traceback."""
    home = tmp_path / "h"
    assert _run("assistants", "create", "Bo", "--home", str(home)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "kindred", *command, "--home", str(home)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before it writes anything: every write meets a closed pipe
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == "", err


def test_nothing_was_changed_is_said_once() -> None:
    from kindred.cli import once

    assert once("Bad name. Nothing was changed.. Nothing was changed.") == \
        "Bad name. Nothing was changed."
    assert once("Bad. Nothing was changed. Nothing was changed.") == "Bad. Nothing was changed."
    assert once("Refused! Nothing was changed.") == "Refused! Nothing was changed."


def test_an_unused_candidate_is_not_still_in_use(session: Session, model_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from kindred.cli import main
    from support.archive_helpers import make_version

    candidate = make_version(session, model_path, seed=1)
    assert main(["versions", "report", candidate.short, "--home",
                 str(session.home.root)]) == 0
    out = capsys.readouterr().out
    assert "never used: provisional" in out and "still in use" not in out
