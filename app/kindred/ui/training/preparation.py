"""Preparing the base for training in the background, quietly (`core.training.prepare`).

Once an assistant has been taught something (a rating, a correction, a preference) and its base
is not prepared yet, the work every first training on that base would otherwise do (the base's
replayed answers, its half of the quality card, its weights for training) runs in its own
low-priority process, followed by this window (`kit.worker_process`): the GUI never imports
torch and never waits for it. It stops (SIGTERM; what was finished is kept) when a training or
a move starts, and when the window closes; the training then does what is still missing itself,
as before. No consent: it changes no adapter and writes caches only.
"""

from __future__ import annotations

import contextlib
import os

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QLabel

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import TrainingEvent
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.training import prepare, runner
from kindred.core.training.run import list_runs
from kindred.ui.kit import worker_process

DELAY_MS = 5000
"""Wait this long after something changed (start-up, a taught item) before starting: the window
and the chat's model load first."""
SWITCH = "KINDRED_BACKGROUND_PREPARE"
"""Set to 0 to never prepare in the background (the test suite does, except where it tests
this)."""


class Preparation(QObject):
    progressed = Signal(float, str)  # fraction, message
    finished = Signal(bool)  # True: prepared; False: stopped, failed or nothing to do

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.assistant_id = AssistantId(0)
        self.process: worker_process.Worker | None = None
        self.blocked = 0  # > 0 while a move to another base is being set up or runs
        self.training = False  # the Training page follows a run
        self.delay_ms = DELAY_MS
        self.started_count = 0
        self.last_error = ""
        self.stopping = False  # asked to stop; its process has not ended yet
        self._target: prepare.Target | None = None
        self._failed: set[tuple[str, str]] = set()  # not retried in this window
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._maybe_start)

    def running(self) -> bool:
        return self.process is not None

    def consider(self, assistant_id: AssistantId | None = None) -> None:
        """Something changed (the assistant, what it was taught, a training ended): start
        preparing after a short delay if there is a reason to."""
        if assistant_id is not None:
            self.assistant_id = assistant_id
        if os.environ.get(SWITCH, "1") == "0":
            return
        if not self.running():
            self._timer.start(self.delay_ms)

    def needed(self) -> prepare.Target | None:
        """The target to prepare now, or None (nothing taught, already prepared, a training
        runs, or the base cannot be trained on)."""
        if self.running() or self.blocked or self.training or not self.assistant_id:
            return None
        store = self.session.store
        if not any(feedback.counts(store, self.assistant_id).values()):
            return None
        if any(run.is_running() for run in list_runs(self.session.home.runs)):
            return None
        try:
            target = prepare.target_for(store, self.assistant_id)
        except KindredError:
            return None
        if target is None or (target.base_sha256, target.system) in self._failed \
                or prepare.is_prepared(target):
            return None
        return target

    def _maybe_start(self) -> None:
        target = self.needed()
        if target is not None:
            self.start(target)

    def start(self, target: prepare.Target) -> None:
        self._target = target
        self.started_count += 1
        self.progressed.emit(0.0, "Starting")
        self.process = worker_process.Worker(
            self, prepare.command(), env=runner.training_env(), stderr=False, line=self._line,
            ended=self._ended, failed=self._failed_to_start, stdin=prepare.target_line(target))
        self.process.start()

    def _line(self, line: bytes) -> None:
        event = runner.parse_line(line)
        if event is None or self.stopping:
            return
        if event["event"] == TrainingEvent.PROGRESS:
            with contextlib.suppress(TypeError, ValueError):
                self.progressed.emit(float(event.get("fraction") or 0.0),
                                     str(event.get("message", "")))
        elif event["event"] == TrainingEvent.ERROR:
            self.last_error = str(event.get("message", ""))

    def _ended(self, code: int, normal: bool) -> None:
        self.process = None
        if normal and code in (prepare.EXIT_FAILED, prepare.EXIT_CRASH) and self._target:
            self._failed.add((self._target.base_sha256, self._target.system))
        if self.stopping:  # already said when it was asked to stop
            self.stopping = False
            return
        self.finished.emit(code == prepare.EXIT_DONE and normal)

    def _failed_to_start(self) -> None:
        if self.process is not None:
            self.last_error = "The preparation process could not start."
            self.process = None
            self.finished.emit(False)

    def stop(self, *, wait: bool = False) -> None:
        """SIGTERM: the worker stops at once, keeping what it finished (caches are written
        whole or not at all). `wait` (closing the app): give it a moment, then kill it."""
        self._timer.stop()
        if self.process is not None and not self.stopping:
            # said at once: a worker deep in a torch call may take a while to go, and its
            # last progress line must not keep "Preparing… 25 %" up meanwhile
            self.stopping = True
            self.finished.emit(False)
        worker_process.stop(self.process, wait=wait)

    def set_training(self, going: bool) -> None:
        """A training run started or was found running (stop: it does what is missing
        itself), or it ended (perhaps it was stopped before preparing everything)."""
        self.training = going
        if going:
            self.stop()
        else:
            self.consider()

    def block(self) -> None:
        """A move to another base starts: stop, and do not start again until `unblock`."""
        self.blocked += 1
        self.stop()

    def unblock(self) -> None:
        self.blocked = max(0, self.blocked - 1)
        self.consider()


TIP = ("Kindred prepares the base model for training in the background, once per model: its "
       "answers to general requests, its half of the quality card and its weights for "
       "training. Your first training is then as quick as the later ones.")


def status_label(preparation: Preparation) -> QLabel:
    """The status bar's quiet word on it: shown with its progress while it runs, else hidden."""
    label = QLabel()
    label.setObjectName("statusItem")
    label.setToolTip(TIP)
    label.hide()

    def progressed(fraction: float, message: str) -> None:
        label.setText(f"Preparing for your first training… {fraction:.0%} (once per model)")
        label.setToolTip(f"{TIP}\n\nNow: {message}")
        label.show()

    preparation.progressed.connect(progressed)
    preparation.finished.connect(label.hide)
    return label
