"""Gradual replacement in the window: the rollout bar, the side-by-side trial, the phase-in
choice, and retirement interviews run in the background.

- `RolloutBar`: a slim bar above the chat while a rollout is open: where it stands ("Version 3 ·
  50 % Version 4 · step 2 of 4 · next step in 7 answers") and Pause / Resume, Next step
  now (asks consent, with the trial's tally), Roll back (one click and a confirmation; recorded
  as the person's decision) and Trial. Shortcuts: Ctrl+Alt+P pause/resume, Ctrl+Alt+N next step,
  Ctrl+Alt+B roll back, Ctrl+Alt+T trial.
- `TrialPanel`: the round waiting for a pick: the two answers side by side, unnamed, in random
  order; the names are revealed after the choice, with the tally.
- `InterviewRunner`: holds a retiring version's interview on a pool thread (own engine and
  database connection) with progress in the status bar; the window never waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.archive import assistant_state, versions
from kindred.core.assistants import Assistant
from kindred.core.chat.engine import AdapterRef, GenerationStats
from kindred.core.consent import ConsentRequest, Decision
from kindred.core.errors import KindredError
from kindred.core.session import Session
from kindred.core.store import Store
from kindred.core.upgrades import retirement, rollout, trial
from kindred.core.upgrades.rollout import Plan, Rollout
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.kit.tasks import Task, run_task
from kindred.ui.kit.widgets import SideBySide, destructive_box

DEFAULT_PLAN = Plan()


def wanted_adapters(store: Store, assistant: Assistant) -> list[tuple[str, float]]:
    """What the assistant should be answering with now (the core's one answer to it)."""
    return assistant_state.speaks_through(store, assistant.id)


@dataclass
class TrialTurn:
    """One trial round being answered: which side goes first, and the answers so far."""

    running: trial.Trial
    first_is: str
    results: list[tuple[str, GenerationStats]] = field(default_factory=list)

    @classmethod
    def open_for(cls, store: Store, assistant_id: int) -> TrialTurn | None:
        running = trial.current(store, assistant_id)
        return cls(running, trial.shuffle()) if running is not None else None

    def side(self) -> str:
        """'a' or 'b': who answers next."""
        if not self.results:
            return self.first_is
        return "b" if self.first_is == "a" else "a"

    def next_refs(self, store: Store) -> list[AdapterRef]:
        side = self.side()
        return trial.side_refs(store, self.running.a_version if side == "a"
                               else self.running.b_version)

    def record(self, store: Store, conversation_id: int) -> trial.Round:
        return trial.record_round(store, self.running, conversation_id, self.first_is,
                                  self.results[0], self.results[1])


# -- the rollout bar -----------------------------------------------------------------------


class RolloutBar(QFrame):
    """Where the rollout stands, with its controls always at hand (hidden when none is open)."""

    changed = Signal()          # the blend or state changed: reload the engine, refresh views
    message = Signal(str, bool)  # text, is it an error
    retired = Signal(str)       # a version stopped being used (the rollout finished)
    trial_started = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.assistant_id = session.assistant().id
        self.dialog: QWidget | None = None
        self.setObjectName("rolloutBar")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.label = QLabel()
        self.label.setObjectName("rolloutText")
        self.label.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("rolloutProgress")
        self.progress.setTextVisible(False)
        self.progress.setFixedSize(90, 6)
        self.pause_button = QPushButton("Pause")
        self.next_button = QPushButton("Next step now")
        self.back_button = QPushButton("Roll back")
        self.trial_button = QPushButton("Trial")
        tips = {self.pause_button: "Keep the current blend; stop advancing (Ctrl+Alt+P)",
                self.next_button: "Take the next step now, beyond the agreed pace "
                                  "(asks your consent; Ctrl+Alt+N)",
                self.back_button: "Back to the outgoing version alone, at once (Ctrl+Alt+B)",
                self.trial_button: "Both versions answer your next prompts, unnamed; you pick "
                                   "(Ctrl+Alt+T)"}
        for button, tip in tips.items():
            button.setObjectName("rolloutButton")
            button.setToolTip(tip)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.next_button.clicked.connect(self.next_step)
        self.back_button.clicked.connect(self.roll_back)
        self.trial_button.clicked.connect(self.start_trial)
        row = QHBoxLayout(self)
        row.setContentsMargins(14, 6, 10, 6)
        row.setSpacing(8)
        row.addWidget(self.progress, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.label, 1)
        for button in (self.trial_button, self.pause_button, self.next_button,
                       self.back_button):
            row.addWidget(button)
        self.refresh()

    @property
    def store(self) -> Store:
        return self.session.store

    def set_assistant(self, assistant_id: int) -> None:
        self.assistant_id = assistant_id
        self.refresh()

    def current(self) -> Rollout | None:
        return rollout.current(self.store, self.assistant_id)

    def refresh(self) -> None:
        """Show the open rollout, or hide."""
        current = self.current()
        self.setVisible(current is not None)
        if current is None:
            return
        self.label.setText(rollout.progress_text(self.store, current))
        self.progress.setRange(0, current.steps)
        self.progress.setValue(current.step)
        self.pause_button.setText("Resume" if current.state in ("paused", "stopped")
                                  else "Pause")
        self.pause_button.setToolTip("Continue the agreed plan (Ctrl+Alt+P)"
                                     if current.state in ("paused", "stopped") else
                                     "Keep the current blend; stop advancing (Ctrl+Alt+P)")
        self.next_button.setEnabled(current.state != "stopped")
        self.trial_button.setEnabled(trial.current(self.store, self.assistant_id) is None)
        self.setProperty("state", current.state)
        self.style().unpolish(self)
        self.style().polish(self)

    def _done(self, text: str) -> None:
        self.refresh()
        self.changed.emit()
        self.message.emit(text, False)

    def toggle_pause(self) -> None:
        current = self.current()
        if current is None:
            return
        try:
            if current.state in ("paused", "stopped"):
                resumed = rollout.resume(self.store, self.assistant_id, via="gui")
                stepped = rollout.advance_if_due(self.store, self.assistant_id)
                self._after(stepped or resumed, "Resumed")
            else:
                rollout.pause(self.store, self.assistant_id, via="gui")
                self._done("Paused: the blend stays as it is until you resume.")
        except KindredError as exc:
            self.refresh()
            self.message.emit(str(exc), True)

    def next_step(self) -> None:
        if self.current() is None or self.dialog is not None:
            return
        try:
            kind, summary, evidence = rollout.describe_next_step(self.store, self.assistant_id)
            dialog = ConsentDialog.ask(
                self.store, kind, self.assistant_id, evidence["version"], summary, evidence,
                changes=summary,
                kept="Every version stays archived; you can still pause or roll back.",
                parent=self.window())
        except KindredError as exc:
            self.message.emit(str(exc), True)
            return
        dialog.decided.connect(self._step_decided)
        self._show(dialog)

    def _step_decided(self, decision: Decision) -> None:
        if not decision.granted:
            self.message.emit("Not taken: the rollout goes on at its pace.", False)
            return
        try:
            moved = rollout.next_step(self.store, self.assistant_id, decision)
        except KindredError as exc:
            self.refresh()
            self.changed.emit()
            self.message.emit(str(exc), True)
            return
        self._after(moved, "Next step taken")

    def _after(self, changed: Rollout, what: str) -> None:
        if changed.state == "finished":
            named = versions.names(self.store, self.assistant_id)
            self._done(f"Rollout finished: {named.get(changed.to_version)} alone answers now.")
            if changed.from_version:
                self.retired.emit(changed.from_version)
            return
        self._done(f"{what}: " + rollout.progress_text(self.store, changed))

    def roll_back(self) -> None:
        current = self.current()
        if current is None or self.dialog is not None:
            return
        named = versions.names(self.store, self.assistant_id)
        back_to = named.get(current.from_version or "", "the base model alone")
        box = destructive_box(
            self.window(), "Roll back?", f"Go back to {back_to} now?",
            f"{named.get(current.to_version)} stops answering at once and stays archived; you "
            "can phase it in again later. This is recorded as your decision.", "Roll back",
            lambda: self._rolled(back_to))
        self._show(box)

    def _rolled(self, back_to: str) -> None:
        try:
            rollout.roll_back(self.store, self.assistant_id, via="gui")
        except KindredError as exc:
            self.message.emit(str(exc), True)
            return
        self._done(f"Rolled back: {back_to} answers alone again.")

    def start_trial(self) -> None:
        try:
            started = trial.start(self.store, self.assistant_id)
        except KindredError as exc:
            self.message.emit(str(exc), True)
            return
        self.refresh()
        self.trial_started.emit()
        self.message.emit(f"Trial: your next {started.prompts} messages get two answers, "
                          "unnamed and in random order; pick the better one.", False)

    def _show(self, dialog: QWidget) -> None:
        self.dialog = dialog
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda: setattr(self, "dialog", None))
        if hasattr(dialog, "open"):
            dialog.open()


# -- the trial panel -----------------------------------------------------------------------


class TrialPanel(QFrame):
    """The round waiting for the person's pick: two unnamed answers, then the reveal."""

    picked = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.round: trial.Round | None = None
        self.setObjectName("trialPanel")
        self.title = QLabel()
        self.title.setObjectName("consentHeading")
        self.body = QVBoxLayout()
        self.result = QLabel()
        self.result.setWordWrap(True)
        self.result.setObjectName("trialResult")
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.addStretch(1)
        for pick, text in (("first", "Answer 1 is better"), ("same", "About the same"),
                           ("second", "Answer 2 is better")):
            button = QPushButton(text)
            button.setObjectName("trialButton")
            button.clicked.connect(lambda _c=False, p=pick: self.pick(p))
            self.buttons[pick] = button
            row.addWidget(button)
        row.addStretch(1)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.hide)
        row.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.addWidget(self.title)
        layout.addLayout(self.body)
        layout.addWidget(self.result)
        layout.addLayout(row)
        self.hide()

    def show_round(self, round_: trial.Round) -> None:
        """Show a round's two answers, names hidden."""
        self.round = round_
        first, second = trial.answers(self.session.store, round_)
        running = trial.get_trial(self.session.store, round_.trial_id)
        self.title.setText(f"Side-by-side trial: round {running.decided + 1} of "
                           f"{running.prompts}. Which answer is better? (names are hidden)")
        prompt = self._prompt(first)
        while self.body.count():
            item = self.body.takeAt(0)
            if item is not None and (widget := item.widget()) is not None:
                widget.deleteLater()
        self.body.addWidget(SideBySide(
            [{"prompt": prompt, "first": first.content if first else "",
              "second": second.content if second else ""}],
            ("Answer 1", "Answer 2"), ("first", "second")))
        self.result.setText("")
        for button in self.buttons.values():
            button.setEnabled(True)
        self.close_button.setVisible(False)
        self.show()

    def _prompt(self, answer: Any) -> str:
        if answer is None:
            return ""
        row = self.session.store.db.execute(
            "SELECT content FROM messages WHERE conversation_id = ? AND role = 'user' AND "
            "id < ? ORDER BY id DESC LIMIT 1", [answer.conversation_id, answer.id]).fetchone()
        return str(row[0]) if row else ""

    def pick(self, choice: str) -> None:
        if self.round is None:
            return
        try:
            decided = trial.choose(self.session.store, self.round.id, choice)
        except KindredError as exc:
            self.result.setText(str(exc))
            return
        running = trial.get_trial(self.session.store, decided.trial_id)
        names = trial.labels(self.session.store, running)
        tally = trial.tally(self.session.store, running.assistant_id, running.a_version,
                            running.b_version)
        self.result.setText(
            f"Answer 1 was {names[decided.first_is]}, answer 2 was "
            f"{names[decided.version_of('second')]}. {names['b']} so far: {tally.text}."
            + ("" if running.open else " The trial is over; its tally is kept."))
        for button in self.buttons.values():
            button.setEnabled(False)
        self.close_button.setVisible(True)
        self.round = None
        self.picked.emit()


# -- phase in ------------------------------------------------------------------------------


def mode_box(parent: QWidget, name: str, on_choice: Callable[[str], object]) -> QMessageBox:
    """How a candidate comes in: "Phase in" (the default) or "Switch now"; `on_choice` gets
    'phase' or 'switch' (nothing on Cancel). Not shown: the caller opens it (no nested loop)."""
    steps = " → ".join(f"{p} %" for p in DEFAULT_PLAN.percents)
    box = QMessageBox(QMessageBox.Icon.Question, "How should it come in?",
                      f"How should {name} come in?", parent=parent)
    box.setInformativeText(
        f"Phase in (recommended): {steps}, one step {DEFAULT_PLAN.pace}; you can pause or "
        "roll back at any moment. Switch now: it answers everything from the next message on. "
        "Either way you see its answers and give your consent next.")
    phase = box.addButton("Phase in", QMessageBox.ButtonRole.AcceptRole)
    switch = box.addButton("Switch now", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(phase)
    box.setObjectName("modeBox")
    box.buttonClicked.connect(lambda button: on_choice("phase") if button is phase
                              else on_choice("switch") if button is switch else None)
    return box


def review_texts(request: ConsentRequest, assistant_name: str, new_name: str, now_name: str
                 ) -> dict[str, str]:
    """The candidate review dialog's "What will change" / "What is kept", per choice."""
    if request.kind == "rollout":
        plan = Plan(**request.evidence["plan"])
        steps = " → ".join(f"{p} %" for p in plan.percents)
        return {"changes": f"{new_name} comes in gradually beside {now_name}: {steps}, one "
                           f"step {plan.pace}. Every answer says the blend that wrote it. "
                           "Pause, take the next step now or roll back at any moment from the "
                           "bar above the chat.",
                "kept": f"Everything. {now_name[0].upper()}{now_name[1:]} answers less and "
                        "less, then is retired: archived, interviewed about its time in use, "
                        "and restorable."}
    return {"changes": f"{assistant_name} will answer through {new_name} instead of "
                       f"{now_name}, from the next message on.",
            "kept": f"Everything. {now_name[0].upper()}{now_name[1:]} stays archived and can "
                    "be restored at any time from History."}


def phase_in_job(home: Path, version_id: str, plan: Plan = DEFAULT_PLAN) -> ConsentRequest:
    """Pool thread: the `rollout` request for a candidate, with side-by-side answers."""
    from kindred.core import consent
    from kindred.core.assistants import get_assistant
    from kindred.core.chat.engine import Engine
    from kindred.core.session import open_session
    from kindred.core.training.evidence import GREEDY, review_prompts, side_by_side

    session = open_session(home)
    try:
        version = versions.get_version(session.store, version_id)
        assistant = get_assistant(session.store, version.assistant_id)
        kind, summary, evidence = rollout.describe_start(session.store, version, plan)
        engine = Engine(session.model_for(assistant).path)
        try:
            # never longer than the assistant's own answers may be
            sampling = replace(GREEDY, max_tokens=min(GREEDY.max_tokens,
                                                      assistant.sampling.max_tokens))
            evidence["side_by_side"] = side_by_side(
                engine, session.store, assistant, version.id,
                review_prompts(session.store, assistant.id), sampling)
        finally:
            engine.close()
        return consent.request(session.store, kind, assistant.id, version.id, summary,
                               evidence)
    finally:
        session.close()


def start_phase_in(store: Store, decision: Decision) -> Rollout:
    """Carry out a granted rollout decision with the plan it agreed to."""
    plan = Plan(**decision.request.evidence["plan"])
    return rollout.start(store, decision.request.subject, plan, decision)


# -- retirement interviews -----------------------------------------------------------------


def interview_job(home: Path, version_id: str) -> Any:
    """Pool thread, own session: hold the interview (yielding progress), then the report."""
    from kindred.core.session import open_session

    session = open_session(home)
    try:
        record = None
        for event in retirement.hold_interview(session, version_id):
            if isinstance(event, retirement.Record):
                record = event
            yield event
        retirement.report_for(session.store, version_id)
        yield record
    finally:
        session.close()


class InterviewRunner(QObject):
    """Interviews retiring versions one at a time in the background, with progress."""

    progress = Signal(str, float)  # message, fraction
    finished = Signal(str)         # version id
    failed = Signal(str)

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.queue: list[str] = []
        self.task: Task | None = None

    def hold(self, version_id: str) -> None:
        if version_id not in self.queue:
            self.queue.append(version_id)
        self._next()

    def catch_up(self, assistant_id: int) -> None:
        """Retired versions never interviewed (e.g. the app closed during one)."""
        for version_id in retirement.pending(self.session.store, assistant_id):
            self.hold(version_id)

    @property
    def busy(self) -> bool:
        return self.task is not None

    def stop(self) -> None:
        """At shutdown: the running interview stops before its next question (nothing is
        stored; `kindred versions interview` or the next retirement holds it again)."""
        self.queue.clear()
        if self.task is not None:
            self.task.cancel()

    def _next(self) -> None:
        if self.task is not None or not self.queue:
            return
        version_id = self.queue[0]
        home = self.session.home.root
        name = versions.name_of(self.session.store,
                                versions.get_version(self.session.store, version_id))

        def progress(event: Any) -> None:
            if isinstance(event, retirement.Progress):
                self.progress.emit(f"Interviewing {name} before it retires: {event.message}",
                                   event.fraction)

        self.task = run_task(lambda: interview_job(home, version_id), on_progress=progress,
                             on_done=lambda _r: self._ended(version_id, None),
                             on_error=lambda m: self._ended(version_id, m), background=True)

    def _ended(self, version_id: str, error: str | None) -> None:
        self.task = None
        if version_id in self.queue:
            self.queue.remove(version_id)
        if error is None:
            self.finished.emit(version_id)
        else:
            self.failed.emit(error)
        self._next()
