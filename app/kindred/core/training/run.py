"""A training run's work folder, `runs/<run id>/`, shared by the launcher and the trainer.

    plan.json          what to train: assistant, base, parent, dataset id, settings (launcher)
    tokens.json        the tokenized examples, train and held-out (launcher)
    state.json         status, step, last checkpoint, version id, message (trainer)
    progress.jsonl     every progress line the trainer printed (so a view can reattach)
    lock               held (flock) by the live trainer; the kernel drops it if the trainer dies
    pause              a request to wait between steps, and by whom (window or CLI); see StopFlag
    checkpoint-<step>/ adapter + optimizer state (safetensors) + position (the last two are kept)
    final/             the finished PEFT folder, before it is archived

Statuses: created, running, stopped (SIGTERM: checkpoint written), failed (message), done
(version id). A run whose state says running but whose lock is free was killed: resumable.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import RUN_ENDS, RunStatus, TrainingEvent
from kindred.core.home.atomic import write_atomic
from kindred.core.home.store import now

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid check alone
    fcntl = None  # type: ignore[assignment]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
Emit = Callable[[dict[str, Any]], None]
"""Where the trainer sends progress events (stdout JSON lines in the training process)."""


PAUSE_POLL_S = 0.5


class StopFlag:
    """Asked between steps (training, the teacher's and the replay's answers): stop after this
    step, or wait here while the run is paused.

    `requested` is set from the signal handler (SIGTERM, SIGINT): the loop checkpoints and stops.
    A pause is cooperative, a request file in the run folder (`RunDir.request_pause`): asked,
    the trainer waits here between two steps, holding nothing another process needs, and goes
    on when the request is withdrawn, or when the process that asked has gone (a window that
    paused it and died does not leave the run stuck). No signal: it works where SIGSTOP does not
    exist, and a paused trainer still answers SIGTERM at once."""

    def __init__(self, run: RunDir | None = None, emit: Emit | None = None) -> None:
        self._requested = False
        self.run = run
        self.emit = emit
        self.was_paused = False  # the run waited on a pause (its time says nothing of speed)

    @property
    def requested(self) -> bool:
        if not self._requested and self.run is not None:
            self._wait_while_paused(self.run)
        return self._requested

    @requested.setter
    def requested(self, value: bool) -> None:
        self._requested = value

    def _wait_while_paused(self, run: RunDir) -> None:
        by = run.pause_requested()
        if by is None:
            return
        run.write_state(paused=True)
        self.was_paused = True
        if self.emit is not None:
            self.emit({"event": "paused"})
        why = "asked"
        while not self._requested:
            by = run.pause_requested()
            if by is None:
                break
            if by > 0 and not process_alive(by):  # whoever paused it is gone
                run.withdraw_pause()
                why = "pauser gone"
                break
            time.sleep(PAUSE_POLL_S)
        run.write_state(paused=False)
        if self.emit is not None and not self._requested:
            self.emit({"event": "resumed", "why": why})


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def plan_path(self) -> Path:
        return self.path / "plan.json"

    @property
    def tokens_path(self) -> Path:
        return self.path / "tokens.json"

    @property
    def state_path(self) -> Path:
        return self.path / "state.json"

    @property
    def progress_path(self) -> Path:
        return self.path / "progress.jsonl"

    @property
    def lock_path(self) -> Path:
        return self.path / "lock"

    @property
    def final_dir(self) -> Path:
        return self.path / "final"

    def plan(self) -> dict[str, Any]:
        return _read_json(self.plan_path)

    def tokens(self) -> dict[str, Any]:
        return _read_json(self.tokens_path)

    def state(self) -> dict[str, Any]:
        try:
            return _read_json(self.state_path)
        except NotFoundError:
            return {"status": "created"}

    def write_state(self, **changes: Any) -> dict[str, Any]:
        state = {**self.state(), **changes, "updated_at": now()}
        write_atomic(self.state_path, json.dumps(state, indent=1).encode())
        return state

    def checkpoints(self) -> list[tuple[int, Path]]:
        """Complete checkpoints, oldest first (partial ones have another name)."""
        found: list[tuple[int, Path]] = []
        if self.path.is_dir():
            for entry in self.path.iterdir():
                match = _CHECKPOINT.match(entry.name)
                if match and entry.is_dir():
                    found.append((int(match.group(1)), entry))
        return sorted(found)

    def last_checkpoint(self) -> tuple[int, Path] | None:
        points = self.checkpoints()
        return points[-1] if points else None

    def is_running(self) -> bool:
        """True while a live trainer holds the run's lock."""
        if not self.lock_path.exists():
            return False
        fd = os.open(self.lock_path, os.O_RDWR)
        try:
            if fcntl is None:  # pragma: no cover
                pid = int(self.state().get("pid") or 0)
                return process_alive(pid)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def hold(self) -> Any:
        """Held by the trainer for its whole life; refuses a second trainer on the same run."""
        fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError as exc:
                    raise KindredError(f"Training run {self.id} is already running. "
                                       "Nothing was changed.") from exc
            yield self
        finally:
            os.close(fd)

    @property
    def pause_path(self) -> Path:
        return self.path / "pause"

    def request_pause(self, by_pid: int) -> None:
        """Ask the trainer to wait between steps until `withdraw_pause` (or until `by_pid`,
        the process asking, has gone; 0: until withdrawn, whoever asked)."""
        write_atomic(self.pause_path, json.dumps({"by": by_pid, "at": now()}).encode())

    def withdraw_pause(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pause_path.unlink()

    def pause_requested(self) -> int | None:
        """The pid that asked for a pause (0: anyone), or None if none is asked."""
        try:
            data = json.loads(self.pause_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, ValueError):
            return 0  # a damaged request still pauses; withdrawing removes it
        by = data.get("by") if isinstance(data, dict) else None
        return by if isinstance(by, int) and by >= 0 else 0

    def is_paused(self) -> bool:
        """Waiting between steps now (the trainer says so once it has stopped stepping)."""
        return bool(self.state().get("paused")) and self.is_running()

    def status(self) -> str:
        """The recorded status, except that a `running` run nobody holds was killed."""
        status = str(self.state().get("status", "created"))
        if status == RunStatus.RUNNING and not self.is_running():
            return RunStatus.KILLED
        return status


class ProgressLog:
    """The trainer's `emit`: every event goes to the run folder and, while someone reads it, to
    stdout.

    The run folder is the record (a view that comes later follows it); stdout is a courtesy to
    the process that started the trainer. When that process dies its pipe closes: the next write
    fails with EPIPE (or EIO on a closed terminal), and from then on only the folder is written,
    so a run is never lost to a pipe.
    """

    def __init__(self, run: RunDir, stdout: Any) -> None:
        self.run = run
        self.stdout: Any = stdout
        self._file: Any = None

    def __call__(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, allow_nan=False) + "\n"
        try:  # a full disk must not end the run either: the line still goes to stdout
            if self._file is None and self.run.path.is_dir():
                self._file = self.run.progress_path.open("a", encoding="utf-8")
            if self._file is not None:
                self._file.write(line)
                self._file.flush()
        except OSError:
            self._file = None
        if self.stdout is not None:
            try:
                self.stdout.write(line)
                self.stdout.flush()
            except (OSError, ValueError):  # EPIPE, EIO, or closed: nobody reads any more
                if _fileno(self.stdout) == 1:
                    _silence_stdout()
                self.stdout = None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _fileno(stream: Any) -> int:
    try:
        return int(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return -1


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's own flush at exit cannot fail either
    (it would print a BrokenPipeError and exit with 120 after a run that finished well)."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)


def follow(run: RunDir, *, poll_s: float = 0.25, start_grace_s: float = 20.0
           ) -> Iterator[dict[str, Any]]:
    """The events of a run's current attempt, from its progress file, as they are written.

    Starts at the newest `start` event already in the file (so a follower sees the whole attempt)
    and ends after a `done`, `stopped` or `error` event, or when no trainer holds the run any
    more (it was killed; everything it wrote has been read by then)."""
    offset, buffer, waited = 0, b"", 0.0
    pending: list[dict[str, Any]] = []
    if run.progress_path.is_file():
        data = run.progress_path.read_bytes()
        cut = data.rfind(b"\n") + 1
        offset, buffer = cut, b""
        for raw in data[:cut].split(b"\n"):
            event = _event(raw)
            if event is None:
                continue
            if event["event"] == TrainingEvent.START:
                pending = []
            pending.append(event)
        if pending and pending[-1]["event"] in RUN_ENDS \
                and not run.is_running():
            yield from pending
            return
        pending = [e for e in pending if e["event"] not in RUN_ENDS]
    yield from pending
    while True:
        running = run.is_running()  # before reading: a trainer that exits has written all
        data = b""
        if run.progress_path.is_file():
            with run.progress_path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        offset += len(data)
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            event = _event(raw)
            if event is not None:
                yield event
                if event["event"] in RUN_ENDS:
                    return
        if not running and not (run.status() == RunStatus.CREATED and waited < start_grace_s):
            return
        time.sleep(poll_s)
        waited += poll_s


def _event(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


def process_alive(pid: int) -> bool:
    """Alive and not a zombie (a detached child may wait unreaped in a container)."""
    if pid <= 0:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise NotFoundError(f"{path} is missing.") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise KindredError(f"{path} is damaged: {exc}.") from exc
    if not isinstance(data, dict):
        raise KindredError(f"{path} is damaged (not a JSON object).")
    return data


def list_runs(runs_root: Path, assistant_id: AssistantId | None = None) -> list[RunDir]:
    """Runs with a readable plan, oldest first (by the time they were planned)."""
    found: list[tuple[float, str, RunDir]] = []
    if runs_root.is_dir():
        for entry in runs_root.iterdir():
            run = RunDir(entry)
            try:
                plan = run.plan()
            except KindredError:
                continue
            if assistant_id is None or int(plan.get("assistant_id", -1)) == assistant_id:
                found.append((float(plan.get("created_at", 0.0)), entry.name, run))
    return [run for _, _, run in sorted(found, key=lambda item: item[:2])]


WORKER_DEFAULTS = {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",  # never download
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TQDM_DISABLE": "1",  # progress is reported as JSON lines instead
    # threads that sleep instead of spinning while they wait: the GUI's llama.cpp and other
    # programs share the cores, and spinning threads then slowed training 3-9x in our measurements
    "OMP_WAIT_POLICY": "PASSIVE",
}
"""What a worker process (training, preparation) needs set before torch or transformers load,
where its launcher did not set it already (`runner.training_env` does)."""


def worker_defaults() -> None:
    for key, value in WORKER_DEFAULTS.items():
        os.environ.setdefault(key, value)


def exit_now(code: int) -> NoReturn:
    """End a worker process at once: everything is on disk by then, so tearing down torch's and
    llama.cpp's threads and a few GB of tensors (about a second the waiting window would see)
    buys nothing."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # nobody reads: the run folder has it
            stream.flush()
    os._exit(code)
