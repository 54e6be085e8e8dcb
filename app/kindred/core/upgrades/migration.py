"""Moving an assistant to another base model, carrying what it learned: plan, consent, re-learn.

    plan = run_to_end(plan_migration(session, assistant, "gemma"))  # progress; returns the plan
    req = request_migration(store, plan)                        # consent kind `migrate`
    decision = consent.decide(store, req.id, granted=True, via="cli-flag")
    run = start_migration(session, plan, decision)              # writes runs/<id>
    # then the training process, exactly as for `train`: runner.training_command(run, decision)
    card = run_to_end(measure(session, version_id))                # the migration card, stored

The training process re-learns on the new base from `migration_data` (replayed taught items plus
the old version's own answers) and archives a **candidate** on the new base whose parent is the old
version (source `migrated`), with a `migrated` ledger event (from version/base, to version/base)
in the same transaction. Nothing changes in the chats until the person activates it
(`versions.activate` switches the assistant to the version's base, with consent; activating the
old version goes back the same way). Refused before anything is written: the same base, a base
the trainer cannot load, a damaged source version, no taught data, a migration still unfinished.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

from kindred.core.archive import cards
from kindred.core.archive.catalog import (
    Version,
    active_version,
    get_version,
    names,
    verify_version,
)
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.progress import result_last
from kindred.core.engine.llama import Engine
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import Assistant
from kindred.core.home.consent import ConsentRequest, Decision
from kindred.core.home.models import Model, get_model
from kindred.core.home.store import Store
from kindred.core.session import Session
from kindred.core.training import estimate, runner
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import RunDir
from kindred.core.upgrades import migration_card
from kindred.core.upgrades.migration_data import (
    DISTILL_TOKENS,
    MigrationData,
    Progress,
    collect,
    describe,
    to_dataset,
)

ANSWER_S_PER_TOKEN = 1 / 120
"""llama.cpp speed for estimates of the old version's answers and the card, both batched
(several answers per decode): SmolLM2 gave 20 answers of at most 96 tokens in 10 s on 2 busy
cores (~180 tok/s; one at a time, 20 s); estimates count the full token limit; bigger bases less."""


@dataclass(frozen=True)
class MigrationPlan:
    """What a migration will do, computed before asking; nothing is written until it starts."""

    training: runner.TrainingPlan
    source: Version
    from_model: Model
    to_model: Model
    data: MigrationData
    collect_s: float
    source_name: str = ""  # as History names it ("Version 2")

    @property
    def run_id(self) -> str:
        return self.training.run_id

    @property
    def assistant_id(self) -> AssistantId:
        return self.training.assistant_id

    @property
    def card_estimate_s(self) -> float:
        answers = 2 * (len(self.data.card_prompts) + len(self.data.replayed))
        return answers * 72 * ANSWER_S_PER_TOKEN * _size_factor(self.to_model)

    @property
    def estimate_s(self) -> float:
        return self.training.estimate_s + self.card_estimate_s

    def summary(self) -> str:
        counts = self.data.counts()
        taught = counts["correction"] + counts["liked"] + counts["preference"]
        note = ""
        if not self.to_model.metadata.get("chat_template", True):
            note = (f" {self.to_model.name} has no chat template of its own: Kindred talks to it "
                    "in a plain \"User:/Assistant:\" layout.")
        return (f"Move to {self.to_model.name}: a new version is learned on it from everything "
                f"{self.source_name or 'version ' + self.source.short} learned on "
                f"{self.from_model.name}: its {taught} "
                f"taught items, replayed, and {counts['distilled']} of its own answers to your "
                f"past questions and a prompt set ({counts['rejected']} left out as empty or "
                f"repetitive). {self.training.total_steps} training steps, about "
                f"{estimate.human(self.estimate_s)} on this computer, then a migration card "
                "compares old and new answers. The result is a candidate: nothing changes in "
                "your chats until you approve it, and the old version and its model stay "
                f"archived, so you can go back.{note}")

    def evidence(self) -> dict[str, Any]:
        return {**self.training.evidence(), "from": _side(self.source.id, self.from_model),
                "to": _side(None, self.to_model), **describe(self.data),
                "estimated_s": round(self.estimate_s)}


def _side(version: str | None, model: Model) -> dict[str, Any]:
    return {"version": version, "base": {"id": model.id, "name": model.name,
                                         "sha256": model.sha256,
                                         "architecture": model.architecture}}


def _size_factor(model: Model) -> float:
    return max(1.0, model.size_bytes / 100e6)


def _model_for_sha(store: Store, sha256: str) -> Model:
    return get_model(store, sha256)


def check_move(session: Session, assistant: Assistant, target: str | Model
               ) -> tuple[Version, Model, Model]:
    """(source version, its base, the new base), or a clear KindredError (nothing changed)."""
    store = session.store
    to_model = target if isinstance(target, Model) else get_model(store, target)
    source = active_version(store, assistant.id)
    if source is None:
        raise KindredError(f"{assistant.name} has no active version, so there is nothing "
                           "learned to carry over: teach and train first, or simply pick the "
                           "other model for a new assistant. Nothing was changed.")
    from_model = _model_for_sha(store, source.base_sha256)
    if to_model.sha256 == source.base_sha256:
        raise KindredError(f"{assistant.name} already uses {to_model.name}: moving needs another "
                           "base model. Nothing was changed.")
    runner.check_trainable(to_model)
    check = verify_version(store, source.id)
    if not check.ok:
        raise KindredError(check.message + " It cannot be carried over; nothing was changed.")
    unfinished = resumable(session, assistant)
    if unfinished is not None:
        raise KindredError(f"An earlier move is unfinished: {runner.describe_run(unfinished)}. "
                           "Resume it first (Move to another model… → Resume, or `kindred "
                           "migrate --resume`). Nothing was changed.")
    return source, from_model, to_model


def plan_migration(session: Session, assistant: Assistant, target: str | Model,
                   config: TrainConfig | None = None, *, engine: Engine | None = None,
                   prompt_limit: int | None = None) -> Generator[Progress, None, MigrationPlan]:
    """Progress while the old version answers; returns the MigrationPlan. Raises, with
    nothing written, on any bad input (see the module docstring). `prompt_limit`: at most that
    many distillation and card prompts (a quick migration: tests, benchmarks)."""
    import time

    source, from_model, to_model = check_move(session, assistant, target)
    began = time.perf_counter()
    data = yield from result_last(collect(session.store, assistant, source, engine=engine,
                                          limit=prompt_limit))
    assert isinstance(data, MigrationData)
    collect_s = time.perf_counter() - began
    dataset = to_dataset(data, assistant.id, to_model.sha256)
    training = runner.plan_training(session, assistant, config, model=to_model, dataset=dataset)
    info = {"from_version": source.id, "from_base": _side(None, from_model)["base"],
            "to_base": _side(None, to_model)["base"], "card_prompts": data.card_prompts,
            "counts": data.counts()}
    training = replace(training, kind="migrate", extra={"migration": info})
    return MigrationPlan(training, source, from_model, to_model, data, collect_s,
                         names(session.store, assistant.id).get(source.id, ""))


def request_migration(store: Store, plan: MigrationPlan) -> ConsentRequest:
    """Ask to move (kind `migrate`, subject: the run id), showing the plan."""
    return consent.request(store, "migrate", plan.assistant_id, plan.run_id, plan.summary(),
                           plan.evidence())


def start_migration(session: Session, plan: MigrationPlan, decision: Decision | int | None
                    ) -> RunDir:
    """Write the run once the `migrate` consent is granted (else raise, writing nothing); the
    caller launches `runner.training_command(run, decision)` as for training."""
    return runner.start_training(session, plan.training, decision)


def resumable(session: Session, assistant: Assistant) -> RunDir | None:
    """The assistant's unfinished migration run (stopped, failed or killed), if any."""
    run = runner.resumable_run(session, assistant.id)
    if run is not None and run.plan().get("migration"):
        return run
    return None


def run_version(run: RunDir) -> str | None:
    """The version a finished migration run archived."""
    version = run.state().get("version")
    return str(version) if version else None


# -- after the run: the card ------------------------------------------------------------------


def migrated_event(store: Store, version_id: VersionId) -> dict[str, Any]:
    """The `migrated` ledger payload of a migrated version (from/to version and base)."""
    row = store.db.execute("SELECT payload FROM ledger WHERE kind = ? AND "
                           "json_extract(payload, '$.version') = ? ORDER BY seq DESC LIMIT 1",
                           [ledger.MIGRATED, version_id]).fetchone()
    if row is None:
        raise KindredError(f"Version {version_id[:12]} was not made by moving to another model.")
    return dict(json.loads(row[0]))


def measure(session: Session, version_key: str) -> Generator[Progress, None, dict[str, Any]]:
    """Progress; returns the migration card of a migrated version (also stored; measured once,
    then read back)."""
    store = session.store
    version = get_version(store, version_key)
    stored = get_card(store, version.id)
    if stored is not None:
        return stored
    event = migrated_event(store, version.id)
    old = get_version(store, str(event["from_version"]))
    old_model = _model_for_sha(store, old.base_sha256)
    new_model = _model_for_sha(store, version.base_sha256)
    card = yield from result_last(migration_card.compute(
        store, old, version, old_model, new_model, list(event.get("card_prompts") or [])))
    assert isinstance(card, dict)
    card["from"] = {"version": old.id, "base": event.get("from_base")}
    card["to"] = {"version": version.id, "base": event.get("to_base")}
    store_card(store, version.id, card)
    return card


def store_card(store: Store, version_id: VersionId, card: dict[str, Any]) -> None:
    cards.store_card(store, version_id, card, "migration")


def get_card(store: Store, version_id: VersionId) -> dict[str, Any] | None:
    """The stored migration card, with the side-by-side trial's tally (key `trial`, and a line
    of its summary) once the person has tried old against new: trials come after measuring,
    so the tally is read when the card is."""
    card = cards.get_card(store, version_id, "migration")
    if card is None:
        return None
    tally = trial_tally(store, card)
    if tally is None:
        return card
    return {**card, "trial": tally, "summary": [
        *card.get("summary", []),
        f"Side-by-side trial (your blind picks): the new version {tally['text']}."]}


def trial_tally(store: Store, card: dict[str, Any]) -> dict[str, Any] | None:
    """The new version's wins, ties and losses against the old one, over every trial of the
    pair in either role (tried as the candidate, or as the active version after the switch)."""
    from kindred.core.upgrades import trial

    old = (card.get("from") or {}).get("version")
    new = (card.get("to") or {}).get("version")
    if not old or not new:
        return None
    assistant_id = get_version(store, new).assistant_id
    tried = trial.tally(store, assistant_id, old, new)
    reverse = trial.tally(store, assistant_id, new, old)
    both = trial.Tally(tried.wins + reverse.losses, tried.ties + reverse.ties,
                       tried.losses + reverse.wins)
    return both.to_json() if both.rounds else None


def add_trial_to_consent(store: Store, version: Version, summary: str,
                         evidence: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The switch to a migrated version, asked with its side-by-side tally (if the person ran a
    trial): the consent summary says it and the evidence keeps it."""
    if version.source != "migrated":
        return summary, evidence
    card = get_card(store, version.id)
    if not card or not card.get("trial"):
        return summary, evidence
    return (f"{summary} Side-by-side trial (your blind picks): the new version "
            f"{card['trial']['text']}.", {**evidence, "trial": card["trial"]})


def pending(store: Store, assistant: Assistant) -> Version | None:
    """The newest migrated version waiting for the person's decision (a candidate or on trial,
    learned from the version the assistant uses now), if any."""
    active = active_version(store, assistant.id)
    if active is None:
        return None
    row = store.db.execute("SELECT id FROM versions WHERE assistant_id = ? AND source = "
                           "'migrated' AND status IN ('candidate', 'trial') AND parent = ? "
                           "ORDER BY created_at DESC LIMIT 1", [assistant.id, active.id]
                           ).fetchone()
    return get_version(store, str(row[0])) if row else None


def distill_estimate_s(prompts: int, model: Model) -> float:
    """How long asking the old version takes (for the GUI before planning)."""
    return prompts * DISTILL_TOKENS * ANSWER_S_PER_TOKEN * _size_factor(model)

