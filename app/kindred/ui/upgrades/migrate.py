"""Move to another model…: the plan, consent, the re-learning run, the migration card with old
and new answers side by side, then the switch (and the way back), each with consent.

Slow steps run off the event loop: planning (the old version answers the distillation prompts)
and measuring the card in the background-task helper, each with its own database connection; the
training process in its own session, followed through its run folder like the Training page.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import TrainingEvent
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.home.consent import Decision
from kindred.core.home.models import list_models
from kindred.core.session import Session
from kindred.core.training import estimate, runner
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import RunDir
from kindred.core.upgrades import migration
from kindred.core.upgrades.decisions import Outcome
from kindred.core.upgrades.migration_data import Progress
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.consent.flow import ask, open_for_version
from kindred.ui.kit.tasks import Task
from kindred.ui.kit.widgets import SideBySide, error_label, scrolled
from kindred.ui.ops.op import OpContext, run_op
from kindred.ui.training.run_progress import RateEstimate
from kindred.ui.training.training_widgets import RunFollower


def _plan_in(op: OpContext, assistant_id: AssistantId, model_id: str, config: TrainConfig | None,
             limit: int | None) -> Generator[Progress, None, migration.MigrationPlan | None]:
    return (yield from migration.plan_migration(
        op.session, op.session.assistant(assistant_id), model_id, config, prompt_limit=limit))


def _measure_in(op: OpContext, version_id: VersionId
                ) -> Generator[Progress, None, dict[str, Any] | None]:
    return (yield from migration.measure(op.session, version_id))


class MigrateDialog(QDialog):
    """`switched(version_id)`: the assistant now talks through that version (maybe on another
    base): the window reloads its engine."""

    switched = Signal(str)
    launched = Signal(object, int)  # RunDir, pid: the move's run started (seen from every page)

    def __init__(self, session: Session, assistant: Assistant, parent: QWidget | None = None,
                 *, config: TrainConfig | None = None, prompt_limit: int | None = None) -> None:
        super().__init__(parent)
        self.session, self.assistant = session, assistant
        self.config, self.prompt_limit = config, prompt_limit
        self.plan: migration.MigrationPlan | None = None
        self.run: RunDir | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.follower: RunFollower | None = None
        self.task: Task | None = None
        self.consent: ConsentDialog | None = None
        self.old_version: VersionId | None = assistant.active_version
        self.new_version: VersionId | None = None
        self.card: dict[str, Any] | None = None
        self.rate = RateEstimate("working it out")  # time left, from the measured rate
        self.setWindowTitle("Move to another model")
        self.setMinimumSize(640, 520)

        current = session.model_for(assistant)
        intro = QLabel(f"{assistant.name} answers with {current.name}. Moving re-learns "
                       "everything it learned on another model: your taught items are replayed "
                       "and the current version teaches the new one by example. You see the "
                       "result side by side before anything changes, and you can go back.")
        intro.setWordWrap(True)
        self.models = QComboBox()
        for model in list_models(session.store):
            if model.sha256 != current.sha256:
                self.models.addItem(f"{model.name} ({model.architecture})", model.id)
        self.plan_button = QPushButton("Make a plan")
        self.plan_button.clicked.connect(self.make_plan)
        self.plan_button.setEnabled(self.models.count() > 0)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Move to:"))
        pick.addWidget(self.models, 1)
        pick.addWidget(self.plan_button)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.hide()
        self.status = QLabel("" if self.models.count() else
                             "Add another model first (⋯ → Add a model…).")
        self.status.setWordWrap(True)
        self.error = error_label()
        self.details = QVBoxLayout()
        body = QWidget()
        body.setLayout(self.details)
        self.move_button = QPushButton("Move…")
        self.move_button.clicked.connect(self.ask_move)
        self.resume_button = QPushButton("Resume the move…")
        self.resume_button.clicked.connect(self.ask_resume)
        self.try_button = QPushButton("Try both side by side…")
        self.try_button.setToolTip("Your next messages are answered by both versions, each on "
                                   "its own model, unnamed; you pick the better answer.")
        self.try_button.clicked.connect(self.try_both)
        self.switch_button = QPushButton("Use the new version…")
        self.switch_button.clicked.connect(lambda: self.ask_switch(self.new_version))
        self.back_button = QPushButton("Go back to the old version…")
        self.back_button.clicked.connect(lambda: self.ask_switch(self.old_version))
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.resume_button, self.move_button, self.try_button,
                       self.switch_button, self.back_button):
            button.hide()
            buttons.addWidget(button)
        buttons.addWidget(close)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(pick)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addWidget(scrolled(body), 1)
        layout.addLayout(buttons)
        unfinished = migration.resumable(session, assistant)
        if unfinished is not None:  # a killed or stopped move goes on before any other
            self.plan_button.setEnabled(False)
            self._say(f"An earlier move is unfinished: {runner.describe_run(unfinished)}. "
                      "Resume it to go on; its checkpoint is kept.")
            self.resume_button.show()
        moving = [r for r in runner.running_runs(session, assistant.id)
                  if r.plan().get("migration")]
        waiting = migration.pending(session.store, assistant)
        card = migration.get_card(session.store, waiting.id) if waiting else None
        if moving:  # opened again while its move runs: it follows that run, not a new plan
            self._follow(moving[0], int(moving[0].state().get("pid") or 0))
        elif waiting is not None and card is not None:  # a move made earlier, not decided yet
            self.new_version = waiting.id
            self._measured(card)
        elif waiting is not None:  # its run ended while this dialog was closed: measure now
            self.new_version = waiting.id
            self.plan_button.setEnabled(False)
            self.progress.show()
            self.measure()

    # -- plan ------------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _fail(self, message: str) -> None:
        self.progress.hide()
        self.error.setText(message)
        self.error.show()
        self.plan_button.setEnabled(True)

    def _progress(self, event: Any) -> None:
        if isinstance(event, Progress):
            self.progress.setValue(round(100 * event.fraction))
            seconds = self.rate.seconds_left(event.fraction)
            self._say(event.message + ("" if seconds is None else
                                       f" · about {estimate.human(seconds)} left"))

    def make_plan(self) -> None:
        model_id = str(self.models.currentData())
        self.error.hide()
        self.plan_button.setEnabled(False)
        self.progress.show()
        self._say("Asking the current version the questions it will teach the new one…")
        self.rate = RateEstimate("working it out")
        home, aid = self.session.home.root, self.assistant.id
        self.task = run_op(home, lambda op: _plan_in(op, aid, model_id, self.config,
                                                     self.prompt_limit),
                           on_done=self._planned, on_error=self._fail,
                           on_progress=self._progress, parent=self)

    def _planned(self, plan: migration.MigrationPlan) -> None:
        self.plan = plan
        self.progress.hide()
        self._say(plan.summary())
        self.move_button.show()

    # -- consent and the run -----------------------------------------------------------------------

    def _open(self, dialog: ConsentDialog) -> None:
        self.consent = dialog

    def _said(self, text: str, error: bool) -> None:
        if error:
            self._fail(text)
        else:
            self._say(text)

    def ask_move(self) -> None:
        if self.plan is None:
            return
        plan = self.plan
        request = migration.request_migration(self.session.store, plan)
        dialog = ConsentDialog(
            self.session.store, request, parent=self,
            changes=f"A new version is learned on {plan.to_model.name} (a candidate: your chats "
                    "do not change until you choose to use it).",
            kept=f"{versions.name_of(self.session.store, plan.source)} and "
                 f"{plan.from_model.name} stay archived; you "
                 "can go back at any time.")
        self._open(ask(dialog, self._said, refused="Refused and recorded. Nothing was moved.",
                       granted=lambda decision: self._start_move(plan, decision)))

    def _start_move(self, plan: migration.MigrationPlan, decision: Decision) -> None:
        try:
            self.run = migration.start_migration(self.session, plan, decision)
        except KindredError as exc:
            self._fail(f"The move could not start: {exc}")
            return
        self._launch(decision, resume=False)

    def ask_resume(self) -> None:
        """Ask (kind `migrate`, as for the move itself) to resume the unfinished move."""
        run = migration.resumable(self.session, self.assistant)
        if run is None:
            return
        try:
            request = runner.request_resume(self.session.store, run)
        except KindredError as exc:
            self._fail(str(exc))
            return
        dialog = ConsentDialog(
            self.session.store, request, parent=self,
            changes=f"It continues {runner.describe_run(run)}; then the migration card compares "
                    "the old and new versions (a candidate: your chats do not change until you "
                    "choose to use it).",
            kept="Everything; the version you talk to now stays active.")
        self._open(ask(dialog, self._said, refused="Refused and recorded. The move stays "
                       "stopped; its checkpoint is kept.",
                       granted=lambda decision: self._resume(run, decision)))

    def _resume(self, run: RunDir, decision: Decision) -> None:
        self.run = run
        self.resume_button.hide()
        self._launch(decision, resume=True)

    def _launch(self, decision: Decision, *, resume: bool) -> None:
        """Start the training process of `self.run` in its own session and follow it."""
        assert self.run is not None
        try:
            self.process = runner.launch(self.run, decision, resume=resume, attached=False)
        except (KindredError, OSError) as exc:
            self._fail(f"The move could not start: {exc}")
            return
        self._follow(self.run, self.process.pid, self.process)
        self.launched.emit(self.run, self.process.pid)

    def _follow(self, run: RunDir, pid: int,
                process: subprocess.Popen[bytes] | None = None) -> None:
        """Follow the move's run as it learns (its events so far are replayed first)."""
        self.run = run
        self.plan_button.setEnabled(False)
        self.move_button.hide()
        self.models.setEnabled(False)
        self.progress.setValue(0)
        self.progress.show()
        self._say("Learning on the new model…")
        self.follower = RunFollower(run, pid, self, process=process)
        self.follower.progressed.connect(self._run_event)
        self.follower.lost.connect(self._fail)
        self.follower.start()

    def _run_event(self, event: dict[str, Any], replayed: bool) -> None:
        kind = event.get("event")
        if kind == TrainingEvent.STEP:
            total = int(event.get("total_steps") or 1)
            self.progress.setValue(round(100 * int(event.get("step", 0)) / total))
            self._say(f"Learning on the new model: step {event.get('step')} of {total}.")
        elif kind == TrainingEvent.QUALITY:
            self._say(f"Measuring its quality: {event.get('message', '')}")
        elif kind == TrainingEvent.DONE:
            self.new_version = VersionId(str(event["version"]))
            self._stop_following()
            self.measure()
        elif kind in (TrainingEvent.ERROR, TrainingEvent.STOPPED):
            self._stop_following()
            self._fail(str(event.get("message") or "The move stopped; its checkpoint is "
                           "kept and it can be resumed."))
            self.resume_button.setVisible(
                migration.resumable(self.session, self.assistant) is not None)

    def _stop_following(self) -> None:
        if self.follower is not None:
            self.follower.stop()

    def measure(self) -> None:
        if self.new_version is None:
            return
        self.progress.setValue(0)
        self._say("Comparing the old and new versions on questions neither was taught…")
        self.rate = RateEstimate("comparing")
        home, version = self.session.home.root, self.new_version
        self.task = run_op(home, lambda op: _measure_in(op, version), on_done=self._measured,
                           on_error=self._fail, on_progress=self._progress, parent=self)

    def _measured(self, card: dict[str, Any]) -> None:
        self.card = card
        self.progress.hide()
        self._say("The migration card: what the new version kept. Read the answers, then "
                  "decide.")
        self.card_lines = QLabel()
        self.card_lines.setWordWrap(True)
        self.card_lines.setObjectName("migrationCard")
        self.details.addWidget(self.card_lines)
        self.side_by_side = SideBySide(card.get("samples", []), ("Old version", "New version"),
                                       ("old", "new"))
        self.details.addWidget(self.side_by_side)
        self.switch_button.show()
        self.refresh()

    def refresh(self) -> None:
        """The card as it stands (a trial's tally joins it as the person picks); "Try both"
        while no trial is open."""
        from kindred.core.upgrades import trial

        if self.card is None or self.new_version is None:
            return
        self.card = migration.get_card(self.session.store, self.new_version) or self.card
        self.card_lines.setText("\n".join(f"• {line}" for line in self.card.get("summary", [])))
        self.try_button.setVisible(trial.current(self.session.store, self.assistant.id) is None
                                   and self.switch_button.isVisibleTo(self))

    def try_both(self) -> None:
        """A blind side-by-side trial, old against new, each on its own base: the tally
        joins the migration card (and the switch's consent)."""
        if self.new_version is None:
            return
        from kindred.core.upgrades import trial

        try:
            started = trial.start(self.session.store, self.assistant.id, self.new_version)
        except KindredError as exc:
            self._fail(str(exc))
            return
        self.try_button.hide()
        self._say(f"Trial started: your next {started.prompts} messages in the chat are "
                  "answered by both versions, unnamed; pick the better answer each time. The "
                  "tally then appears on this card (Move to another model…).")

    # -- switching and going back ---------------------------------------------------------------

    def ask_switch(self, version_id: VersionId | None) -> None:
        if not version_id:
            return
        store = self.session.store
        version = versions.get_version(store, version_id)
        try:
            kind, summary, evidence = versions.describe_activation(store, version)
        except KindredError as exc:
            self._fail(str(exc))
            return
        summary, evidence = migration.add_trial_to_consent(store, version, summary, evidence)
        dialog = ConsentDialog.ask(
            store, kind, version.assistant_id, version.id, summary, evidence, parent=self,
            changes="The assistant answers with this version, on its own base model.",
            kept="Every version and both models stay archived; switching back works the same "
                 "way.")
        self._open(open_for_version(dialog, self._said,
                                    lambda outcome: self._switched(version.id, outcome)))

    def _switched(self, version_id: VersionId, outcome: Outcome) -> None:
        if not outcome.granted:
            return
        self.assistant = get_assistant(self.session.store, self.assistant.id)
        model = self.session.model_for(self.assistant)
        self._say(f"{self.assistant.name} now answers with this version on {model.name}.")
        on_new = version_id == self.new_version
        self.switch_button.setVisible(not on_new)
        self.back_button.setVisible(on_new)
        self.refresh()
        self.switched.emit(version_id)

    def done(self, result: int) -> None:
        self._stop_following()
        if self.task is not None:
            self.task.cancel()
        super().done(result)
