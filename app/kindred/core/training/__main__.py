"""`python -m kindred.core.training RUN_DIR --consent ID [--resume]`: the training process.

Started by `runner.training_command` (CLI: subprocess; GUI: QProcess). Prints one JSON object per
line on stdout (format in `kindred.core.training.runner`), checkpoints on SIGTERM/SIGINT and exits.
Exit codes: 0 finished and archived, 3 stopped on request (resumable), 2 refused or failed with a
message (the `error` line), 1 unexpected crash.
"""

from __future__ import annotations

import argparse
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from kindred.core.basics.errors import KindredError, is_disk_full
from kindred.core.basics.priority import renice
from kindred.core.training.job import run_job
from kindred.core.training.run import (
    ProgressLog,
    RunDir,
    StopFlag,
    exit_now,
    worker_defaults,
)

worker_defaults()  # before torch or transformers are imported (`job` imports them when it runs)

EXIT_DONE, EXIT_CRASH, EXIT_FAILED, EXIT_STOPPED = 0, 1, 2, 3
# Training is background work: at a lower priority it gives the cores to the chat while an
# answer is being written (bench/contention.py: decode speed while training ran went from about
# a third of normal to unchanged) and takes them all back when the chat is idle.
DEFAULT_NICE = 10


def lower_priority() -> int:
    """Renice this process (KINDRED_TRAIN_NICE, default 10); returns the niceness now."""
    return renice("KINDRED_TRAIN_NICE", DEFAULT_NICE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kindred.core.training")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--consent", type=int, required=True,
                        help="the granted `train` consent request for this run")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    args = parser.parse_args(argv)
    lower_priority()
    stop = StopFlag()

    def on_signal(signum: int, frame: Any) -> None:
        stop.requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a closed pipe is an error, not death
    run = RunDir(args.run_dir.resolve())
    # Whoever started us may die (a killed CLI, a closed window): its end of the pipe closes.
    # Progress then goes on to the run folder alone (ProgressLog), and a write to stderr that
    # fails is dropped, never fatal: the run finishes without anyone watching.
    emit = ProgressLog(run, sys.stdout)
    run.withdraw_pause()  # a new attempt starts unpaused (a pause belongs to one attempt)
    stop.run, stop.emit = run, emit
    sys.stderr = _Tolerant(sys.stderr)
    try:
        finished = run_job(run, args.consent, resume=args.resume, emit=emit, stop=stop)
        return EXIT_DONE if finished else EXIT_STOPPED
    except KindredError as exc:
        emit({"event": "error", "message": str(exc)})
        return EXIT_FAILED
    except Exception as exc:  # a crash still ends with a line the launcher can show
        if is_disk_full(exc):  # a checkpoint or the base cache met a full disk
            emit({"event": "error", "message": "The disk is full, so training stopped; nothing "
                  "was lost (the last complete checkpoint is kept, nothing half-written is). Free "
                  "some space, then Continue where it stopped (Training page, or `kindred train "
                  "--resume`) goes on from it."})
            return EXIT_FAILED
        traceback.print_exc(file=sys.stderr)
        emit({"event": "error", "message": f"Training crashed: {type(exc).__name__}: {exc}. "
              "The last checkpoint is kept; Continue where it stopped (Training page, or "
              "`kindred train --resume`) goes on from it."})
        return EXIT_CRASH
    finally:
        emit.close()


class _Tolerant:
    """A text stream whose writes never raise (stderr after the terminal went away)."""

    def __init__(self, stream: Any) -> None:
        self.stream: Any = stream
        self.original: Any = stream

    def write(self, text: str) -> int:
        if self.stream is not None:
            try:
                return int(self.stream.write(text))
            except (OSError, ValueError):
                self.stream = None
        return len(text)

    def flush(self) -> None:
        if self.stream is not None:
            try:
                self.stream.flush()
            except (OSError, ValueError):
                self.stream = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


if __name__ == "__main__":
    exit_now(main())
