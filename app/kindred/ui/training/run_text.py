"""What the Training page says about a training run's events: pure functions of an event (and
where the run stands), so the words can be read and tested apart from the page that shows them."""

from __future__ import annotations

from typing import Any

from kindred.core.basics.states import TrainingEvent

PREPARING = {
    TrainingEvent.REPLAY: "Asking the base model general questions, so the new version keeps "
                          "what it can already do",
    TrainingEvent.TEACHER: "Answering general questions the way your examples show, for the "
                           "new version to learn from",
}


def sentence(event: dict[str, Any], step: int, total: int, name: str | None = None
             ) -> str | None:
    """The status line for `event` (None: the event changes no sentence); `name`: the
    version it archived, as History names it ("Version 2")."""
    kind = event.get("event")
    if kind == TrainingEvent.START:
        resumed = event.get("resumed_from")
        return (f"Training on {event.get('examples', '?')} examples"
                + (f", continuing from step {resumed}." if resumed else "."))
    if kind == TrainingEvent.PAUSED:
        return (f"Paused at step {step} of {total}: the training process waits, holding "
                "nothing. Resume continues exactly where it was.")
    if kind == TrainingEvent.RESUMED:
        return "Resumed."
    if kind == TrainingEvent.LOADING:
        return "Loading the base model for training…"
    if kind == TrainingEvent.LOADED:
        return f"Base model loaded in {float(event.get('load_s', 0)):.1f} s. Training…"
    if kind == TrainingEvent.STOPPED:
        return (f"Stopped at step {event.get('step')} of {event.get('total_steps')}. The "
                "checkpoint is kept: continue any time.")
    if kind == TrainingEvent.ARCHIVED:
        return (f"Archived as {name or 'a new version'}, a candidate. Measuring its quality "
                "against the base model…")
    if kind == TrainingEvent.DONE:
        return f"Done: {name or 'the new version'} is archived as a candidate, with its " \
               "quality card."
    if kind == TrainingEvent.LEARNED:
        return (f"Your items are learned (step {event.get('step')} of "
                f"{event.get('total_steps')}): stopping before it memorises them.")
    if kind == TrainingEvent.QUALITY:
        return f"Quality card: {event.get('message', '')}"
    if kind in PREPARING:
        where = preparing(event)
        return f"{PREPARING[kind]} ({where[1]})…" if where else None
    return None


def preparing(event: dict[str, Any]) -> tuple[int, str] | None:
    """Percent done and "k of n" while the answers to learn from are being prepared (None once
    they are all there)."""
    total, done = int(event.get("total") or 0), int(event.get("done") or 0)
    if not total or done >= total:
        return None
    return round(100 * done / total), f"{done + 1} of {total}"
