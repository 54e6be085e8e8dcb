"""Add a base model: pick a GGUF file; it is checked and hashed in the background."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.home.models import Model, add_model
from kindred.ui.kit.tasks import Task
from kindred.ui.ops.changes import Change
from kindred.ui.ops.op import OpContext, run_op


def _add_in_home(op: OpContext, path: str) -> Model:
    """In the background: hashing a big file is slow."""
    return add_model(op.session.store, path)


class AddModelDialog(QDialog):
    model_added = Signal(object)  # Model

    def __init__(self, home: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.home = home
        self.model: Model | None = None
        self.task: Task | None = None
        self.setWindowTitle("Add a model")
        self.setMinimumWidth(520)
        intro = QLabel("Choose a GGUF base model file (for example a quantized Llama, Qwen or "
                       "SmolLM). It is checked and registered where it is; nothing is copied.")
        intro.setWordWrap(True)
        self.path = QLineEdit()
        self.path.setPlaceholderText("/path/to/model.gguf")
        self.path.textChanged.connect(self._changed)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(6)
        self.progress.hide()
        self.status = QLabel()
        self.status.setObjectName("dialogStatus")
        self.status.setWordWrap(True)
        self.status.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button = self.buttons.addButton("Add model",
                                                 QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setEnabled(False)
        self.buttons.accepted.connect(self.start)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(intro)
        layout.addLayout(row)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

    def _browse(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", str(Path.home()),
                                              "GGUF models (*.gguf);;All files (*)")
        if name:
            self.path.setText(name)

    def _changed(self, text: str) -> None:
        self.add_button.setEnabled(bool(text.strip()) and self.task is None)
        self.status.hide()

    def start(self) -> None:
        """Check and register the file in the background."""
        text = self.path.text().strip()
        if not text or self.task is not None:
            return
        self._show("Checking the file… (large models take a while to hash)", error=False)
        self.progress.show()
        self.add_button.setEnabled(False)
        self.task = run_op(self.home, lambda op: _add_in_home(op, text), on_done=self._done,
                           on_error=self._error, changes=(Change.MODELS,), parent=self)

    def _done(self, model: Model) -> None:
        self.task = None
        self.model = model
        self.progress.hide()
        self.model_added.emit(model)
        self.accept()

    def _error(self, message: str) -> None:
        self.task = None
        self.progress.hide()
        self.add_button.setEnabled(True)
        self._show(f"{message}\nNo model was added.", error=True)

    def _show(self, text: str, *, error: bool) -> None:
        self.status.setText(text)
        self.status.setProperty("error", error)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.status.show()
        self.adjustSize()

    @property
    def error_text(self) -> str:
        """The message shown to the person, if it is an error (for tests)."""
        return self.status.text() if self.status.isVisible() and \
            self.status.property("error") else ""
