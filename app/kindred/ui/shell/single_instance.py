"""One window per data home: a second start brings the first window forward and exits.

The first app holds an exclusive lock (`flock`) on `gui.lock` in its data home for as long as it
runs; the kernel drops it when the app ends, even by a crash, so a stale lock cannot block the
next start. A second start that finds the lock taken writes `gui.forward`; the first app watches
that file (QFileSystemWatcher) and brings its window forward. Two windows on one home would each
hold an engine and follow the same training run. (No QtNetwork: a file is enough, and the
packaged app leaves that module out.)
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from PySide6.QtCore import QFileSystemWatcher, QObject, Signal

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no single-instance check
    fcntl = None  # type: ignore[assignment]

LOCK = "gui.lock"
FORWARD = "gui.forward"


class SingleInstance(QObject):
    """`already_running()` (True: the first app was asked to come forward) or `listen()`;
    `activated` fires when a later start asks this window to come forward."""

    activated = Signal()

    def __init__(self, home_root: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.lock_path = Path(home_root) / LOCK
        self.forward_path = Path(home_root) / FORWARD
        self._fd: int | None = None
        self._watcher: QFileSystemWatcher | None = None

    def already_running(self) -> bool:
        """Take the home's lock if free (False), else ask its holder to come forward (True)."""
        if self._fd is not None or fcntl is None:
            return False
        fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.forward_path.write_text(f"{os.getpid()} {time.time()}\n")
            return True
        self._fd = fd
        return False

    def listen(self) -> bool:
        """Watch for later starts; False if another app holds the home."""
        if self._fd is None and self.already_running():
            return False
        self.forward_path.touch()
        self._watcher = QFileSystemWatcher([str(self.forward_path)], self)
        self._watcher.fileChanged.connect(self._changed)
        return True

    def _changed(self, path: str) -> None:
        assert self._watcher is not None
        if path not in self._watcher.files() and Path(path).exists():
            self._watcher.addPath(path)  # replaced rather than rewritten: watch it again
        self.activated.emit()

    def close(self) -> None:
        self._watcher = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
