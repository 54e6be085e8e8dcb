"""What the Training page shows: what it will learn from (Train…, Continue…), the banner of a
candidate to review, and the progress card (status, progress bar, ETA, Pause and Stop, the live
loss chart). Laid out only: `TrainingView` connects the buttons and decides."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QWidget,
)

from kindred.ui.kit.charts import section
from kindred.ui.kit.icons import icon
from kindred.ui.kit.page import Page, banner, hint, status_line
from kindred.ui.training.training_widgets import LossChart


class TrainingPage(Page):
    """The page's widgets, each under the name the flows and tests use."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(
            "Training", "Your assistant learns from what you taught it, on this computer. You "
            "are asked before it starts, before it is stopped, and before a new version is used.",
            parent, bottom=12)

        data_card, data = section("What it will learn from")
        self.data_label = QLabel()
        self.data_label.setWordWrap(True)
        self.train_button = QPushButton(icon("check"), "Train…")
        self.continue_button = QPushButton("Continue where it stopped…")
        row = QHBoxLayout()
        row.addWidget(self.data_label, 1)
        row.addWidget(self.continue_button)
        row.addWidget(self.train_button)
        data.addLayout(row)

        self.banner, self.banner_label, self.review_button = banner("Review…")
        self.banner.hide()

        progress_card, progress = section("Progress")
        self.status = status_line("Not training.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        self.eta = hint()
        self.eta.setWordWrap(False)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Suspend the training process; nothing is lost")
        self.stop_button = QPushButton(icon("stop"), "Stop…")
        self.stop_button.setToolTip("Stop training (you are asked first; a checkpoint is kept)")
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.pause_button)
        bar.addWidget(self.stop_button)
        self.chart = LossChart()
        progress.addWidget(self.status)
        progress.addLayout(bar)
        progress.addWidget(self.eta)
        progress.addWidget(self.chart)

        column = self.add_scrolled_column()
        column.addWidget(self.banner)
        column.addWidget(data_card)
        column.addWidget(progress_card)
        column.addStretch(1)
