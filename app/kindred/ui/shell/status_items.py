"""The status bar's items: a busy bar and the engine's state on the left; the preparation of a
base, the base model, the adapter the assistant talks through and the last answer's speed on the
right. The main window keeps each under its own name (`window.adapter_label`...). While a
side-by-side trial's round waits for the person's pick, the adapter is not named (`set_blind`)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from kindred.core.upgrades.rollout import blend_label
from kindred.ui.training.preparation import Preparation, status_label


class StatusItems:
    """Builds the items onto `bar`; `show_adapters` names what the assistant talks through."""

    def __init__(self, bar: QStatusBar, preparation: Preparation) -> None:
        bar.setSizeGripEnabled(False)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setFixedSize(70, 6)
        self.state_label = QLabel("Loading model…")
        self.model_label = QLabel()
        self.adapter_label = QLabel()
        self.speed_label = QLabel("— tok/s")
        for label, tip in ((self.model_label, "The base model"),
                           (self.adapter_label, "The adapter version the assistant talks "
                                                "through (base: none)"),
                           (self.speed_label, "Speed of the last answer")):
            label.setObjectName("statusItem")
            label.setToolTip(tip)
        self.shown: tuple[dict[str, str], Sequence[tuple[str, float]]] = ({}, [])
        self.blind = False
        self.prepare_label = status_label(preparation)
        # a run's progress, or that it stopped by an error, whatever page is open; a click
        # opens Training (the window connects it)
        self.training_item = QPushButton()
        self.training_item.setObjectName("statusLink")
        self.training_item.setFlat(True)
        self.training_item.setCursor(Qt.CursorShape.PointingHandCursor)
        self.training_item.setToolTip("Open the Training page")
        self.training_item.hide()
        bar.addWidget(self.busy_bar)
        bar.addWidget(self.state_label)
        bar.addPermanentWidget(self.training_item)
        self.permanent = (self.prepare_label, self.model_label, self.adapter_label,
                          self.speed_label)
        for label in self.permanent:
            bar.addPermanentWidget(label)
        self.bar = bar
        bar.messageChanged.connect(self.fit_message)

    def fit_message(self, text: str) -> None:
        """A message (an import, an interview, a pick's result) is read whole: on a narrow
        window the base model's name steps aside while it shows (at 900 px the permanent items
        cut it), and its tip holds the whole text."""
        self.bar.setToolTip(text)
        if not text:
            self.model_label.show()
            return
        others = sum(w.sizeHint().width() + 8 for w in (self.training_item, *self.permanent)
                     if w.isVisible() and w is not self.model_label)
        room = self.bar.width() - others - 24
        self.model_label.setVisible(self.bar.fontMetrics().horizontalAdvance(text) <=
                                    room - self.model_label.sizeHint().width())

    def show_training(self, text: str, error: bool) -> None:
        self.training_item.setText(text)
        self.training_item.setProperty("error", error)
        self.training_item.style().unpolish(self.training_item)
        self.training_item.style().polish(self.training_item)
        self.training_item.setVisible(bool(text))

    def set_blind(self, blind: bool) -> None:
        """A trial round waits for the pick (True): no version is named until it is made."""
        self.blind = blind
        self.show_adapters(*self.shown)

    def show_adapters(self, named: dict[str, str],
                      adapters: Sequence[tuple[str, float]]) -> None:
        """Versions named as the History page does ("Version 2"), ids in the tip."""
        self.shown = (named, adapters)
        if self.blind:
            self.adapter_label.setText("Adapter: hidden until you pick")
            self.adapter_label.setToolTip("A side-by-side trial waits for your pick: which "
                                          "versions answer here shows once you have picked.")
            return
        text = blend_label(named, adapters) if adapters else "none"
        self.adapter_label.setText(f"Adapter: {text}")
        self.adapter_label.setToolTip("\n".join(f"{named.get(k, k[:12])}: id {k}, scale {s:g}"
                                                for k, s in adapters)
                                      or "No adapter: the base model answers as it came.")
