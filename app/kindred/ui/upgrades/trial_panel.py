"""The side-by-side trial's panel: the round waiting for the person's pick, the two answers side
by side, unnamed, in random order; the names are revealed after the choice, with the tally."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, QSize, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import ConversationId
from kindred.core.session import Session
from kindred.core.upgrades import trial
from kindred.ui.kit.widgets import SideBySide


class AnswersArea(QScrollArea):
    """The round's two answers: as tall as they are, up to a share of the window, then they
    scroll (long answers were cut off with no way to read the rest, or hid the chat)."""

    SHARE = 0.4

    def __init__(self, body: QWidget) -> None:
        super().__init__()
        self.watched: QWidget | None = None
        self.hinted = QSize()  # the size hint the layout was last told of
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setWidget(body)
        body.installEventFilter(self)  # its answers reflow as the width changes

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.watched is not self.window():  # its share follows the window's height
            self.watched = self.window()
            self.watched.installEventFilter(self)
        self.hinted = self.sizeHint()
        self.updateGeometry()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # the window's resizes and the answers' own relayouts, and only when the height
        # wanted changes: answering the window's every LayoutRequest asked for another one,
        # a layout loop that kept the GUI thread at 100 % from the first trial on
        kinds = (QEvent.Type.Resize,) if watched is self.watched else \
            (QEvent.Type.LayoutRequest, QEvent.Type.Resize)
        if event.type() in kinds and self.sizeHint() != self.hinted:
            self.hinted = self.sizeHint()
            self.updateGeometry()
        return False

    def sizeHint(self) -> QSize:
        body = self.widget()
        wanted = body.sizeHint().height() if body is not None else 0
        room = int(self.window().height() * self.SHARE) if self.window() is not self else wanted
        return QSize(super().sizeHint().width(), max(min(wanted, room), 40))

    def minimumSizeHint(self) -> QSize:
        return QSize(super().minimumSizeHint().width(), 40)


class TrialPanel(QFrame):
    """The round waiting for the person's pick: two unnamed answers, then the reveal."""

    picked = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.round: trial.Round | None = None  # the round waiting for the pick
        self.conversation_id: ConversationId | None = None  # whose round the panel shows
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
        self.conversation_id = round_.conversation_id
        first, second = trial.answers(self.session.store, round_)
        running = trial.get_trial(self.session.store, round_.trial_id)
        self.title.setText(f"Side-by-side trial: round {running.decided + 1} of "
                           f"{running.prompts}. Which answer is better? (names are hidden)")
        prompt = self._prompt(first)
        while self.body.count():
            item = self.body.takeAt(0)
            if item is not None and (widget := item.widget()) is not None:
                widget.deleteLater()
        self.body.addWidget(AnswersArea(SideBySide(
            [{"prompt": prompt, "first": first.content if first else "",
              "second": second.content if second else ""}],
            ("Answer 1", "Answer 2"), ("first", "second"))))
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
        self.title.setText(f"Side-by-side trial: round {running.decided} of {running.prompts}. "
                           "Your pick, and who wrote which:")
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
