"""The rollout bar: a slim bar above the chat while a rollout is open: where it stands
("Version 3 50 % + Version 4 50 % · step 2 of 4 · next step in 7 answers") and Pause / Resume,
Next step now (asks consent, with the trial's tally), Roll back (one click and a
confirmation; recorded as the person's decision) and Trial. Shortcuts: Ctrl+Alt+P
pause/resume, Ctrl+Alt+N next step, Ctrl+Alt+B roll back, Ctrl+Alt+T trial. While a trial's
round waits for the person's pick, the bar names no version (`set_blind`).

The rest of gradual replacement in the window: `trial_panel` (the round waiting for a pick),
`interviews` (retirement interviews in the background), and the phase-in choice at a
candidate's review (`ui/training/phase_in`). What the chat answers with is the core's
(`archive.assistant_state.speaks_through`, `upgrades.trial_turn`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import RolloutState
from kindred.core.home.store import Store
from kindred.core.session import Session
from kindred.core.upgrades import rollout, trial
from kindred.core.upgrades.decisions import Outcome
from kindred.core.upgrades.rollout import Rollout
from kindred.ui.consent import flow
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.kit.widgets import destructive_box


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
        self.blind = False  # a trial round waits for the pick: no version named
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
        # the words on a line of their own, the controls under them: at 900 px the four
        # buttons beside the text squeezed it into a column five lines tall
        column = QVBoxLayout(self)
        column.setContentsMargins(14, 6, 10, 6)
        column.setSpacing(4)
        column.addWidget(self.label)
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.progress, 0, Qt.AlignmentFlag.AlignVCenter)
        row.addStretch(1)
        for button in (self.trial_button, self.pause_button, self.next_button,
                       self.back_button):
            row.addWidget(button)
        column.addLayout(row)
        self.refresh()

    @property
    def store(self) -> Store:
        return self.session.store

    def set_assistant(self, assistant_id: AssistantId) -> None:
        self.assistant_id = assistant_id
        self.refresh()

    def set_blind(self, blind: bool) -> None:
        """A trial round waits for the pick (True): the blend is not named until it is made."""
        if blind != self.blind:
            self.blind = blind
            self.refresh()

    def current(self) -> Rollout | None:
        return rollout.current(self.store, self.assistant_id)

    def refresh(self) -> None:
        """Show the open rollout, or hide."""
        current = self.current()
        self.setVisible(current is not None)
        if current is None:
            return
        text = rollout.progress_text(self.store, current)
        if self.blind:  # the blend comes first, then " · step 2 of 4 · …" (no "·" in a blend)
            text = " · ".join(["Blend hidden until you pick", *text.split(" · ")[1:]])
        self.label.setText(text)
        self.progress.setRange(0, current.steps)
        self.progress.setValue(current.step)
        halted = current.state in (RolloutState.PAUSED, RolloutState.STOPPED)
        self.pause_button.setText("Resume" if halted else "Pause")
        self.pause_button.setToolTip("Continue the agreed plan (Ctrl+Alt+P)" if halted else
                                     "Keep the current blend; stop advancing (Ctrl+Alt+P)")
        self.next_button.setEnabled(current.state != RolloutState.STOPPED)
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
            if current.state in (RolloutState.PAUSED, RolloutState.STOPPED):
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
        self._keep(flow.open_for_version(dialog, self._say, self._stepped))

    def _say(self, text: str, error: bool) -> None:
        if error:  # the state moved on since the dialog opened: show where it stands now
            self.refresh()
            self.changed.emit()
        self.message.emit(text, error)

    def _stepped(self, outcome: Outcome) -> None:
        if not outcome.granted:
            return
        self.refresh()
        self.changed.emit()
        finished = rollout.latest(self.store, self.assistant_id)
        if (finished is not None and finished.state == RolloutState.FINISHED
                and finished.from_version):
            self.retired.emit(finished.from_version)

    def _after(self, changed: Rollout, what: str) -> None:
        if changed.state == RolloutState.FINISHED:
            named = versions.names(self.store, self.assistant_id)
            self._done(f"Rollout finished: {named.get(changed.to_version)} alone answers now.")
            if changed.from_version:
                self.retired.emit(changed.from_version)
            return
        self.refresh()  # the bar's words: no names while a trial round waits for the pick
        self._done(f"{what}: {self.label.text()}")

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
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self._keep(dialog)
        if hasattr(dialog, "open"):
            dialog.open()

    def _keep(self, dialog: QWidget) -> None:
        """One dialog at a time: the bar's buttons do nothing while it is open."""
        self.dialog = dialog
        dialog.destroyed.connect(lambda: setattr(self, "dialog", None))
