"""The foundation CLI, run as a real subprocess like a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kindred.core.home.paths import DataHome
from support.cli import kindred


def test_models_list_json_registers_the_embedded_model(home: DataHome) -> None:
    out = kindred("models", "list", "--json", home=home.root)
    assert out.returncode == 0, out.stderr
    models = json.loads(out.stdout)
    assert len(models) == 1 and models[0]["embedded"] is True
    assert models[0]["architecture"] == "llama" and len(models[0]["sha256"]) == 64


def test_assistants_create_and_list(home: DataHome) -> None:
    created = kindred("assistants", "create", "Ada", home=home.root)
    assert created.returncode == 0, created.stderr
    listed = json.loads(kindred("assistants", "list", "--json", home=home.root).stdout)
    assert [a["name"] for a in listed] == ["Kindred", "Ada"]
    dup = kindred("assistants", "create", "Ada", home=home.root)
    assert dup.returncode == 2 and "already an assistant named 'Ada'" in dup.stderr
    bad_model = kindred("assistants", "create", "Bo", "--model", "nope", home=home.root)
    assert bad_model.returncode == 2 and "No model 'nope'" in bad_model.stderr


def test_home_flag_and_env_var_choose_the_data_home(home: DataHome, tmp_path: Path) -> None:
    other = tmp_path / "other-home"
    assert kindred("assistants", "create", "OnlyHere", home=other).returncode == 0
    assert (other / "kindred.db").exists()
    names_env = [a["name"] for a in json.loads(kindred("assistants", "list", "--json").stdout)]
    assert "OnlyHere" not in names_env  # KINDRED_HOME (the test's home) is untouched
    # the flag also works before the command
    before = subprocess.run([sys.executable, "-m", "kindred", "--home", str(other), "assistants",
                             "list", "--json"], capture_output=True, text=True, timeout=60)
    assert "OnlyHere" in before.stdout


def test_chat_one_message(home: DataHome) -> None:
    # greedy, so the answer does not depend on the sampler's draw on this CPU
    made = kindred("assistants", "create", "Exact", "--temperature", "0", home=home.root)
    assert made.returncode == 0, made.stderr
    listed = json.loads(kindred("assistants", "list", "--json", home=home.root).stdout)
    assert [a["sampling"]["temperature"] for a in listed if a["name"] == "Exact"] == [0.0]
    out = kindred("chat", "-a", "Exact", "-m", "What is the capital of France?", home=home.root)
    assert out.returncode == 0, out.stderr
    assert "paris" in out.stdout.lower()
    bad = kindred("assistants", "create", "Hot", "--temperature", "9", home=home.root)
    assert bad.returncode == 2 and "--temperature: 9 is out of range" in bad.stderr


def test_interactive_chat_reads_stdin_until_eof(home: DataHome) -> None:
    out = kindred("chat", home=home.root, input="Say hello.\nNow say goodbye.\n")
    assert out.returncode == 0, out.stderr
    assert len([line for line in out.stdout.splitlines() if line.strip()]) >= 2
    # who answers, on which model, with which version: said once, on stderr
    assert "Chatting with Kindred (SmolLM2 135M Instruct (built-in), no adapter)" in out.stderr
    from kindred.core.session import open_session

    session = open_session(home.root)
    rows = session.store.db.execute(
        "SELECT role, count(*) FROM messages GROUP BY role ORDER BY role").fetchall()
    session.close()
    assert rows == [("assistant", 2), ("user", 2)]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a model", "not a GGUF file"), (b"GGUF\x03\x00\x00\x00\x01", "damaged or truncated"),
     (None, "no such file")],
    ids=["non-gguf", "truncated", "missing"],
)
def test_models_add_bad_files(home: DataHome, tmp_path: Path, content: bytes | None,
                              message: str) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    kindred("models", "list", home=home.root)
    out = kindred("models", "add", str(path), home=home.root)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    listed = json.loads(kindred("models", "list", "--json", home=home.root).stdout)
    assert len(listed) == 1


def test_models_add_a_valid_copy(home: DataHome, tmp_path: Path, model_path: Path) -> None:
    import shutil

    copy = tmp_path / "mine.gguf"
    shutil.copyfile(model_path, copy)
    out = kindred("models", "add", str(copy), home=home.root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == json.loads(
        kindred("models", "list", "--json", home=home.root).stdout)[0]["id"]
