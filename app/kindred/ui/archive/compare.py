"""Compare two versions (or a version and the bare base): their records, and their answers to
the same prompt side by side, generated greedily so the difference is the adapter's alone.

The answers come from a separate, short-lived engine on a pool thread, so the chat's engine and
its adapters are not disturbed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.archive.versions import Version
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.sampling import Sampling
from kindred.ui.kit.tasks import Task
from kindred.ui.kit.widgets import MarkdownView, fit_to_screen
from kindred.ui.ops.op import OpContext, run_op

DEFAULT_PROMPT = "In two sentences, what makes a good friend?"


@dataclass(frozen=True)
class Side:
    label: str
    version_id: VersionId | None  # None: the base model alone


def compare_answers(op: OpContext, assistant_id: AssistantId, sides: list[Side], prompt: str,
                    max_tokens: int = 160) -> list[str]:
    """One greedy answer per side from a fresh engine."""
    from kindred.core.archive import objects as archive
    from kindred.core.engine.llama import AdapterRef
    from kindred.core.home.assistants import get_assistant

    store = op.session.store
    assistant = get_assistant(store, assistant_id)
    refs = [[] if s.version_id is None else
            [AdapterRef(s.version_id, archive.verified_path(store, s.version_id))]
            for s in sides]
    messages = [{"role": "user", "content": prompt}]
    if assistant.persona.strip():
        messages.insert(0, {"role": "system", "content": assistant.persona.strip()})
    greedy = Sampling(temperature=0.0, top_p=1.0, top_k=1, repeat_penalty=1.1,
                      max_tokens=max_tokens)
    engine = op.engine_for(assistant, n_ctx=2048)
    answers = []
    for ref in refs:
        engine.set_adapters(ref)
        answers.append(engine.chat(messages, greedy).read())
    return answers


def _record(version: Version | None, names: dict[str, str]) -> list[str]:
    if version is None:
        return ["base model alone", "—", "—", "—", "—"]
    metrics = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in version.metrics.items()) or "—"
    parent = names.get(version.parent, version.parent[:12]) if version.parent else "—"
    created = datetime.fromtimestamp(version.created_at).strftime("%Y-%m-%d %H:%M")
    return [f"{names.get(version.id, version.short)} ({version.short})", created,
            f"{version.source}, {version.status}", parent, metrics]


ROWS = ("Version", "Created", "Source, status", "Parent", "Metrics")


class CompareDialog(QDialog):
    def __init__(self, home: Path, assistant_id: AssistantId, left: Version | None, right: Version,
                 parent: QWidget | None = None, *, names: dict[str, str] | None = None) -> None:
        super().__init__(parent)
        names = names or {}
        self.home = home
        self.assistant_id = assistant_id
        left_name = "Base model" if left is None else names.get(left.id, f"Version {left.short}")
        self.sides = [Side(left_name, None if left is None else left.id),
                      Side(names.get(right.id, f"Version {right.short}"), right.id)]
        self.task: Task | None = None
        self.answers: list[str] = []
        self.setWindowTitle("Compare versions")
        fit_to_screen(self, 900, 620)

        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        for col, side in enumerate(self.sides, start=1):
            head = QLabel(side.label)
            head.setObjectName("consentHeading")
            grid.addWidget(head, 0, col)
        for row, (name, a, b) in enumerate(zip(ROWS, _record(left, names), _record(right, names),
                                               strict=True), start=1):
            grid.addWidget(QLabel(f"<b>{name}</b>"), row, 0)
            for col, text in ((1, a), (2, b)):
                label = QLabel(text)
                label.setWordWrap(True)
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                grid.addWidget(label, row, col)

        self.prompt = QLineEdit(DEFAULT_PROMPT)
        self.prompt.returnPressed.connect(self.run)
        self.run_button = QPushButton("Compare answers")
        self.run_button.clicked.connect(self.run)
        ask = QHBoxLayout()
        ask.addWidget(QLabel("Prompt"))
        ask.addWidget(self.prompt, 1)
        ask.addWidget(self.run_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        self.progress.hide()
        self.status = QLabel("Both answers are generated greedily from the same prompt.")
        self.status.setObjectName("dialogStatus")
        self.status.setWordWrap(True)

        self.views = [MarkdownView(), MarkdownView()]
        answers = QHBoxLayout()
        for side, view in zip(self.sides, self.views, strict=True):
            column = QVBoxLayout()
            head = QLabel(side.label)
            head.setObjectName("consentHeading")
            column.addWidget(head)
            column.addWidget(view)
            column.addStretch(1)
            answers.addLayout(column, 1)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addLayout(grid)
        layout.addLayout(ask)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(answers, 1)

    def run(self) -> None:
        prompt = self.prompt.text().strip()
        if not prompt or self.task is not None:
            return
        self.run_button.setEnabled(False)
        self.progress.show()
        self.status.setProperty("error", False)
        self.status.setText("Generating both answers…")
        self.task = run_op(
            self.home, lambda op: compare_answers(op, self.assistant_id, self.sides, prompt),
            on_done=self._done, on_error=self._error, parent=self)

    def _done(self, answers: list[str]) -> None:
        self.task = None
        self.answers = answers
        for view, text in zip(self.views, answers, strict=True):
            view.set_markdown(text)
        self.progress.hide()
        self.run_button.setEnabled(True)
        self.status.setText("Same prompt, greedy decoding: the difference is the adapter's.")

    def _error(self, message: str) -> None:
        self.task = None
        self.progress.hide()
        self.run_button.setEnabled(True)
        self.status.setProperty("error", True)
        self.status.setText(message)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
