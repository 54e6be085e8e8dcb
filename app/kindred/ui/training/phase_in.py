"""How a reviewed candidate comes in: the phase-in choice ("Phase in" or "Switch now"), the
consent dialog's texts for each, the `rollout` request with side-by-side answers (computed on a
pool thread) and carrying out a granted one. Used by the candidate review; the open rollout is
then the rollout bar's (`ui/upgrades/rollout_bar`)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget

from kindred.core.archive import versions
from kindred.core.basics.ids import VersionId
from kindred.core.home.consent import ConsentRequest
from kindred.core.upgrades import rollout
from kindred.core.upgrades.rollout import Plan
from kindred.ui.ops.op import OpContext

DEFAULT_PLAN = Plan()


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
                "kept": (f"Everything. {now_name[0].upper()}{now_name[1:]} answers less and "
                         "less, then is retired: archived, interviewed about its time in use, "
                         "and restorable." if request.evidence.get("previous") else
                         "Everything. The base model answers less and less alone; it stays "
                         "under the new version, as under every version.")}
    return {"changes": f"{assistant_name} will answer through {new_name} instead of "
                       f"{now_name}, from the next message on.",
            "kept": (f"Everything. {now_name[0].upper()}{now_name[1:]} stays archived and can "
                     "be restored at any time from History." if request.evidence.get("previous")
                     else "Everything. The base model alone stays one step away (History: "
                     "Use base model).")}


def phase_in_job(op: OpContext, version_id: VersionId, plan: Plan = DEFAULT_PLAN) -> ConsentRequest:
    """The `rollout` request for a candidate, with side-by-side answers."""
    from kindred.core.home import consent
    from kindred.core.home.assistants import get_assistant
    from kindred.core.training.evidence import review_answers

    store = op.session.store
    version = versions.get_version(store, version_id)
    assistant = get_assistant(store, version.assistant_id)
    kind, summary, evidence = rollout.describe_start(store, version, plan)
    evidence["side_by_side"] = review_answers(store, op.engine_for(assistant), assistant,
                                              version.id)
    return consent.request(store, kind, assistant.id, version.id, summary, evidence)
