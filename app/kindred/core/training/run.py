"""A training run's work folder, `runs/<run id>/`, shared by the launcher and the trainer.

    plan.json          what to train: assistant, base, parent, dataset id, settings (launcher)
    tokens.json        the tokenized examples, train and held-out (launcher)
    state.json         status, step, last checkpoint, version id, message (trainer)
    progress.jsonl     every progress line the trainer printed (so a view can reattach)
    lock               held (flock) by the live trainer; the kernel drops it if the trainer dies
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kindred.core.atomic import write_atomic
from kindred.core.errors import KindredError, NotFoundError
from kindred.core.store import now

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid check alone
    fcntl = None  # type: ignore[assignment]

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
RESUMABLE = ("created", "stopped", "failed", "killed")
Emit = Callable[[dict[str, Any]], None]
"""Where the trainer sends progress events (stdout JSON lines in the training process)."""


@dataclass
class StopFlag:
    """Set from a signal handler; the training loop checkpoints and stops after its step."""

    requested: bool = False


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

    def status(self) -> str:
        """The recorded status, except that a `running` run nobody holds was killed."""
        status = str(self.state().get("status", "created"))
        if status == "running" and not self.is_running():
            return "killed"
        return status


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


def list_runs(runs_root: Path, assistant_id: int | None = None) -> list[RunDir]:
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
