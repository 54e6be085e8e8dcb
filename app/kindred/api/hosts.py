"""Who owns the engine the API answers with. One engine per process, driven from one thread:

- `ThreadHost` (`kindred serve`): a thread of its own loads the assistant's base once and answers
  the queued requests one after the other, in order.
- the window's host (`ui/sharing/`) runs the same jobs on the chat's own inference thread, so
  one model is in memory and the chat comes first (see `answering`).

A host takes a `Job`, answers it on its thread and reports through the job's sink.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Protocol

from kindred.api.answering import Job, run
from kindred.core.basics.errors import KindredError
from kindred.core.engine.llama import Engine

MAX_WAITING = 32
"""Requests waiting beyond this many are refused with 503 (the engine answers one at a time)."""


class Busy(KindredError):
    """Too many requests are waiting already."""


class Host(Protocol):
    model_path: Path

    def submit(self, job: Job) -> None: ...

    def close(self) -> None: ...


class ThreadHost:
    """An engine on a thread of its own, answering queued jobs in order."""

    def __init__(self, model_path: Path, *, n_ctx: int | None = None,
                 n_threads: int | None = None) -> None:
        self.model_path = Path(model_path)
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="kindred-api-engine",
                                        args=(n_ctx, n_threads), daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _loop(self, n_ctx: int | None, n_threads: int | None) -> None:
        try:
            kwargs = {"n_ctx": n_ctx} if n_ctx else {}
            engine = Engine(self.model_path, n_threads=n_threads, **kwargs)
        except BaseException as exc:  # reported by the constructor
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while (job := self._jobs.get()) is not None:
                run(engine, job)
        finally:
            engine.close()

    def submit(self, job: Job) -> None:
        if self._jobs.qsize() >= MAX_WAITING:
            raise Busy(f"{MAX_WAITING} requests are waiting already; try again shortly.")
        self._jobs.put(job)

    @property
    def waiting(self) -> int:
        return self._jobs.qsize()

    def close(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(30)
