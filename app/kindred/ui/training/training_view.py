"""Training: teach the assistant what it was taught, on this computer, with consent at each step.

Train… plans the run in the background (it tokenizes the examples), then asks for consent with
what will be learned, from which base, and how long it should take. Once granted, the core writes
the run folder and the training process starts in its own session (`python -m
kindred.core.training`: torch never loads here, and closing the window never interrupts it). The
page follows its progress file (`run_progress`): progress bar, ETA, a live loss chart. Pause
suspends the process (nothing is lost); Stop asks for the `interrupt` consent, then the trainer
writes a checkpoint and exits, and Continue (asked again) resumes from it. When a candidate is
archived a notice offers to review it: both versions answer a few recent prompts side by side
inside the activation consent.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QWidget

from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import RunStatus, VersionSource
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.home.consent import Decision
from kindred.core.learning import feedback
from kindred.core.learning.dataset import describe_counts
from kindred.core.session import Session
from kindred.core.training import estimate, runner
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import RunDir
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.consent.flow import ask
from kindred.ui.kit.tasks import Task
from kindred.ui.ops.op import OpContext, run_op
from kindred.ui.training.candidate_review import CandidateReviewer, shown
from kindred.ui.training.run_progress import RunProgress


def plan_job(op: OpContext, assistant_id: AssistantId, config: TrainConfig | None
             ) -> runner.TrainingPlan:
    """Validate and tokenize; writes nothing."""
    return runner.plan_training(op.session, get_assistant(op.session.store, assistant_id),
                                config)


class TrainingView(RunProgress):
    """The Training page's flows: plan, consent, start or continue a run, pause, stop with
    consent, and the review of the candidate it archived (laid out by `TrainingPage`; the run
    followed and shown by `RunProgress`)."""

    move_review = Signal(str)  # a version a move made: the window opens the move's dialog

    def __init__(self, session: Session, parent: QWidget | None = None, *,
                 config: TrainConfig | None = None) -> None:
        super().__init__(parent)  # lays the page out, with nothing followed yet
        self.session = session
        self.assistant: Assistant = session.assistant()
        self.config = config
        self.task: Task | None = None
        self.dialog: ConsentDialog | None = None
        self.train_button.clicked.connect(self.start)
        self.continue_button.clicked.connect(self.continue_run)
        self.review_button.clicked.connect(lambda: self.review(self.candidate))
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button.clicked.connect(self.stop)
        self.reviewer = CandidateReviewer(session, self)
        self.reviewer.said.connect(lambda text, error: self._say(text, error=error))
        self.reviewer.activated.connect(self._activated)
        self.reviewer.busy_changed.connect(lambda busy: self.review_button.setEnabled(not busy))
        self.refresh()

    # -- what is shown -----------------------------------------------------------------------

    def set_assistant(self, assistant: Assistant) -> None:
        if assistant.id != self.assistant.id:
            # A run of the previous assistant goes on; coming back to it re-attaches.
            if self.follower is not None:
                self.following.emit(False)  # no longer followed here (its lock says it runs)
            self._detach()
            self.run, self.pid, self.paused, self.state = None, 0, False, "idle"
            self.candidate = None
            self.banner.hide()
            self.chart.clear(1)
            self.progress.setValue(0)
            self.eta.clear()
            self._say("Not training.")
        self.assistant = assistant
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        store = self.session.store
        self.assistant = get_assistant(store, self.assistant.id)
        self.title.setText(f"Training {self.assistant.name}")
        counts = feedback.counts(store, self.assistant.id)
        taught = {"correction": counts["corrections"], "preference": counts["preferences"],
                  "liked": counts["liked"], "disliked": counts["disliked"]}
        active = versions.active_version(store, self.assistant.id)
        names = versions.names(store, self.assistant.id)
        start = (f"It continues from {names.get(active.id, active.short)} and replays "
                 "everything learned so far." if active else
                 "It starts its first version on the base model.")
        self.data_label.setText(f"{describe_counts(taught).capitalize()}. {start}")
        if self.run is None:
            # A run that has written its end still holds its lock for a moment while its
            # process exits: following it again then would replay that end as an earlier
            # attempt's and wait for a process that is leaving (it is done, not running).
            running = [r for r in runner.running_runs(self.session, self.assistant.id)
                       if r.state().get("status") not in
                       (RunStatus.STOPPED, RunStatus.DONE, RunStatus.FAILED)]
            if running:
                self.attach(running[-1])
        resumable = None if self._busy() else runner.resumable_run(self.session,
                                                                    self.assistant.id)
        self.continue_button.setVisible(resumable is not None)
        self.continue_button.setToolTip(runner.describe_run(resumable) if resumable else "")
        move = resumable is not None and bool(resumable.plan().get("migration"))
        self.continue_button.setText("Continue the move…" if move else
                                     "Continue where it stopped…")
        self._update_buttons()

    # -- starting ----------------------------------------------------------------------------

    def start(self) -> None:
        """Plan in the background, then ask for the `train` consent."""
        if self._busy():
            return
        self.state = "planning"
        self._update_buttons()
        self._say("Preparing: reading what it will learn from…")
        home, aid = self.session.home.root, self.assistant.id
        self.task = run_op(home, lambda op: plan_job(op, aid, self.config),
                           on_done=self._ask_train, on_error=self._plan_failed, parent=self)

    def _plan_failed(self, message: str) -> None:
        self.task = None
        self.state = "idle"
        self._say(message, error=True)
        self._update_buttons()

    def _ask_train(self, plan: runner.TrainingPlan) -> None:
        self.task = None
        self.state = "idle"
        self._update_buttons()
        try:
            request = runner.request_training(self.session.store, plan)
        except KindredError as exc:
            self._say(str(exc), error=True)
            return
        names = versions.names(self.session.store, plan.assistant_id)
        evidence = {"what": describe_counts(plan.counts), "base_model": plan.model.name,
                 "continues_from": (names.get(plan.parent, plan.parent[:12]) if plan.parent
                                    else "nothing (a first version)"),
                 "steps": plan.total_steps, "estimated_time": estimate.human(plan.estimate_s)}
        dialog = ConsentDialog(
            self.session.store, shown(request, evidence),
            changes=(f"Training runs in the background on this computer for about "
                     f"{estimate.human(plan.estimate_s)}. You can keep chatting. When it "
                     "finishes you get a new candidate version to review; nothing changes in "
                     "your chats until you approve it."),
            kept=("Everything. The version you talk to now stays active and archived, and all "
                  "your conversations and teaching stay as they are."),
            parent=self)
        self._open(ask(dialog, self._said, refused="Refused and recorded. Nothing was trained.",
                       granted=lambda decision: self._launch(
                           runner.start_training(self.session, plan, decision), decision,
                           resume=False)))

    def continue_run(self) -> None:
        """Ask to resume the newest stopped (or killed) run from its checkpoint."""
        run = runner.resumable_run(self.session, self.assistant.id)
        if run is None or self._busy():
            return
        try:
            request = runner.request_resume(self.session.store, run)
        except KindredError as exc:
            self._say(str(exc), error=True)
            return
        dialog = ConsentDialog(
            self.session.store, request,
            changes=(f"It continues {runner.describe_run(run)}. When it finishes you "
                     "get a candidate version to review; nothing changes in your chats until "
                     "you approve it."),
            kept="Everything; the version you talk to now stays active.", parent=self)
        self._open(ask(dialog, self._said, refused="Refused and recorded. Training stays "
                       "stopped; its checkpoint is kept.",
                       granted=lambda decision: self._launch(run, decision, resume=True)))

    def _launch(self, run: RunDir, decision: Decision, *, resume: bool) -> None:
        """Start the training process detached: it outlives this window (an attached child
        would die with it, losing the steps since the last checkpoint); it is followed
        through its run folder."""
        try:
            self.process = runner.launch(run, decision, resume=resume, attached=False)
        except OSError as exc:
            self._say(f"The training process could not start ({exc}). Nothing was trained; "
                      "the run can be continued later.", error=True)
            self.refresh()
            return
        self.attach(run, pid=self.process.pid)
        self._say("Starting the training process…")

    # -- pause and stop ----------------------------------------------------------------------

    def toggle_pause(self) -> None:
        """Ask the trainer to wait between two steps, or to go on (a request in its run
        folder): nothing stops or is lost, and if this window closes while it waits, the
        training goes on by itself."""
        if self.run is None or self.pid <= 0:
            return
        try:
            if self.paused:
                runner.resume(self.run)
            else:
                runner.pause(self.run, by_pid=os.getpid())
        except KindredError as exc:
            self._say(str(exc), error=True)
            return
        self.paused = not self.paused
        self._say("Pausing after the current step. Resume continues exactly where it was."
                  if self.paused else "Resumed.")
        self._update_buttons()

    def stop(self) -> None:
        """Ask for the `interrupt` consent; granted, the trainer checkpoints and exits."""
        run = self.run
        if run is None or self.state not in ("starting", "running"):
            return
        try:
            request = runner.request_interrupt(self.session.store, run)
        except KindredError as exc:
            self._say(str(exc), error=True)
            return
        last = run.last_checkpoint()
        dialog = ConsentDialog(
            self.session.store, request,
            changes="Training stops after the current step. A checkpoint is written first.",
            kept=(f"The checkpoint (step {last[0]} so far, and the one written now)" if last
                  else "The checkpoint written now") + ", and all your data. “Continue where "
                 "it stopped” resumes from it. Nothing is archived until a run finishes.",
            parent=self)
        self._open(ask(dialog, self._said, refused="Refused and recorded. Training goes on.",
                       granted=lambda decision: self._stopping(run, decision)))

    def _stopping(self, run: RunDir, decision: Decision) -> None:
        runner.interrupt(self.session.store, run, decision)
        self.paused = False  # a paused trainer stops at once, from the step where it waits
        self.state = "stopping"
        self._say("Stopping: writing a checkpoint…")
        self._update_buttons()

    # -- the candidate -----------------------------------------------------------------------

    def review(self, version_id: VersionId | None) -> None:
        """Both versions answer a few recent prompts (background), then the consent dialog."""
        if not version_id:
            return
        self.unannounced = None
        if self.notice is not None:
            self.notice.hide()
        store = self.session.store
        version = versions.get_version(store, version_id)
        if (version.source == VersionSource.MIGRATED
                and version.base_sha256 != self.session.model_for(self.assistant).sha256):
            # made on another base by a move: its review is the move's card, its trial and
            # the switch (a phase-in cannot blend two bases)
            self.move_review.emit(version_id)
            return
        self.reviewer.review(version_id)

    def _activated(self, _version_id: str) -> None:
        self.banner.hide()
        self.candidate = None
        self.refresh()

    def _open(self, dialog: ConsentDialog) -> None:
        self.dialog = dialog
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None)
                                if self.dialog is dialog else None)

    def _said(self, text: str, error: bool) -> None:
        self._say(text, error=error)
