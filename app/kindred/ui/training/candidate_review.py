"""Reviewing a new candidate version: show, then ask.

The candidate's quality card (measured against the base before anyone is asked) and the current
and the candidate version's answers to prompts the training never saw (greedy, so the columns
differ only by what was learned), computed by the core's `request_activation` on a pool thread
with its own engine and database connection, go into the activation consent dialog; the decision
is carried out through the gated core functions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from kindred.core.archive import versions
from kindred.core.archive.cards import get_card
from kindred.core.basics.ids import VersionId
from kindred.core.home.assistants import get_assistant
from kindred.core.home.consent import ConsentRequest
from kindred.core.session import Session
from kindred.core.upgrades.decisions import Outcome
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.consent.flow import open_for_version
from kindred.ui.kit.tasks import Task
from kindred.ui.kit.widgets import SideBySide, fit_to_screen
from kindred.ui.learning.quality_card import QualityCard
from kindred.ui.ops.op import OpContext, run_op
from kindred.ui.training.phase_in import mode_box, phase_in_job, review_texts


def activation_job(op: OpContext, version_id: VersionId) -> ConsentRequest:
    """The activate request with side-by-side answers."""
    from kindred.core.training.evidence import request_activation

    version = versions.get_version(op.session.store, version_id)
    engine = op.engine_for(get_assistant(op.session.store, version.assistant_id))
    return request_activation(op.session.store, engine, version_id)


def shown(request: ConsentRequest, evidence: dict[str, Any]) -> ConsentRequest:
    """The request as the dialog shows it: readable evidence; the stored one keeps it all."""
    return dataclasses.replace(request, evidence=evidence)


def how_it_went(metrics: dict[str, Any]) -> str:
    """The loss before → after, on what it learned and on held-out examples (short: the dialog
    shows up to 80 characters per line)."""
    def change(start: str, end: str, where: str) -> str | None:
        old, new = metrics.get(start), metrics.get(end)
        if not isinstance(old, int | float) or not isinstance(new, int | float):
            return None
        return f"{old:.3g} → {new:.3g} {where}"
    parts = [p for p in (change("train_loss_start", "train_loss", "on what it learned"),
                         change("heldout_loss_start", "heldout_loss", "on unseen examples"))
             if p]
    if not parts:
        return "no before-and-after figures were recorded"
    return "loss " + ", ".join(parts)


class CandidateReviewer(QObject):
    """Review → answers computed in the background → consent dialog → activate or refuse."""

    said = Signal(str, bool)  # a message for the page, and whether it is an error
    activated = Signal(str)  # the version now active
    busy_changed = Signal(bool)

    def __init__(self, session: Session, host: QWidget) -> None:
        super().__init__(host)
        self.session = session
        self.host = host
        self.task: Task | None = None
        self.dialog: ConsentDialog | None = None
        self.side_by_side: SideBySide | None = None
        self.choice: QWidget | None = None  # Phase in or Switch now, asked first
        self.quality_card: QualityCard | None = None

    def review(self, version_id: VersionId) -> None:
        """First how it comes in (Phase in, the default, or Switch now), then the answers."""
        if self.task is not None or self.choice is not None:
            return
        name = versions.name_of(self.session.store,
                                versions.get_version(self.session.store, version_id))
        self.choice = mode_box(self.host, name, lambda mode: self._review(version_id, mode))
        self.choice.finished.connect(lambda _r: setattr(self, "choice", None))
        self.choice.open()

    def _review(self, version_id: VersionId, mode: str) -> None:
        self.busy_changed.emit(True)
        self.said.emit("Asking the current and the new version a few of your recent "
                       "questions…", False)
        home = self.session.home.root
        job = phase_in_job if mode == "phase" else activation_job
        self.task = run_op(home, lambda op: job(op, version_id), on_done=self._ask,
                           on_error=self._failed, parent=self.host)

    def _failed(self, message: str) -> None:
        self.task = None
        self.busy_changed.emit(False)
        self.said.emit(message, True)

    def _ask(self, request: ConsentRequest) -> None:
        self.task = None
        self.busy_changed.emit(False)
        store = self.session.store
        version = versions.get_version(store, request.subject)
        assistant = get_assistant(store, version.assistant_id)
        names = versions.names(store, assistant.id)
        current = versions.active_version(store, assistant.id)
        now_name = names.get(current.id, current.short) if current else "the base model"
        new_name = names.get(version.id, version.short)
        evidence = {k: v for k, v in request.evidence.items()
                    if k not in ("side_by_side", "metrics", "quality")}
        evidence["how_training_went"] = how_it_went(version.metrics)
        self.side_by_side = SideBySide(list(request.evidence.get("side_by_side") or []),
                                       (f"Now ({now_name})", f"Candidate ({new_name})"),
                                       ("current", "candidate"))
        shown_extra = QWidget()
        column = QVBoxLayout(shown_extra)
        column.setContentsMargins(0, 0, 0, 0)
        heading = QLabel("Quality, against the base model")
        heading.setObjectName("consentHeading")
        self.quality_card = QualityCard(get_card(store, version.id))
        answers = QLabel("Answers to requests it was never trained on")
        answers.setObjectName("consentHeading")
        for widget in (heading, self.quality_card, answers, self.side_by_side):
            column.addWidget(widget)
        dialog = ConsentDialog(
            store, shown(request, evidence),
            **review_texts(request, assistant.name, new_name, now_name),
            extra=shown_extra, parent=self.host)
        fit_to_screen(dialog, 900, 700)
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None)
                                if self.dialog is dialog else None)
        self.dialog = open_for_version(dialog, self.said.emit, self._decided)
        self.said.emit("Compare the answers, then decide.", False)

    def _decided(self, outcome: Outcome) -> None:
        if outcome.granted and outcome.version is not None:
            self.activated.emit(outcome.version.id)
