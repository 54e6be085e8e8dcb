"""Remove a model…: Kindred forgets a base model (the file is kept), with consent.

Pick a model: the dialog says at once whether it may be removed (the built-in model never; one an
assistant uses or an unfinished run trains on not yet) and, if so, which archived versions were
made for it. Remove… opens the consent dialog with that plan (nothing is pre-selected: the
person chooses); the core checks and uses the consent (`core.model_removal`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.core.basics.errors import KindredError
from kindred.core.home.consent import Decision
from kindred.core.home.models import Model, list_models
from kindred.core.session import Session
from kindred.core.upgrades import model_removal
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.kit.widgets import error_label


class RemoveModelDialog(QDialog):
    """`removed(Model)`: the model was unregistered (its file is kept)."""

    removed = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.plan: model_removal.RemovalPlan | None = None
        self.consent: ConsentDialog | None = None
        self.setWindowTitle("Remove a model")
        self.setMinimumWidth(560)
        intro = QLabel("Kindred forgets the model; the file stays where it is. Versions made "
                       "for it stay archived and work again when you add the same file back.")
        intro.setWordWrap(True)
        self.models = QComboBox()
        self.models.currentIndexChanged.connect(self._picked)
        self.about = QLabel()
        self.about.setObjectName("removalPlan")
        self.about.setWordWrap(True)
        self.about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = error_label()
        self.remove_button = QPushButton("Remove…")
        self.remove_button.clicked.connect(self.ask)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.models)
        layout.addWidget(self.about, 1)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        self.fill()

    def fill(self) -> None:
        """Every model but the built-in one, which is never removed."""
        self.models.clear()
        for model in list_models(self.session.store):
            if not model.embedded:
                self.models.addItem(f"{model.name} ({model.architecture}, "
                                    f"{model.size_bytes / 1e6:,.0f} MB)", model.id)
        if self.models.count() == 0:
            self.about.setText("Only the built-in model is registered; it cannot be removed.")
            self.remove_button.setEnabled(False)

    def _picked(self, index: int) -> None:
        self.plan = None
        self.error.hide()
        if index < 0:
            return
        try:
            self.plan = model_removal.plan_removal(self.session.store,
                                                   str(self.models.itemData(index)))
        except KindredError as exc:
            self.about.setText(str(exc))
            self.remove_button.setEnabled(False)
            return
        self.about.setText(self.plan.summary())
        self.remove_button.setEnabled(True)

    def ask(self) -> None:
        if self.plan is None:
            return
        plan = self.plan
        request = model_removal.request_removal(self.session.store, plan)
        kept = ("The model file itself, and every archived version made for it, with the "
                "model's name and sha256: they work again when you add the same file.")
        # a child, freed with this dialog (deleting it on close crashed when asked twice)
        self.consent = ConsentDialog(
            self.session.store, request, parent=self,
            changes=f"Kindred forgets {plan.model.name}: it is no longer offered for "
                    "assistants or moves, and its rebuildable training cache is freed.",
            kept=kept)
        self.consent.decided.connect(lambda decision: self._decided(plan, decision))
        self.consent.open()

    def _decided(self, plan: model_removal.RemovalPlan, decision: Decision) -> None:
        if not decision.granted:
            self.about.setText("Refused and recorded. Nothing was removed.")
            return
        try:
            model: Model = model_removal.remove_model(self.session.store, plan.model.id,
                                                      decision)
        except KindredError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        self.removed.emit(model)
        self.fill()
        self.about.setText(f"Removed {model.name} from Kindred's models; the file "
                           f"{model.path} is kept.")
