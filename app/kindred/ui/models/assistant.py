"""Create an assistant, or edit one's persona and sampling settings."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from kindred.core.basics.errors import KindredError
from kindred.core.basics.sampling import Sampling
from kindred.core.home.assistants import (
    DEFAULT_PERSONA,
    Assistant,
    create_assistant,
    update_assistant,
)
from kindred.core.home.models import list_models
from kindred.core.session import Session
from kindred.ui.kit.widgets import error_label
from kindred.ui.models.add_model import AddModelDialog


def _spin(low: float, high: float, step: float, decimals: int, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setToolTip(tip)
    return box


class AssistantDialog(QDialog):
    """`assistant=None` creates a new assistant; otherwise edits that one."""

    saved = Signal(object)  # Assistant

    def __init__(self, session: Session, assistant: Assistant | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.assistant = assistant
        self.setWindowTitle("New assistant" if assistant is None
                            else f"{assistant.name} — settings")
        self.setMinimumWidth(560)

        self.name = QLineEdit(assistant.name if assistant else "")
        self.name.setPlaceholderText("e.g. Writing coach")
        self.model = QComboBox()
        self.add_model_button = QPushButton("Add model…")
        self.add_model_button.clicked.connect(self._add_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.add_model_button)
        self._fill_models(assistant.model_id if assistant else None)
        if assistant is not None:
            # Moving an assistant to another base model is a migration, done elsewhere.
            self.model.setEnabled(False)
            self.add_model_button.hide()
        self.persona = QPlainTextEdit(assistant.persona if assistant else DEFAULT_PERSONA)
        self.persona.setPlaceholderText("How the assistant should behave (the system prompt)")
        self.persona.setMinimumHeight(110)

        self.temperature = _spin(0, 5, 0.05, 2, "Higher is more varied, lower more focused.")
        self.top_p = _spin(0.01, 1, 0.01, 2, "Only sample from the most likely words "
                                             "covering this share of probability.")
        self.top_k = QSpinBox()
        self.top_k.setRange(0, 1000)
        self.top_k.setToolTip("Only sample from this many most likely words (0: no limit).")
        self.repeat_penalty = _spin(0.5, 3, 0.05, 2, "Above 1 discourages repeating itself.")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(1, 32768)
        self.max_tokens.setToolTip("The longest answer, in tokens.")
        self._set_sampling(assistant.sampling if assistant else Sampling())
        reset = QPushButton("Reset to defaults")
        reset.clicked.connect(lambda: self._set_sampling(Sampling()))

        sampling = QGroupBox("Sampling")
        grid = QFormLayout(sampling)
        grid.addRow("Temperature", self.temperature)
        grid.addRow("Top P", self.top_p)
        grid.addRow("Top K", self.top_k)
        grid.addRow("Repeat penalty", self.repeat_penalty)
        grid.addRow("Max answer length", self.max_tokens)
        grid.addRow("", reset)

        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Base model", model_row)
        form.addRow("Persona", self.persona)

        self.error = error_label()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        if assistant is None:
            buttons.button(QDialogButtonBox.StandardButton.Save).setText("Create")
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addWidget(sampling)
        layout.addWidget(self.error)
        layout.addWidget(buttons)

    def _fill_models(self, current: str | None) -> None:
        self.model.clear()
        for m in list_models(self.session.store):
            label = f"{m.name}  ·  {m.architecture}  ·  {m.size_bytes / 1e6:,.0f} MB"
            self.model.addItem(label, m.id)
        if current:
            self.model.setCurrentIndex(max(self.model.findData(current), 0))

    def _add_model(self) -> None:
        dialog = AddModelDialog(self.session.home.root, self)
        dialog.model_added.connect(lambda m: self._fill_models(m.id))
        dialog.open()

    def _set_sampling(self, s: Sampling) -> None:
        self.temperature.setValue(s.temperature)
        self.top_p.setValue(s.top_p)
        self.top_k.setValue(s.top_k)
        self.repeat_penalty.setValue(s.repeat_penalty)
        self.max_tokens.setValue(s.max_tokens)

    def sampling(self) -> Sampling:
        return Sampling(self.temperature.value(), self.top_p.value(), self.top_k.value(),
                        self.repeat_penalty.value(), self.max_tokens.value())

    def save(self) -> None:
        """Write through the core; on a bad value, say so and keep the dialog open."""
        store = self.session.store
        try:
            if self.assistant is None:
                result = create_assistant(store, self.name.text(),
                                          model_id=self.model.currentData(),
                                          persona=self.persona.toPlainText(),
                                          sampling=self.sampling())
            else:
                result = update_assistant(store, self.assistant.id, name=self.name.text(),
                                          persona=self.persona.toPlainText(),
                                          sampling=self.sampling())
        except KindredError as exc:
            self.error.setText(f"{exc} Nothing was saved.")
            self.error.show()
            return
        self.assistant = result
        self.saved.emit(result)
        self.accept()

