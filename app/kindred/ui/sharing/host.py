"""The window's engine host for the local API: API answers run on the chat's own inference
thread (one model in memory), one stretch at a time, and the chat comes first.

An API answer in progress pauses between two tokens as soon as the chat asks for an answer
(`InferenceWorker.chat_waiting`); its next stretch is queued behind the chat's answer, and goes on
from where it stopped. The chat's own adapters are put back after every stretch.
"""

from __future__ import annotations

import threading
from collections import deque
from pathlib import Path
from typing import Any

from kindred.api.answering import Job, run, use_adapters
from kindred.api.hosts import MAX_WAITING, Busy
from kindred.ui.chat.inference import InferenceThread


class WindowHost:
    def __init__(self, inference: InferenceThread, model_path: Path) -> None:
        self.inference = inference
        self.model_path = Path(model_path)
        self._jobs: deque[Job] = deque()
        self._lock = threading.Lock()
        self._posted = False
        self.stretches = 0  # how many stretches ran (tests: a paused answer took more than one)

    def submit(self, job: Job) -> None:
        with self._lock:
            if len(self._jobs) >= MAX_WAITING:
                raise Busy(f"{MAX_WAITING} requests are waiting already; try again shortly.")
            self._jobs.append(job)
            if self._posted:
                return
            self._posted = True
        self.inference.run(self._stretch)

    def _stretch(self, engine: Any) -> None:
        """On the inference thread: one stretch of the first waiting answer."""
        with self._lock:
            job = self._jobs[0]
        self.stretches += 1
        done = True
        if engine is None or Path(engine.model_path) != self.model_path:
            job.sink(("error", "The window has another base model loaded now; open the "
                      "assistant being shared in Kindred."))
        else:
            chat_set = engine.adapters
            try:
                done = run(engine, job, self.inference.worker.chat_waiting)
            finally:
                use_adapters(engine, chat_set)
        with self._lock:
            if done:
                self._jobs.popleft()
            self._posted = bool(self._jobs)
            again = self._posted
        if again:  # behind whatever the chat queued meanwhile
            self.inference.run(self._stretch)

    def close(self) -> None:
        with self._lock:
            jobs = list(self._jobs)
        for job in jobs:
            job.cancelled.set()
