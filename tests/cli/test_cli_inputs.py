"""Command lines a clumsy user types: clear messages, no tracebacks, nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


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
