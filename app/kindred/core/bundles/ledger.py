"""The ledger in an assistant bundle: one unbroken chain, and a history that fits the versions.

Export (`export_events`) writes every ledger row from the assistant's first event to the ledger's
head at that moment, in order. The assistant's own events are written whole; the rows between
them that belong to another assistant or to the home itself (a model added, another assistant's
consent) are written as *links*: their `seq`, `prev_hash` and `hash`, nothing of their content.
`bundle.json` names the head (`ledger_head`).

Import (`check_ledger`) then proves, before anything is written:

- the chain: seqs run without a gap from the first row to the named head, each row's
  `prev_hash` is the hash of the row before (the first row of a ledger starts from the genesis
  hash), and every whole event hashes to its `hash`. An event removed, added, reordered or edited
  without rewriting everything after it breaks the chain;
- the history fits the versions the bundle carries: every version was archived in the ledger,
  and every version archived there is in the bundle;
  every deleted version has its tombstone (`deleted` event) and every tombstone its deleted
  version; every event that cites a consent finds that consent asked and decided earlier in the
  bundle (granted, or refused for a `refused` event), of the kind the change needs and for the
  version it changed; `activated`/`restored` events name versions the bundle holds; a candidate
  has no status change in the ledger (nothing leads back to candidate; an import of a bundle,
  which brings a version being phased in as a candidate, starts its versions afresh); and the
  version the assistant talks through is the one `active` version, and the one the ledger's
  last change of the active version names (as `versions.active_periods` reads it).

A bundle written before links existed (`kindred-bundle/1`) has gaps where other assistants'
events were; its events must still be in order, chained wherever two follow each other, and the
history checks above apply in full.
"""

from __future__ import annotations

import json
import re
from typing import Any

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import VersionStatus
from kindred.core.home import ledger
from kindred.core.home.ledger_consents import origin_key
from kindred.core.home.store import Store

_HEX = re.compile(r"^[0-9a-f]{64}$")
WHOLE = ("seq", "at", "kind", "assistant_id", "payload", "prev_hash", "hash")
LINK = ("seq", "prev_hash", "hash")
# The consent kind each version change cites (a `refused` event cites the refused request).
# (A `retired` event may follow from another change's consent, e.g. a rollout's: any kind.)
CONSENT_FOR = {ledger.ACTIVATED: ("activate", "restore"), ledger.RESTORED: ("activate", "restore"),
               ledger.DELETED: ("delete",), ledger.REFUSED: ("activate", "restore")}
ARCHIVING = (ledger.VERSION_ARCHIVED,)
STATUS_CHANGES = (ledger.ACTIVATED, ledger.RESTORED, ledger.RETIRED, ledger.REFUSED, ledger.TRIAL,
                  ledger.DELETED)


class HistoryError(KindredError):
    """The bundle's ledger is not one unbroken chain, or does not fit its versions."""


def export_events(store: Store, assistant_id: AssistantId) -> tuple[list[dict[str, Any]],
                                                            dict[str, Any] | None]:
    """(ledger.json entries, the head) for one assistant; ([], None) when it has no event."""
    row = store.db.execute("SELECT MIN(seq) FROM ledger WHERE assistant_id = ?",
                           [assistant_id]).fetchone()
    if row is None or row[0] is None:
        return [], None
    head = store.db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    entries: list[dict[str, Any]] = []
    for event in store.db.query("SELECT * FROM ledger WHERE seq BETWEEN ? AND ? ORDER BY seq",
                                [int(row[0]), int(head[0])]):
        if event["assistant_id"] == assistant_id:
            entries.append({k: event[k] for k in WHOLE})
        else:
            entries.append({k: event[k] for k in LINK})
    return entries, {"seq": int(head[0]), "hash": str(head[1])}


def _whole(entry: Any, index: int) -> dict[str, Any] | None:
    """The entry as a whole event (checked types), None for a link; HistoryError otherwise."""
    if not isinstance(entry, dict):
        raise HistoryError(f"ledger entry {index + 1} is not an object")
    seq = entry.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise HistoryError(f"ledger entry {index + 1} has no valid number")
    for key in ("prev_hash", "hash"):
        if not isinstance(entry.get(key), str) or not _HEX.match(entry[key]):
            raise HistoryError(f"ledger event {seq} has no valid {key}")
    if set(entry) == set(LINK):
        return None
    if set(entry) != set(WHOLE):
        raise HistoryError(f"ledger event {seq} has unexpected or missing fields")
    at, kind, owner, payload = entry["at"], entry["kind"], entry["assistant_id"], entry["payload"]
    if isinstance(at, bool) or not isinstance(at, int | float) or not isinstance(kind, str) \
            or not isinstance(payload, str) \
            or not (owner is None or (isinstance(owner, int) and not isinstance(owner, bool))):
        raise HistoryError(f"ledger event {seq} is malformed")
    digest = ledger.event_hash(seq, float(at), kind, owner, payload, entry["prev_hash"])
    try:
        parsed = json.loads(payload)
    except ValueError:
        parsed = None
    if digest != entry["hash"] or not isinstance(parsed, dict):
        raise HistoryError(f"ledger event {seq} was altered (it no longer hashes to its "
                           "recorded hash)")
    return {**entry, "parsed": parsed}


def whole_events(entries: Any) -> list[dict[str, Any]]:
    """The whole events of `entries`, each checked on its own (fields, types, its own hash) and
    given its `parsed` payload; links are checked for their fields. The chain comes after
    (`check_chain`), once the events' fields are known to be sane."""
    if not isinstance(entries, list):
        raise HistoryError("the ledger is not a list")
    events = [w for i, e in enumerate(entries) if (w := _whole(e, i)) is not None]
    if len({e["assistant_id"] for e in events}) > 1:
        raise HistoryError("the ledger mixes the events of several assistants")
    return events


def check_chain(entries: list[dict[str, Any]], head: Any, *, linked: bool) -> None:
    """The entries (checked by `whole_events`) form one chain ending at `head` (`linked`:
    format 2; format 1 has gaps where other events were, and names no head)."""
    previous: dict[str, Any] | None = None
    for entry in entries:
        seq = entry["seq"]
        if previous is None:
            if set(entry) == set(LINK) and linked:
                raise HistoryError("the ledger does not start with one of the assistant's "
                                   "events")
            if seq == 1 and entry["prev_hash"] != ledger.GENESIS:
                raise HistoryError("ledger event 1 does not start the chain")
        elif seq <= previous["seq"] or (linked and seq != previous["seq"] + 1):
            raise HistoryError(f"the ledger's chain is broken before event {seq} (an event "
                               "was removed, added or moved)")
        elif seq == previous["seq"] + 1 and entry["prev_hash"] != previous["hash"]:
            raise HistoryError(f"the ledger's chain is broken at event {seq}: it does not "
                               f"follow event {previous['seq']} (an event was removed, added "
                               "or replaced)")
        previous = entry
    if linked and previous is None and head is not None:
        raise HistoryError("the bundle names a ledger head, but its ledger is empty")
    if linked and previous is not None and (
            not isinstance(head, dict)
            or (head.get("seq"), head.get("hash")) != (previous["seq"], previous["hash"])):
        raise HistoryError("the ledger does not end at the head the bundle names (events "
                           "were removed from its end)")


def check_history(events: list[dict[str, Any]], versions: list[dict[str, Any]],
                  active: Any, *, header_knows: bool = True) -> None:
    """The events (whole, from `whole_events`) against the versions the bundle carries.

    `active`: the version the bundle's assistant talks through. An older bundle's header may
    be stale there (`header_knows` false: export wrote the caller's view of the assistant),
    so its versions' own `active` status stands in for it."""
    status = {str(v["id"]): v["status"] for v in versions}
    if not header_knows:
        marked = sorted(v for v, state in status.items() if state == VersionStatus.ACTIVE)
        active = marked[0] if len(marked) == 1 else None
    requests: dict[tuple[str, int], dict[str, Any]] = {}
    decided: dict[tuple[str, int], bool] = {}
    archived: set[str] = set()
    tombstones: set[str] = set()
    changed: set[str] = set()  # versions a status-changing event names
    last_active: Any = None  # what the ledger says the assistant talks through at the end
    for event in events:
        seq, kind, payload = event["seq"], event["kind"], event["parsed"]
        origin = origin_key(payload)
        request = payload.get("request")
        version = payload.get("version")
        if kind == ledger.CONSENT_REQUESTED:
            if not isinstance(request, int) or (origin, request) in requests:
                raise HistoryError(f"ledger event {seq} asks a consent that is malformed or "
                                   "was asked before")
            requests[(origin, request)] = payload
            continue
        if kind == ledger.CONSENT_DECIDED:
            asked = requests.get((origin, request)) if isinstance(request, int) else None
            if asked is None or (origin, request) in decided \
                    or (payload.get("kind"), payload.get("subject")) != (asked.get("kind"),
                                                                         asked.get("subject")):
                raise HistoryError(f"ledger event {seq} decides a consent that was never asked, "
                                   "was decided before, or was asked about something else")
            decided[(origin, request)] = payload.get("granted") is True
            continue
        if kind in ARCHIVING:
            if str(version) not in status:
                raise HistoryError(f"ledger event {seq} archives version {str(version)[:12]}, "
                                   "which the bundle does not hold")
            archived.add(str(version))
        if kind == ledger.DELETED:
            if status.get(str(version)) != VersionStatus.DELETED:
                raise HistoryError(f"ledger event {seq} records the deletion of version "
                                   f"{str(version)[:12]}, which the bundle holds "
                                   + (f"as {status[str(version)]}" if str(version) in status
                                      else "nowhere"))
            tombstones.add(str(version))
        if kind in (ledger.ACTIVATED, ledger.RESTORED) and str(version) not in status:
            raise HistoryError(f"ledger event {seq} ({kind}) names version "
                               f"{str(version)[:12]}, which the bundle does not hold")
        if kind in STATUS_CHANGES:
            changed.add(str(version))
        if kind == ledger.IMPORTED and payload.get("what") == "bundle" \
                and isinstance(payload.get("versions"), list):
            changed -= {str(v) for v in payload["versions"]}  # an import starts them afresh
        if kind in ledger.ACTIVE_CHANGES and "active" in payload:  # as `active_periods` reads
            last_active = payload["active"]
        if "consent" in payload:
            _check_citation(seq, kind, payload, requests, decided, origin)
    for version_id, state in status.items():
        if version_id not in archived:
            raise HistoryError(f"version {version_id[:12]} was never archived in the ledger")
        if state == VersionStatus.DELETED and version_id not in tombstones:
            raise HistoryError(f"version {version_id[:12]} is deleted, but the ledger holds no "
                               "tombstone (`deleted` event) for it")
        if state == VersionStatus.CANDIDATE and version_id in changed:  # nothing leads back
            raise HistoryError(f"version {version_id[:12]} is a candidate, but the ledger "
                               "records a change of its status")
    if active is not None and status.get(str(active)) != VersionStatus.ACTIVE:
        raise HistoryError("the assistant's active version is not an active version of the "
                           "bundle")
    if sorted(v for v, state in status.items() if state == VersionStatus.ACTIVE) != (
            [str(active)] if active is not None else []):
        raise HistoryError("the bundle's versions say another version is active than its "
                           "assistant")
    if last_active != active:
        raise HistoryError("the ledger's last change of the active version names "
                           f"{str(last_active)[:12] if last_active else 'none'}, not the "
                           "version the assistant talks through")


def _check_citation(seq: int, kind: str, payload: dict[str, Any],
                    requests: dict[tuple[str, int], dict[str, Any]],
                    decided: dict[tuple[str, int], bool], origin: str) -> None:
    cited = payload["consent"]
    key = (origin, cited) if isinstance(cited, int) and not isinstance(cited, bool) else None
    asked = requests.get(key) if key is not None else None
    if key is None or asked is None:
        raise HistoryError(f"ledger event {seq} ({kind}) cites consent {cited}, which was "
                           "never asked in the ledger")
    if key not in decided:
        raise HistoryError(f"ledger event {seq} ({kind}) cites consent {cited}, which was "
                           "never decided in the ledger")
    if decided[key] != (kind != ledger.REFUSED):
        raise HistoryError(f"ledger event {seq} ({kind}) cites consent {cited}, which the "
                           "ledger records as " + ("granted" if decided[key] else "refused"))
    wanted = CONSENT_FOR.get(kind)
    if wanted is not None and (asked.get("kind") not in wanted
                               or asked.get("subject") != payload.get("version")):
        raise HistoryError(f"ledger event {seq} ({kind} of {str(payload.get('version'))[:12]}) "
                           f"cites consent {cited}, which was given for a {asked.get('kind')} "
                           f"of {str(asked.get('subject'))[:12]}")
