"""The app's own attached background processes (a base prepared for training, an insight worked
out ahead), followed without blocking the window.

They are started by the core's one launcher (`core.basics.processes`) like every other process;
this only follows them the Qt way: their output is read as it comes (a socket notifier on the
pipe, never a blocking read), the other stream discarded, and their end noticed by a timer. They
are stopped with SIGTERM (and killed if they linger when the app closes)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence

from PySide6.QtCore import QObject, QSocketNotifier, QTimer

from kindred.core.basics import processes

STOP_WAIT_S = 3.0
POLL_MS = 100


class Worker(QObject):
    """The process for `argv` with exactly the environment `env`, started by `start()`.
    `line` gets each line of its stdout (`stderr`: of its stderr), `ended` the exit code and
    whether it exited by itself (after the last line), `failed` is called if it could not
    start at all. `stdin`: written to it whole, then closed (a worker's target)."""

    def __init__(self, parent: QObject, argv: Sequence[str], *, env: Mapping[str, str],
                 stderr: bool, line: Callable[[bytes], None],
                 ended: Callable[[int, bool], None], failed: Callable[[], None],
                 stdin: bytes | None = None) -> None:
        super().__init__(parent)
        self.argv, self.env, self.stdin = list(argv), dict(env), stdin
        self.use_stderr = stderr
        self.on_line, self.on_ended, self.on_failed = line, ended, failed
        self.process: subprocess.Popen[bytes] | None = None
        self.pending = b""
        self.notifier: QSocketNotifier | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)

    @property
    def pid(self) -> int:
        """Its process id once started (0 before)."""
        return self.process.pid if self.process is not None else 0

    def start(self) -> None:
        try:
            self.process = processes.start(
                self.argv, self.env, stdin=self.stdin,
                stdout="discard" if self.use_stderr else "pipe",
                stderr="pipe" if self.use_stderr else "discard")
        except OSError:
            self.on_failed()
            self.deleteLater()
            return
        stream = self.process.stderr if self.use_stderr else self.process.stdout
        assert stream is not None
        fd = stream.fileno()
        os.set_blocking(fd, False)
        self.notifier = QSocketNotifier(fd, QSocketNotifier.Type.Read, self)
        self.notifier.activated.connect(self._read)
        self.timer.start()

    def _read(self) -> None:
        """Whatever is there now (never waits); at the end of the stream, stop listening."""
        assert self.process is not None
        stream = self.process.stderr if self.use_stderr else self.process.stdout
        assert stream is not None
        while True:
            try:
                data = os.read(stream.fileno(), 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                if self.notifier is not None:
                    self.notifier.setEnabled(False)
                return
            *lines, self.pending = (self.pending + data).split(b"\n")
            for text in lines:
                self.on_line(text)

    def _poll(self) -> None:
        if self.process is None or self.process.poll() is None:
            return
        self.timer.stop()
        self._read()  # what it wrote last
        code = self.process.returncode
        self._close()
        self.on_ended(abs(code), code >= 0)
        self.deleteLater()

    def _close(self) -> None:
        if self.notifier is not None:
            self.notifier.setEnabled(False)
            self.notifier = None
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()

    def stop(self, *, wait: bool = False) -> None:
        """SIGTERM; `wait` (closing the app): give it a moment, then kill it."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        if wait:
            try:
                self.process.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_WAIT_S)
            self._poll()


def stop(worker: Worker | None, *, wait: bool = False) -> None:
    if worker is not None:
        worker.stop(wait=wait)
