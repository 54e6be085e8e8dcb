"""Adapter versions: their rows, statuses and lineage, and the consent-gated changes of status.

Statuses: `candidate` (new, awaiting a decision), `trial` (being tried side by side or rolled out),
`active` (what the assistant talks through; at most one per assistant, mirrored in
`assistants.active_version`), `refused` (the user said no; weights kept), `retired` (no longer
used; weights kept), `deleted` (weights removed with consent; the row stays as a tombstone with
every hash). Activating, restoring, retiring the active version and deleting each take a consent
decision (see `consent`) and write a ledger event in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kindred.core.archive import assistant_state, cards
from kindred.core.archive.assistant_state import StateError
from kindred.core.archive.catalog import (
    SOURCES,
    STATUSES,
    Version,
    active_version,
    get_version,
    label_of,
    list_versions,
    name_of,
    names,
    numbered,
    remove_object,
    verify_version,
    version_dir,
)
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import ConsentKind, VersionStatus
from kindred.core.home import consent, ledger
from kindred.core.home.atomic import db_write
from kindred.core.home.consent import ConsentError, Decision
from kindred.core.home.store import Store

__all__ = ["SOURCES", "STATUSES", "StateError", "Version", "active_version", "get_version",
           "label_of", "list_versions", "name_of", "names", "remove_object",
           "version_dir"]  # the catalog, re-exported


def consent_kind_for(store: Store, version: Version) -> str:
    """`restore` for a version that was active before (or retired), else `activate`."""
    if version.status == VersionStatus.RETIRED:
        return ConsentKind.RESTORE
    was_active = store.db.execute(
        "SELECT 1 FROM ledger WHERE assistant_id = ? AND kind IN (?, ?) "
        "AND json_extract(payload, '$.version') = ? LIMIT 1",
        [version.assistant_id, ledger.ACTIVATED, ledger.RESTORED, version.id]).fetchone()
    return ConsentKind.RESTORE if was_active else ConsentKind.ACTIVATE


def describe_activation(store: Store, version: Version) -> tuple[str, str, dict[str, Any]]:
    """(kind, summary, evidence) for the consent request that would activate `version`.

    Summaries name versions as people see them ("Version 2") with the id beside it, since the
    text is kept in the ledger for good and numbers alone are only meaningful in this home."""
    kind = consent_kind_for(store, version)
    current = active_version(store, version.assistant_id)
    named = names(store, version.assistant_id)
    now_using = _label(named, current) if current else "the base model alone"
    verb = "Restore" if kind == "restore" else "Activate"
    kept = (f"{now_using} stays archived and can be restored" if current else
            "the base model alone stays one step away")  # it is no version: not archived
    summary = (f"{verb} {_label(named, version)} ({version.source}). The assistant now answers "
               f"with {now_using}; afterwards it answers with {named.get(version.id)}. "
               f"Nothing is deleted: {kept}.")
    summary += _switch_sentence(store, version)
    summary += _trial_sentence(store, version, kind)
    card = cards.get_card(store, version.id)
    if card and card.get("flags"):
        summary += " Before you decide: " + " ".join(card["flags"])
    evidence = {"version": version.id, "previous": current.id if current else None,
                "source": version.source, "metrics": version.metrics,
                "created_at": version.created_at, "quality": cards.brief(card),
                "interviews": predecessor_interviews(store, version),
                "state": assistant_state.fingerprint(store, version.assistant_id, version.id)}
    return kind, summary, evidence


def _trial_sentence(store: Store, version: Version, action: str) -> str:
    if not assistant_state.trial_ends_with(store, version.assistant_id, action, version.id):
        return ""
    return " The side-by-side trial that is open ends with this (its tally is kept)."


def predecessor_interviews(store: Store, version: Version, limit: int = 5
                           ) -> list[dict[str, Any]]:
    """What the versions around `version` said as they stepped down, for its consent: the
    version it replaces (its interview's sha256, or None: it is interviewed when it steps down),
    its own (a restored version was interviewed when it retired), its retired ancestors, then
    the latest retired versions that were interviewed. The person reads them before deciding."""
    aid = version.assistant_id
    held = {VersionId(r[0]): str(r[1]) for r in store.db.execute(
        "SELECT i.version_id, i.sha256 FROM interviews i JOIN versions v ON v.id = i.version_id"
        " WHERE v.assistant_id = ? ORDER BY i.created_at DESC", [aid]).fetchall()}
    current = active_version(store, aid)
    outgoing = current.id if current and current.id != version.id else None
    order = [vid for vid in (outgoing, version.id) if vid is not None]
    lineage = {v.id: v for v in list_versions(store, aid)}
    cursor = version.parent
    while cursor and cursor in lineage and cursor not in order:
        order.append(cursor)
        cursor = lineage[cursor].parent
    order += [vid for vid in held if vid not in order]
    chosen = [vid for vid in order if vid in held or vid == outgoing][:limit]
    return [{"version": vid, "interview": held.get(vid)} for vid in chosen]


def describe_retire(store: Store, version: Version) -> tuple[str, str, dict[str, Any]]:
    """(kind, summary, evidence) for retiring the *active* version (others need no consent)."""
    summary = (f"Retire {_label(names(store, version.assistant_id), version)}, the active "
               "adapter: the assistant goes back to answering with its base model alone. The "
               "weights are kept and can be restored.")
    summary += _trial_sentence(store, version, "retire")
    return ConsentKind.RETIRE, summary, {
        "version": version.id, "metrics": version.metrics,
        "state": assistant_state.fingerprint(store, version.assistant_id, version.id)}


def describe_delete(store: Store, version: Version) -> tuple[str, str, dict[str, Any]]:
    """(kind, summary, evidence) for deleting a version's weights."""
    lineage = list_versions(store, version.assistant_id)
    named = numbered(lineage)
    children = [v for v in lineage if v.parent == version.id]
    kept_by = ", ".join(_label(named, v) for v in children)
    summary = (f"Delete {_label(named, version)}: its weights ({version.size_bytes / 1e6:.1f} MB)"
               " are removed for good. A tombstone with its hashes stays in the archive and "
               "ledger" + (f"; {kept_by} keep it as their parent." if children else "."))
    return ConsentKind.DELETE, summary, {
        "version": version.id, "files": version.files, "children": [v.short for v in children],
        "state": assistant_state.fingerprint(store, version.assistant_id, version.id)}


def _label(named: dict[str, str], version: Version) -> str:
    return f"{named.get(version.id, 'Version')} ({version.short})"


def _same_base(store: Store, version: Version) -> None:
    """An adapter only fits the base model it was made for (a migrated assistant moves on)."""
    row = store.db.execute("SELECT m.sha256 FROM assistants a JOIN models m ON m.id = a.model_id "
                           "WHERE a.id = ?", [version.assistant_id]).fetchone()
    if row is not None and row[0] != version.base_sha256:
        raise KindredError(f"Version {version.short} was made for another base model "
                           f"({version.base_sha256[:12]}); this assistant now uses {row[0][:12]}. "
                           "Nothing was changed.")


def base_switch(store: Store, version: Version) -> tuple[str, str] | None:
    """(model id now, model id after) when `version` was made for another base than its
    assistant uses now (a migrated version, or going back from one): activating it moves the
    assistant to that base. None on the same base. Raises, with nothing changed, when that base
    is not registered or its file is gone (the version stays archived, restorable once the
    model file is added again)."""
    row = store.db.execute("SELECT m.id, m.sha256 FROM assistants a JOIN models m ON "
                           "m.id = a.model_id WHERE a.id = ?", [version.assistant_id]).fetchone()
    if row is None or row[1] == version.base_sha256:
        return None
    target = store.db.execute("SELECT id, name, path FROM models WHERE sha256 = ?",
                              [version.base_sha256]).fetchone()
    name = str(version.manifest.get("base", {}).get("name") or "its base model")
    if target is None:
        raise KindredError(f"Version {version.short} was made for {name} (sha256 "
                           f"{version.base_sha256[:12]}), which is not among your models. Add "
                           "that model file again (`kindred models add FILE`) to use it. "
                           "Nothing was changed.")
    if not Path(target[2]).is_file():
        raise KindredError(f"Version {version.short} was made for {target[1]}, whose file "
                           f"{target[2]} is missing. Put it back or add it again. Nothing was "
                           "changed.")
    return str(row[0]), str(target[0])


def _switch_sentence(store: Store, version: Version) -> str:
    switch = base_switch(store, version)
    if switch is None:
        return ""
    old, new = (store.db.execute("SELECT name FROM models WHERE id = ?", [m]).fetchone()[0]
                for m in switch)
    return (f" This also switches the assistant's base model from {old} to {new}; {old} and "
            "its versions stay archived, and switching back works the same way.")


def _usable(version: Version, action: str) -> None:
    if version.status == VersionStatus.DELETED:
        raise KindredError(f"Version {version.short} was deleted; it cannot be {action}. "
                           "Nothing was changed.")


def activate(store: Store, version_id: VersionId, decision: Decision | int | None) -> Version:
    """Make `version_id` what its assistant talks through (kind `activate`, or `restore` for a
    version that was active before). The previously active version becomes `retired`; an open
    side-by-side trial ends (its consent said so); during a rollout it is refused (finish or
    roll back the phase-in first).

    The weights are verified before the write transaction (hashing can take a while); the state
    is read again inside it, so a delete, retire or rollout that landed meanwhile is seen, not
    undone, and a consent asked against another state is refused as stale."""
    version = get_version(store, version_id)
    _activatable(store, version)
    check = verify_version(store, version.id)
    if not check.ok:
        raise KindredError(check.message + " It was not activated; nothing was changed.")
    with db_write(store):
        version = get_version(store, version.id)
        _activatable(store, version)
        kind = consent_kind_for(store, version)
        aid = version.assistant_id
        used = consent.require(store, decision, kind, aid, version.id,
                               state=assistant_state.fingerprint(store, aid, version.id))
        switch = base_switch(store, version)
        if assistant_state.trial_ends_with(store, aid, kind, version.id):
            assistant_state.end_trial(store, aid, ended_by=str(kind), consent=used.id)
        previous = assistant_state.set_active(store, aid, version.id,
                                              model_id=switch[1] if switch else None)
        payload: dict[str, Any] = {"version": version.id, "active": version.id,
                                   "previous": previous, "consent": used.id, "via": used.via}
        if switch is not None:  # a version on another base: the assistant moves with it
            payload.update(model=switch[1], previous_model=switch[0])
        ledger.append(store, ledger.RESTORED if kind == ConsentKind.RESTORE else
                      ledger.ACTIVATED, payload, assistant_id=aid)
    return get_version(store, version.id)


def _activatable(store: Store, version: Version) -> None:
    _usable(version, "activated")
    if version.status == VersionStatus.ACTIVE:
        raise KindredError(f"Version {version.short} is already active. Nothing was changed.")
    assistant_state.guard(store, version.assistant_id, "activate", version.id)
    base_switch(store, version)  # another base is fine if it is registered and present


def restore(store: Store, version_id: VersionId, decision: Decision | int | None) -> Version:
    """Restoring is activating an older version; the same gate, kind `restore`."""
    return activate(store, version_id, decision)


def retire(store: Store, version_id: VersionId, decision: Decision | int | None = None) -> Version:
    """Set a version aside, keeping its weights. Retiring the *active* version returns the
    assistant to its base model, so that case needs a `retire` consent; others need none.
    Either side of an open rollout cannot be retired (roll back or finish it first); retiring
    a side of an open trial ends the trial.

    The status is read inside the write transaction: a version activated a moment ago by another
    program is seen as active (and needs the consent), never retired behind its back."""
    with db_write(store):
        version = get_version(store, version_id)
        _usable(version, "retired")
        if version.status == VersionStatus.RETIRED:
            raise KindredError(f"Version {version.short} is already retired. Nothing was changed.")
        aid = version.assistant_id
        assistant_state.guard(store, aid, "retire", version.id)
        payload: dict[str, Any] = {"version": version.id, "was": str(version.status)}
        ends_trial = assistant_state.trial_ends_with(store, aid, "retire", version.id)
        if version.status == VersionStatus.ACTIVE:
            used = consent.require(store, decision, ConsentKind.RETIRE, aid, version.id,
                                   state=assistant_state.fingerprint(store, aid, version.id))
            if ends_trial:
                assistant_state.end_trial(store, aid, ended_by="retire", consent=used.id)
            assistant_state.set_active(store, aid, None)
            payload.update(active=None, previous=version.id, consent=used.id, via=used.via)
        else:
            if ends_trial:
                assistant_state.end_trial(store, aid, ended_by="retire")
            assistant_state.set_status(store, version.id, VersionStatus.RETIRED)
        ledger.append(store, ledger.RETIRED, payload, assistant_id=aid)
    return get_version(store, version.id)


def mark_trial(store: Store, version_id: VersionId) -> Version:
    """A version enters a rollout (which carries its own consent)."""
    with db_write(store):
        version = get_version(store, version_id)
        if version.status not in (VersionStatus.CANDIDATE, VersionStatus.REFUSED,
                                  VersionStatus.RETIRED):
            raise KindredError(f"Version {version.short} is {version.status}; "
                               "it cannot be phased in. Nothing was changed.")
        assistant_state.set_status(store, version.id, VersionStatus.TRIAL)
        ledger.append(store, ledger.TRIAL, {"version": version.id, "was": str(version.status)},
                      assistant_id=version.assistant_id)
    return get_version(store, version.id)


def record_refusal(store: Store, decision: Decision) -> Version | None:
    """After a refused activate/restore: a candidate (or trial) becomes `refused`, kept archived.

    Returns the version whose status changed, if any.
    """
    current = consent.get_decision(store, decision.id)
    if current is None or current.granted:
        raise ConsentError("Only a refused decision can be recorded as a refusal.")
    if current.request.kind not in (ConsentKind.ACTIVATE, ConsentKind.RESTORE):
        return None
    with db_write(store):
        version = get_version(store, current.request.subject)
        if version.status != VersionStatus.CANDIDATE:
            return None  # a version being phased in stays so: refusing it is rolling back
        assistant_state.set_status(store, version.id, VersionStatus.REFUSED)
        ledger.append(store, ledger.REFUSED, {"version": version.id, "consent": current.id},
                      assistant_id=version.assistant_id)
    return get_version(store, version.id)


def delete(store: Store, version_id: VersionId, decision: Decision | int | None) -> Version:
    """Remove a version's weights (kind `delete`); its row stays as a tombstone with the hashes.

    The status is read, the consent used and the status changed in one write transaction (an
    activation racing it either lands first and makes it refuse, or sees `deleted`); then the
    folder is moved out of the archive and removed; a crash in between is finished at the next
    start.
    """
    with db_write(store):
        version = get_version(store, version_id)
        _usable(version, "deleted")
        if version.status == VersionStatus.ACTIVE:
            raise KindredError(f"Version {version.short} is active; activate another version or "
                               "retire it first. Nothing was changed.")
        aid = version.assistant_id
        assistant_state.guard(store, aid, "delete", version.id)
        used = consent.require(store, decision, ConsentKind.DELETE, aid, version.id,
                               state=assistant_state.fingerprint(store, aid, version.id))
        assistant_state.set_status(store, version.id, VersionStatus.DELETED)
        ledger.append(store, ledger.DELETED,
                      {"version": version.id, "consent": used.id, "via": used.via,
                       "files": version.files, "size_bytes": version.size_bytes,
                       "parent": version.parent, "source": version.source},
                      assistant_id=version.assistant_id)
    remove_object(store.home, version.id)
    return get_version(store, version.id)


def _status_changes(store: Store, assistant_id: AssistantId) -> Iterator[ledger.Event]:
    for event in ledger.events(store, assistant_id=assistant_id):
        if "active" in event.payload and event.kind in ledger.ACTIVE_CHANGES:
            yield event


def active_periods(store: Store, assistant_id: AssistantId
                   ) -> dict[str, list[tuple[float, float | None]]]:
    """When each version was active, from the ledger: id -> [(start, end or None if now)]."""
    periods: dict[str, list[tuple[float, float | None]]] = {}
    current: tuple[str, float] | None = None
    for event in _status_changes(store, assistant_id):
        if current is not None:
            periods.setdefault(current[0], []).append((current[1], event.at))
        new = event.payload.get("active")
        current = (str(new), event.at) if new else None
    if current is not None:
        periods.setdefault(current[0], []).append((current[1], None))
    return periods


def usage_counts(store: Store, assistant_id: AssistantId) -> dict[str, int]:
    """How many answers each version took part in (from the adapters recorded per message)."""
    counts: dict[str, int] = {}
    rows = store.db.execute(
        "SELECT m.adapters FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.assistant_id = ? AND m.role = 'assistant' AND m.adapters != '[]'",
        [assistant_id]).fetchall()
    for (adapters,) in rows:
        for key, _scale in json.loads(adapters):
            counts[str(key)] = counts.get(str(key), 0) + 1
    return counts


def report(store: Store, assistant_id: AssistantId | None = None) -> dict[str, int]:
    """The continuity counts: every version ever archived, and how many are in each status."""
    sql, params = "SELECT status, COUNT(*) FROM versions", []
    if assistant_id is not None:
        sql, params = sql + " WHERE assistant_id = ?", [assistant_id]
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in store.db.execute(sql + " GROUP BY status", params).fetchall():
        counts[str(status)] = int(count)
    return {"archived": sum(counts.values()), **counts}
