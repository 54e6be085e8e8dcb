"""The bundle's one executable (kindred.frozen): worker dispatch, the re-spawn guard, and the
training command a frozen app builds. Runs in the venv (the built bundle: test_dist.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kindred import frozen
from kindred.core.training import WORKER_ARG, runner
from kindred.core.training.run import RunDir


def test_a_frozen_app_starts_itself_as_the_training_worker(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    run = RunDir(tmp_path / "run")
    assert runner.training_command(run, 7)[1:3] == ["-m", "kindred.core.training"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/Kindred/kindred")
    assert runner.training_command(run, 7, resume=True) == [
        "/opt/Kindred/kindred", WORKER_ARG, str(run.path), "--consent", "7", "--resume"]
    env = runner.training_env({"LD_LIBRARY_PATH": "/opt/Kindred/_internal",
                               "LD_LIBRARY_PATH_ORIG": "/usr/local/lib"})
    assert env["LD_LIBRARY_PATH"] == "/usr/local/lib"


def test_outside_programs_get_the_users_library_path() -> None:
    env = {"LD_LIBRARY_PATH": "/b/_internal", "LD_LIBRARY_PATH_ORIG": "/mine"}
    frozen.prepare_environment(env, Path("/b/_internal"))
    assert env == {"LD_LIBRARY_PATH": "/mine", "LD_LIBRARY_PATH_ORIG": "/mine",
                   "KINDRED_RESOURCES": "/b/_internal/resources"}
    env = {"LD_LIBRARY_PATH": "/b/_internal", "KINDRED_RESOURCES": "/elsewhere"}
    frozen.prepare_environment(env, Path("/b/_internal"))
    assert env == {"KINDRED_RESOURCES": "/elsewhere"}


def test_the_worker_argument_runs_the_training_process(tmp_path: Path) -> None:
    # No such run: the worker answers with its error line and exit code, not the CLI's usage.
    done = subprocess.run([sys.executable, "-m", "kindred.frozen", WORKER_ARG,
                           str(tmp_path / "no-run"), "--consent", "1"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["event"] == "error"


def test_inside_a_worker_the_gui_is_never_opened_again(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    monkeypatch.setenv(frozen.IN_WORKER, "1")
    assert frozen.main([]) == frozen.EXIT_REFUSED
    assert frozen.main(["gui", "--smoke"]) == frozen.EXIT_REFUSED
    assert "not opening the app again" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:  # other commands still work there
        frozen.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip().startswith("kindred ")
