"""A consent request's evidence in a person's words, for the window's dialog and the CLI alike.

The evidence stored with a request is data for the record and for the core's checks (state
fingerprints, run ids, dataset hashes, training configs). A person deciding needs the part of
it that bears on the decision, in words: versions by name, times as durations, a plan as
sentences, figures with their meaning, nothing shown as `null`. What has no words of its own
goes to the technical details, so nothing is hidden, only set aside.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kindred.core.archive.catalog import names
from kindred.core.home.consent import ConsentRequest
from kindred.core.home.store import Store
from kindred.core.learning.dataset import describe_counts
from kindred.core.training.estimate import human
from kindred.core.upgrades.rollout import blend_label

TITLES = {
    "activate": "Switch to a new version?", "restore": "Restore an earlier version?",
    "retire": "Retire the active version?", "delete": "Delete a version's weights?",
    "train": "Start training?", "interrupt": "Interrupt training?",
    "rollout": "Start a gradual replacement?", "migrate": "Move to a new base model?",
    "remove_model": "Remove a model from Kindred?",
}
NEXT_STEP_TITLE = "Take the next step now?"
RESUME_TITLE = "Continue training?"

SOURCES = {"trained": "trained here from what you taught", "imported": "imported from a file",
           "migrated": "re-learned on another base model"}
METRICS = {"loss": "training loss", "heldout_loss": "held-out loss (lower is better)",
           "train_loss": "training loss", "eval_loss": "held-out loss (lower is better)"}
UNTOLD = frozenset({"state", "action", "interviews", "version_names"})
"""Kept for the record and the core's checks, never shown: the interviews have links of their
own, `version_names` is said with `versions`."""


@dataclass(frozen=True)
class Words:
    title: str
    lines: list[tuple[str, str]]  # (label, plain text), in a sensible order
    technical: list[tuple[str, Any]] = field(default_factory=list)  # (key, raw value)


def in_words(store: Store, request: ConsentRequest) -> Words:
    """The request's title and evidence as lines a person reads; the rest as technical."""
    evidence = request.evidence
    named = names(store, request.assistant_id)
    lines: list[tuple[str, str]] = []
    technical: list[tuple[str, Any]] = []
    sayers = _sayers(named, evidence)
    for key in sorted(evidence, key=lambda k: (ORDER.get(k, len(ORDER)), k)):
        value = evidence[key]
        if key in UNTOLD:
            continue
        say = sayers.get(key)
        text = say(value) if say is not None else None
        if text is None:
            technical.append((key, value))
        elif text:
            lines.append((LABELS.get(key, key.replace("_", " ").capitalize()), text))
    return Words(_title(request), lines, technical)


def _title(request: ConsentRequest) -> str:
    if request.kind == "rollout" and request.evidence.get("action") == "next_step":
        return NEXT_STEP_TITLE
    if request.evidence.get("resume"):
        return RESUME_TITLE
    return TITLES.get(request.kind, "Do you agree?")


LABELS = {
    "version": "Version", "previous": "Replaces", "source": "Where it came from",
    "created_at": "Made", "metrics": "How training went", "quality": "Quality check",
    "plan": "Pace", "step": "Step", "adapters": "Answers after this step",
    "trial": "Side-by-side trial", "counts": "Learns from", "examples": "Examples",
    "steps": "Training steps", "estimated_s": "Expected time", "parent": "Starts from",
    "base": "Base model", "mix": "Also learns", "from": "Moves from", "to": "Moves to",
    "files": "Files", "children": "Versions made from it", "model": "Model",
    "versions": "Versions made for it", "checkpoint": "Kept checkpoint",
}
ORDER = {key: i for i, key in enumerate(LABELS)}


def _sayers(named: dict[str, str], evidence: dict[str, Any]
            ) -> dict[str, Callable[[Any], str | None]]:
    """key -> how to say its value ("" to leave the line out, None for the technical part)."""

    def version(value: Any) -> str | None:
        if value is None:
            return "the base model alone"
        return f"{named.get(value, 'a version')} ({str(value)[:12]})" if isinstance(
            value, str) else None

    def parent(value: Any) -> str:
        return f"{version(value)}, adding what is new" if value else "a new adapter"

    def when(value: Any) -> str | None:
        if not isinstance(value, int | float):
            return None
        return datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")

    def metrics(value: Any) -> str | None:
        if not isinstance(value, dict):
            return None
        said = [f"{METRICS[k]} {float(v):.3g}" for k, v in value.items()
                if k in METRICS and isinstance(v, int | float)]
        if isinstance(value.get("job_s"), int | float):
            said.append(f"took {human(float(value['job_s']))}")
        return ", ".join(said) or ""

    def quality(value: Any) -> str | None:
        if value is None:
            return ""
        if isinstance(value, dict) and isinstance(value.get("summary"), str):
            return str(value["summary"])
        return None

    def plan(value: Any) -> str | None:
        if not isinstance(value, dict) or not isinstance(value.get("steps"), int):
            return None
        steps = int(value["steps"])
        if value.get("every_days"):
            pace = f"one step every {value['every_days']:g} days"
        elif value.get("every_answers"):
            pace = f"one step every {value['every_answers']} answers"
        else:
            pace = "each step when you take it"
        hold = ("; it holds by itself while the new version loses the side-by-side trial"
                if value.get("hold_on_loss") else "")
        return f"{steps} steps, {pace}{hold}"

    def adapters(value: Any) -> str | None:
        if not isinstance(value, list) or not all(
                isinstance(a, list | tuple) and len(a) == 2 for a in value):
            return None
        return blend_label(named, [(str(k), float(s)) for k, s in value]) if value \
            else "the base model alone"

    def trial(value: Any) -> str | None:
        return str(value["text"]) if isinstance(value, dict) and "text" in value else None

    def counts(value: Any) -> str | None:
        return describe_counts(value) if isinstance(value, dict) else None

    def examples(value: Any) -> str | None:
        if not isinstance(value, int):
            return None
        held = evidence.get("heldout")
        return f"{value} to learn from" + (f", {held} held out to measure it" if held else "")

    def number(value: Any) -> str | None:
        return f"{value:,}" if isinstance(value, int) else None

    def duration(value: Any) -> str | None:
        return f"about {human(float(value))}" if isinstance(value, int | float) else None

    def base(value: Any) -> str | None:
        return str(value["name"]) if isinstance(value, dict) and "name" in value else None

    def side(value: Any) -> str | None:
        if not isinstance(value, dict) or not isinstance(value.get("base"), dict):
            return None
        on = str(value["base"].get("name", "another model"))
        return f"{version(value['version'])} on {on}" if value.get("version") else on

    def mix(value: Any) -> str | None:
        if not isinstance(value, dict):
            return None
        said = []
        if value.get("style"):
            said.append(f"your style: {value['style']}")
        if value.get("teacher_examples"):
            said.append(f"{value['teacher_examples']} answers written in that style")
        if value.get("replay"):
            said.append(f"{value['replay']} of the base model's own answers, so it keeps "
                        "what it could do")
        return "; ".join(said)

    def files(value: Any) -> str | None:
        if not isinstance(value, dict):
            return None
        return f"{len(value)} files, each kept with its sha256 in the record"

    def versions(value: Any) -> str | None:
        if not isinstance(value, list):
            return None
        return ", ".join(named.get(str(v), str(v)[:12]) for v in value) or "none"

    def checkpoint(value: Any) -> str:
        return f"step {value}" if value is not None else "none yet (written as it stops)"

    def step(value: Any) -> str | None:
        return str(value) if isinstance(value, int) else None

    def plain(value: Any) -> str | None:
        return str(value) if isinstance(value, str) else None

    return {
        "version": version, "previous": version, "parent": parent, "created_at": when,
        "source": lambda v: SOURCES.get(str(v), plain(v)), "metrics": metrics,
        "quality": quality, "plan": plan, "adapters": adapters, "trial": trial,
        "counts": counts, "examples": examples, "heldout": lambda v: "",
        "steps": number, "estimated_s": duration, "base": base, "from": side, "to": side,
        "mix": mix, "files": files, "children": versions, "versions": versions,
        "model": base, "checkpoint": checkpoint, "step": step,
    }
