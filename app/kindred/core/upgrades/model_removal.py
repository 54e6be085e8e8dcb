"""Removing a base model from Kindred's list, with consent, without losing what was made for it.

Kindred registers models where they are (they are the person's files, often many GB), so
removing one *unregisters* it: the GGUF file itself is never touched, and only Kindred's own
rebuildable training cache of it (`cache/bases/<sha256>`) is freed. Versions made for that base
stay archived with its name and sha256 (their manifests carry both): they list, show and verify
as before ("its base model … is not among your models"), activating one asks for the file, and
`models add` of the same file (same sha256) makes them usable again.

Refused, with nothing changed: the embedded default model; a model an assistant uses now
(switch the assistant first); a model an unfinished training or migration run trains on. Every
other removal takes a `remove_model` consent whose evidence names the archived versions made for
that base; if the versions changed after the person was asked, the consent no longer applies.

    plan = plan_removal(store, "gemma")
    req = request_removal(store, plan)
    decision = consent.decide(store, req.id, granted=True, via="cli-prompt")
    remove_model(store, plan.model.id, decision)
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from kindred.core.archive.catalog import Version, names
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import RunStatus
from kindred.core.home import consent, ledger
from kindred.core.home.atomic import db_write
from kindred.core.home.consent import ConsentError, ConsentRequest, Decision
from kindred.core.home.models import Model, get_model
from kindred.core.home.store import Store

KIND = "remove_model"


@dataclass(frozen=True)
class RemovalPlan:
    """What removing `model` would mean; nothing is written until `remove_model`."""

    model: Model
    # whose consent: the owner of the newest version made for it, else the first
    assistant_id: AssistantId
    versions: list[Version]  # archived (not deleted) versions made for this base
    labels: dict[str, str]  # version id -> "Version 2 of Ada (abcdef012345)"

    def summary(self) -> str:
        head = (f"Remove {self.model.name} (sha256 {self.model.sha256[:12]}) from Kindred's "
                "models. Kindred only forgets it: the model file itself is not deleted, only "
                "Kindred's own rebuildable training cache of it is freed.")
        if not self.versions:
            return head + " No archived version was made for it. Add the file again at any time."
        listed = "; ".join(self.labels[v.id] for v in self.versions)
        count = len(self.versions)
        return (f"{head} {count} archived version{'s were' if count > 1 else ' was'} made for "
                f"it: {listed}. They stay archived with this model's name and sha256, but cannot "
                "be used, tried or interviewed until you add the same file again "
                "(`kindred models add FILE`); then they work as before.")

    def evidence(self) -> dict[str, Any]:
        # named by its name and sha256: where the person keeps their files is theirs, and the
        # ledger (where consents are kept) travels in exported bundles
        return {"model": {"id": self.model.id, "name": self.model.name,
                          "sha256": self.model.sha256},
                "versions": [v.id for v in self.versions],
                "version_names": [self.labels[v.id] for v in self.versions]}


def versions_for_base(store: Store, sha256: str) -> list[Version]:
    """Archived (not deleted) versions made for the base with this sha256, oldest first."""
    rows = store.db.query("SELECT * FROM versions WHERE base_sha256 = ? AND status != 'deleted' "
                          "ORDER BY created_at, id", [sha256])
    return [Version.from_row(r) for r in rows]


def plan_removal(store: Store, key: str) -> RemovalPlan:
    """The plan for removing model `key` (id, prefix, sha256 or name), or a clear KindredError
    when it may not be removed (nothing changed)."""
    model = get_model(store, key)
    if model.embedded:
        raise KindredError(f"{model.name} is Kindred's built-in model; it cannot be removed. "
                           "Nothing was changed.")
    users = [str(r[0]) for r in store.db.execute(
        "SELECT name FROM assistants WHERE model_id = ? ORDER BY id", [model.id]).fetchall()]
    if users:
        raise KindredError(f"{', '.join(users)} answer{'s' if len(users) == 1 else ''} with "
                           f"{model.name} now. Switch {'it' if len(users) == 1 else 'them'} to "
                           "another model first (Move to another model…, or `kindred versions "
                           "activate` of a version on another base). Nothing was changed.")
    _no_unfinished_run(store, model)
    kept = versions_for_base(store, model.sha256)
    labels: dict[str, str] = {}
    for assistant_id in {v.assistant_id for v in kept}:
        named = names(store, assistant_id)
        owner = store.db.execute("SELECT name FROM assistants WHERE id = ?",
                                 [assistant_id]).fetchone()
        for v in kept:
            if v.assistant_id == assistant_id:
                labels[v.id] = (f"{named.get(v.id, 'Version')} of {owner[0] if owner else '?'} "
                                f"({v.short}, {v.status})")
    if kept:
        assistant_id = kept[-1].assistant_id
    else:
        row = store.db.execute("SELECT id FROM assistants ORDER BY id LIMIT 1").fetchone()
        if row is None:
            raise KindredError("There is no assistant to record your consent with. "
                               "Nothing was changed.")
        assistant_id = AssistantId(row[0])
    return RemovalPlan(model, assistant_id, kept, labels)


def _no_unfinished_run(store: Store, model: Model) -> None:
    from kindred.core.basics.states import RESUMABLE
    from kindred.core.training.run import list_runs

    for run in list_runs(store.home.runs):
        base = run.plan().get("base") or {}
        status = run.status()
        if base.get("sha256") == model.sha256 and status in (*RESUMABLE, RunStatus.RUNNING):
            raise KindredError(f"Training run {run.id} ({status}) learns on {model.name}; let it "
                               "finish (or resume it) before removing the model. Nothing was "
                               "changed.")


def request_removal(store: Store, plan: RemovalPlan) -> ConsentRequest:
    """Ask (kind `remove_model`, subject: the model's sha256), naming the versions made for it."""
    return consent.request(store, KIND, plan.assistant_id, plan.model.sha256, plan.summary(),
                           plan.evidence())


def remove_model(store: Store, key: str, decision: Decision | int | None) -> Model:
    """Unregister model `key` with a granted `remove_model` consent, checked and used up in the
    same transaction as the removal and its `model_removed` ledger event. The file is kept."""
    with db_write(store) as db:
        plan = plan_removal(store, key)
        checked = consent.check(store, decision, KIND, plan.assistant_id, plan.model.sha256)
        asked = checked.request.evidence.get("versions")
        if asked != [v.id for v in plan.versions]:
            raise ConsentError(f"The versions made for {plan.model.name} changed after you were "
                               "asked; ask again. Nothing was changed.")
        used = consent.require(store, checked, KIND, plan.assistant_id, plan.model.sha256)
        db.execute("DELETE FROM models WHERE id = ?", [plan.model.id])
        ledger.append(store, ledger.MODEL_REMOVED,
                      {"model": plan.model.id, "sha256": plan.model.sha256,
                       "name": plan.model.name,
                       "versions": [v.id for v in plan.versions], "file_kept": True,
                       "consent": used.id, "via": used.via}, assistant_id=plan.assistant_id)
    shutil.rmtree(store.home.cache / "bases" / plan.model.sha256, ignore_errors=True)
    return plan.model


def usable_again(store: Store, model: Model) -> list[Version]:
    """After `models add`: the archived versions this model makes usable (again)."""
    return versions_for_base(store, model.sha256)
