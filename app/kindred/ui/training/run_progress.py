"""Following a training run on the Training page: attach to its run folder, show each event
as it arrives (status line, progress bar, ETA, the loss chart), and its end, a new candidate
included. Apart from `training_view` (plan, consent, start, pause, stop) because this part
only watches: it decides nothing about the run. The words are `run_text`'s.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QHideEvent
from PySide6.QtWidgets import QWidget

from kindred.core.archive import versions
from kindred.core.basics.ids import VersionId
from kindred.core.basics.states import RUN_ENDS, TrainingEvent
from kindred.core.home.assistants import Assistant
from kindred.core.session import Session
from kindred.core.training import estimate
from kindred.core.training.run import RunDir
from kindred.ui.training import run_text
from kindred.ui.training.training_page import TrainingPage
from kindred.ui.training.training_widgets import CandidateNotice, RunFollower


class RateEstimate:
    """Time left from the rate measured since the phase began, never a promise made before:
    the training's last "About 1 s left" stayed up through 8 minutes of quality card."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.began: float | None = None
        self.first = 0.0

    def seconds_left(self, fraction: float, replayed: bool = False) -> float | None:
        """None until enough was measured to say (5 % and 2 s of this phase)."""
        now = time.monotonic()
        if replayed or self.began is None or fraction < self.first:
            self.began, self.first = now, fraction
            return None
        done = fraction - self.first
        if done < 0.05 or now - self.began < 2:
            return None
        return (now - self.began) * (1.0 - fraction) / done

    def left(self, fraction: float, replayed: bool) -> str:
        seconds = self.seconds_left(fraction, replayed)
        if seconds is None:
            return f"{self.what}…"
        return f"{self.what}: about {estimate.human(seconds)} left"


class RunProgress(TrainingPage):
    """The run being followed and what the page shows of it; `TrainingView` starts, pauses
    and stops runs and reviews the candidate."""

    candidate_ready = Signal(str)  # a run archived a new candidate version
    following = Signal(bool)  # a run started (or was found running) / ended
    run_status = Signal(str, bool)  # one line for the status bar ("" once settled), is error

    session: Session
    assistant: Assistant

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)  # lays the page out
        self.run: RunDir | None = None
        self.follower: RunFollower | None = None
        self.pid = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.state = "idle"  # idle, planning, starting, running, stopping, stopped, done, failed
        self.step = 0
        self.total = 0
        self.events: list[dict[str, Any]] = []
        self.candidate: VersionId | None = None
        self.chart_run = ""
        self.notice: CandidateNotice | None = None
        self.unannounced: tuple[VersionId, str] | None = None  # for the notice, off this page
        self._after_training = RateEstimate("Measuring quality")

    def refresh(self) -> None:
        raise NotImplementedError  # TrainingView's

    def review(self, version_id: VersionId | None) -> None:
        raise NotImplementedError  # TrainingView's

    # -- what the page says ------------------------------------------------------------------

    def _busy(self) -> bool:
        return self.state in ("planning", "starting", "running", "stopping")

    def _update_buttons(self) -> None:
        running = self.state in ("starting", "running")
        self.train_button.setEnabled(not self._busy())
        self.pause_button.setEnabled(running and self.pid > 0)
        self.pause_button.setText("Resume" if self.paused else "Pause")
        self.stop_button.setEnabled(running)

    def _say(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    # -- following ---------------------------------------------------------------------------

    def attach(self, run: RunDir, pid: int = 0) -> None:
        """Follow a run's progress (one this page started, or one found running)."""
        self._detach()
        if pid <= 0:  # found running (started by another window or command): its recorded pid
            pid = int(run.state().get("pid") or 0)
        self.run, self.pid, self.paused = run, pid, run.pause_requested() is not None
        self.state = "starting"
        self.total = int(run.plan().get("total_steps") or 0)
        if self.chart_run != run.id:
            self.chart.clear(self.total)
            self.chart_run = run.id
        process = self.process if self.process is not None and self.process.pid == pid else None
        self.follower = RunFollower(run, pid, self, process=process)
        self.follower.progressed.connect(self._event)
        self.follower.lost.connect(self._lost)
        self.follower.start()
        self._update_buttons()
        self.following.emit(True)

    def _detach(self) -> None:
        if self.follower is not None:
            self.follower.stop()
            self.follower.deleteLater()
        self.follower = None

    def _event(self, event: dict[str, Any], replayed: bool) -> None:
        self.events.append(event)
        kind = event["event"]
        if replayed and kind in RUN_ENDS:
            return  # the end of an earlier attempt of this run, which goes on now
        archived = event.get("version") if kind in (TrainingEvent.ARCHIVED,
                                                     TrainingEvent.DONE) else None
        name = versions.names(self.session.store, self.assistant.id).get(str(archived)) \
            if archived else None
        text = run_text.sentence(event, self.step, self.total, name)
        if kind == TrainingEvent.START:
            self.state = "running"
        elif kind in (TrainingEvent.PAUSED, TrainingEvent.RESUMED):
            self.paused = kind == TrainingEvent.PAUSED
        elif kind == TrainingEvent.EVAL:
            step = 0 if event.get("when") == "start" else self.total
            if event.get("heldout_loss") is not None:
                self.chart.add_heldout(step, float(event["heldout_loss"]))
        elif kind == TrainingEvent.STEP:
            self._step(event)
        elif kind == TrainingEvent.CHECKPOINT:
            self.eta.setText(f"{self.eta.text().split(' · checkpoint')[0]} · checkpoint saved "
                             f"at step {event.get('step')}")
        elif kind == TrainingEvent.STOPPED:
            self.state = "stopped"
        elif kind in run_text.PREPARING and (where := run_text.preparing(event)):
            self.progress.setValue(where[0])
            self.progress.setFormat(f"preparing {where[1]}")
        elif kind == TrainingEvent.QUALITY:
            fraction = float(event.get("fraction") or 0)
            self.progress.setValue(round(100 * fraction))
            self.progress.setFormat("measuring quality")
            self.eta.setText(self._after_training.left(fraction, replayed))
        elif kind == TrainingEvent.DONE:
            self.state = "done"
            self.progress.setValue(100)
            self.progress.setFormat("done")
            self.eta.setText("Finished.")
            self._ready(VersionId(str(event["version"])), announce=not replayed)
        elif kind == TrainingEvent.ERROR:
            self.state = "failed"
            self._say(str(event.get("message", "Training failed.")), error=True)
            if not replayed:  # seen wherever the person is, not on this page alone
                self.run_status.emit("Training stopped by an error: open Training to "
                                     "continue where it stopped", True)
        if text is not None:
            self._say(text)
        if kind in RUN_ENDS:
            if kind != TrainingEvent.ERROR:
                self.run_status.emit("", False)
            self._finished()
        self._update_buttons()

    def _step(self, event: dict[str, Any]) -> None:
        self.state = "running"
        self.step = int(event.get("step", 0))
        self.total = int(event.get("total_steps") or self.total or 1)
        self.chart.set_total(self.total)
        self.progress.setValue(round(100 * self.step / max(self.total, 1)))
        self.progress.setFormat(f"step {self.step} of {self.total}")
        self.run_status.emit(f"Training {round(100 * self.step / max(self.total, 1))} %", False)
        self.chart.add_step(self.step, float(event.get("loss", 0.0)))
        eta = estimate.human(float(event.get("eta_s") or 0))
        speed = float(event.get("tokens_per_s") or 0)
        self.eta.setText(f"About {eta} left · {speed:.0f} tokens/s")
        if not self.paused:
            self._say(f"Training: step {self.step} of {self.total}, loss "
                      f"{float(event.get('loss', 0)):.3f}.")

    def _lost(self, message: str) -> None:
        self.state = "failed"
        self._say(message, error=True)
        self.run_status.emit("Training stopped unexpectedly: open Training to continue where "
                             "it stopped", True)
        self._finished()

    def _finished(self) -> None:
        self._detach()
        self.run, self.pid, self.paused = None, 0, False
        self.refresh()
        self.following.emit(False)

    # -- the candidate it archived -----------------------------------------------------------

    def _ready(self, version_id: VersionId, *, announce: bool) -> None:
        self.candidate = version_id
        names = versions.names(self.session.store, self.assistant.id)
        name = names.get(version_id, version_id[:12])
        text = (f"{name} is ready. See its answers beside the current ones, then decide "
                "whether to use it.")
        self.banner_label.setText(text)
        self.banner.show()
        if not announce:
            return
        self.candidate_ready.emit(version_id)
        # on this page the banner says it; the floating notice waits until the person goes
        # elsewhere (both at once said the same thing twice)
        self.unannounced = (version_id, text)
        if not self.isVisible():
            self._announce()

    def _announce(self) -> None:
        host = self.window()
        if self.unannounced is None or host is self:
            return
        version_id, text = self.unannounced
        self.unannounced = None
        if self.candidate != version_id:
            return  # reviewed (or replaced) meanwhile
        if self.notice is None or self.notice.host is not host:
            self.notice = CandidateNotice(host)
            self.notice.review_requested.connect(self.review)
        self.notice.announce(version_id, text)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self._announce()
