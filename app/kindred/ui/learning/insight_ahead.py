"""Working out what a new version learned as soon as it exists, so "What it learned" opens at once.

A cold insight takes 10-20 s on a 2-core machine (bench/insight.py: llama.cpp gets through
about 150 tokens a second, and the insight evaluates some 2,300); a person who has just trained
looks at it within a minute. So when a training archives a candidate, the window runs
`kindred learned VERSION --background` as its own low-priority process (nice 19: the chat
keeps the cores), which writes the core's insight cache and nothing else: no consent is needed,
no adapter changes. The What-it-learned page follows it if opened meanwhile instead of
starting the same work again. It stops when a training or a move starts, and when the window
closes; a stopped one leaves nothing half-written (the cache is written whole at the end) and
the page computes what is missing itself, as before.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from kindred.core.archive.versions import get_version
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import VersionId
from kindred.core.home.assistants import get_assistant
from kindred.core.learning import insight
from kindred.core.learning.feedback import system_prompt
from kindred.core.session import Session
from kindred.core.training import runner
from kindred.ui.kit import worker_process

SWITCH = "KINDRED_BACKGROUND_INSIGHT"
"""Set to 0 to never work insights out ahead (the test suite does, except where it tests
this)."""
_PROGRESS = re.compile(r"^\[\s*(\d+)%\]\s*(.*)$")


def command(home: Path, version_id: VersionId, python: str | None = None) -> list[str]:
    """argv of the background process: the app's own CLI (in the desktop bundle the app's
    executable takes CLI commands; there is no Python beside it)."""
    args = ["learned", version_id, "--home", str(home), "--background"]
    if python is None and getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [python or sys.executable, "-m", "kindred", *args]


def parse_progress(line: str) -> tuple[float, str] | None:
    """(fraction, message) from one of the CLI's progress lines ("[ 42%] message")."""
    match = _PROGRESS.match(line.strip())
    return (int(match.group(1)) / 100, match.group(2)) if match else None


class InsightAhead(QObject):
    progressed = Signal(float, str)  # fraction, message (of the version `running_for`)
    finished = Signal(str, bool)  # version id; True: its insight is in the cache now

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.process: worker_process.Worker | None = None
        self.version_id = VersionId("")
        self.waiting = VersionId("")  # a newer version, to work out after the running one
        self.started_count = 0
        self.last_progress: tuple[float, str] = (0.0, "")
        self.interrupted: list[VersionId] = []  # stopped by a training or a move, to redo

    def running_for(self) -> str | None:
        return self.version_id if self.process is not None else None

    def needed(self, version_id: VersionId) -> bool:
        """Whether the version's insight (against the bare base, under the system prompt the
        chat uses now) is not cached yet."""
        store = self.session.store
        try:
            version = get_version(store, version_id)
            assistant = get_assistant(store, version.assistant_id)
            return insight.cached(store, version.id, against="base",
                                  system=system_prompt(store, assistant)) is None
        except KindredError:
            return False  # gone or unreadable: the page says why when asked

    def consider(self, version_id: VersionId) -> None:
        """A new version exists: work its insight out unless it is cached (after the one
        running, if any: the newest waits its turn)."""
        if os.environ.get(SWITCH, "1") == "0":
            return
        if self.process is not None:
            self.waiting = version_id if version_id != self.version_id else VersionId("")
        elif self.needed(version_id):
            self.start(version_id)

    def start(self, version_id: VersionId) -> None:
        self.version_id = version_id
        self.started_count += 1
        self.last_progress = (0.0, "Starting")
        self.process = worker_process.Worker(
            self, command(self.session.home.root, version_id), env=runner.training_env(),
            stderr=True, line=self._line, ended=self._ended, failed=self._failed_to_start)
        self.process.start()

    def _line(self, line: bytes) -> None:
        found = parse_progress(line.decode("utf-8", "replace"))
        if found is not None:
            self.last_progress = found
            self.progressed.emit(*found)

    def _ended(self, code: int, normal: bool) -> None:
        self.process = None
        self.finished.emit(self.version_id,
                           normal and code == 0 and not self.needed(self.version_id))
        if self.waiting and normal and code == 0:
            waiting, self.waiting = self.waiting, VersionId("")
            self.consider(waiting)

    def _failed_to_start(self) -> None:
        if self.process is not None:
            self.process = None
            self.finished.emit(self.version_id, False)

    def training_started(self, going: bool) -> None:
        """A training runs (leave it the cores) or ended (take up what it interrupted)."""
        if going:
            self.pause()
        else:
            self.carry_on()

    def pause(self) -> None:
        """Stop for now (a training or a move wants the cores), and remember what was being
        worked out, so that `carry_on` takes it up again: it once showed only when the
        page was reopened, 40 minutes later."""
        for version_id in (self.version_id if self.process is not None else "", self.waiting):
            if version_id and version_id not in self.interrupted:
                self.interrupted.append(VersionId(version_id))
        self.stop()

    def carry_on(self) -> None:
        """Work out, newest last, what `pause` interrupted (those still not cached)."""
        interrupted, self.interrupted = self.interrupted, []
        for version_id in interrupted:
            self.consider(version_id)

    def stop(self, *, wait: bool = False) -> None:
        """SIGTERM: nothing is cached for an unfinished insight (nor started for one waiting)."""
        self.waiting = VersionId("")
        worker_process.stop(self.process, wait=wait)
