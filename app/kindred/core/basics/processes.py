"""The one place Kindred starts a process: its own workers (a training run, a move to another
model, a base prepared for training, an insight worked out ahead).

What to run is built elsewhere by pure functions (`training.runner.training_command` and
`training_env`, `training.prepare.command`, `learning.insight` workers); this only starts it, so
there is one answer to "which processes does Kindred start, and how" (a test fails on any other
`Popen`/`QProcess`). Every worker gets its own session: a Ctrl+C in a terminal reaches only the
CLI (which then asks before interrupting), and a run started by the window outlives the window.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Literal

Output = Literal["pipe", "discard", "inherit"] | Path
"""Where a stream goes: read by the starter line by line, thrown away, shared with the starter
(a terminal), or appended to a log file."""


def start(argv: Sequence[str], env: Mapping[str, str], *, stdout: Output = "discard",
          stderr: Output = "discard", stdin: bytes | None = None) -> subprocess.Popen[bytes]:
    """Start `argv` with exactly `env`. `stdin`: written whole, then closed (a worker's
    target); otherwise the worker reads nothing. Raises OSError if it cannot start."""
    with _opened(stdout) as out, _opened(stderr) as err:
        process = subprocess.Popen(
            list(argv), env=dict(env), stdout=out, stderr=err,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            start_new_session=True)
    if stdin is not None:
        assert process.stdin is not None
        try:
            process.stdin.write(stdin)
            process.stdin.close()
        except OSError:  # it died at once: its exit code and stderr say why
            pass
    return process


class _opened:
    """The Popen argument for an Output, with a log file closed again once the child has it."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.file: IO[bytes] | None = None

    def __enter__(self) -> int | IO[bytes] | None:
        if self.output == "inherit":
            return None
        if self.output == "pipe":
            return subprocess.PIPE
        if self.output == "discard":
            return subprocess.DEVNULL
        self.file = Path(self.output).open("ab")
        return self.file

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()
