"""A bundle imported as a copy: its assistant again, beside the original, under new version ids.

Version ids are content hashes (the sha256 of the manifest), so the versions of a bundle that
was exported from this data home, or imported here before, are here already and cannot be
archived twice. A copy gives every version a new manifest: the same files and weights, the
parent's new id, and `copy` (the version it was copied from, the bundle, when), so it hashes to a
new id and keeps its provenance. Parents come first (lineage order), so each child's manifest
names its parent's new id.

Every record of the bundle that names a version is then remapped the same way: the versions'
rows, each message's adapters (usage), the ledger's payloads (consents' subjects, activations,
rollouts, trials, what was active when), and the retirement records, whose files name their
version: they are rewritten (with `copy`: the record and version they were copied from), so they
get new sha256s, and the events and the report that name those are remapped with them. The
learning data and its snapshots (datasets) name no version and come as they are. The replayed
events keep their `origin` (the original event's number and hash) and say they were `copied`.

`reidentify` works on a bundle `check.check_bundle` passed, in its staging folder, before
anything is written to the data home; what it returns is written by the plain import's own code
(one transaction).
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, replace
from typing import Any

from kindred.core.archive.objects import check_folder, manifest_bytes
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.bundles.check import CheckedBundle, fail
from kindred.core.formats.peft_files import CONFIG
from kindred.core.home import ledger
from kindred.core.home.record_check import KINDS, file_problem

_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class Copy:
    """What a copy changed: new id -> the id it was copied from (versions and records), and
    where it came from (the bundle's assistant, the bundle's file name)."""

    versions: dict[str, str]
    records: dict[str, str]
    original: str
    file: str

    def payload(self, name: str) -> dict[str, Any]:
        """The import's ledger event says where the copy came from, in words and in ids."""
        count = len(self.versions)
        original, file = self.original, self.file
        return {"copy_of": {"assistant": original, "file": file, "versions": self.versions,
                            "records": self.records},
                "summary": f"Imported {name} as a copy of {original} from {file}: "
                           f"{count} version{'' if count == 1 else 's'} under new ids, each "
                           "recording the version it was copied from"}


def remap(value: Any, ids: dict[str, str]) -> Any:
    """`value` (parsed JSON) with every full id in `ids` replaced, in keys and in text."""
    if isinstance(value, str):
        return _ID.sub(lambda m: ids.get(m.group(0), m.group(0)), value) \
            if len(value) >= 64 else value
    if isinstance(value, list):
        return [remap(v, ids) for v in value]
    if isinstance(value, dict):
        return {remap(k, ids): remap(v, ids) for k, v in value.items()}
    return value


def lineage(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The bundle's versions, each after its parent (a parent outside the bundle counts as
    there); the manifest is what says the parent, and the version's row must agree."""
    listed = {str(e["id"]) for e in entries}
    for entry in entries:
        if entry.get("parent") != entry["manifest"].get("parent"):
            raise fail(f"Version {str(entry['id'])[:12]} names another parent than its "
                       "manifest.")
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    waiting = list(entries)
    while waiting:
        ready = [e for e in waiting if e["parent"] is None or e["parent"] not in listed
                 or e["parent"] in placed]
        if not ready:
            raise fail("The bundle's versions are their own ancestors.")
        for entry in ready:
            ordered.append(entry)
            placed.add(str(entry["id"]))
        waiting = [e for e in waiting if str(e["id"]) not in placed]
    return ordered


def reidentify(checked: CheckedBundle, copied_at: float, original: str, file: str
               ) -> tuple[CheckedBundle, Copy]:
    """The checked bundle as a copy of `original` (its assistant) from `file`: new version
    ids (folders renamed and their manifests rewritten in `checked.staging`), and every record
    remapped. Raises BundleError (nothing written to the home) if a renamed folder does not
    verify under its new id."""
    ids: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    for entry in lineage(checked.versions):
        old = str(entry["id"])
        manifest = dict(entry["manifest"])
        parent = manifest.get("parent")
        manifest["parent"] = ids.get(parent, parent) if parent else parent
        earlier = manifest.get("copy")
        manifest["copy"] = {"of": old, "bundle": checked.digest, "copied_at": copied_at,
                            **({"from": earlier} if earlier else {})}
        data = manifest_bytes(manifest)
        new = sha256_bytes(data)
        ids[old] = new
        entries.append({**entry, "id": new, "parent": manifest["parent"], "manifest": manifest})
        if entry["status"] != VersionStatus.DELETED:
            _restage(checked, old, new, data)
    records, digests = _records(checked, ids)
    both = {**ids, **digests}
    events = []
    for event in checked.events:
        payload = remap(event["parsed"], both)
        events.append({**event, "payload": ledger.canonical(payload).decode(),
                       "parsed": payload})
    conversations = [{**conv, "messages": [
        {**m, "adapters": [[ids.get(k, k), s] for k, s in m.get("adapters", [])]}
        for m in conv["messages"]]} for conv in checked.conversations]
    header = remap(checked.header, ids)
    copied = replace(checked, header=header, versions=entries, conversations=conversations,
                     events=events, records=records,
                     waiting=[ids[v] for v in checked.waiting])
    return copied, Copy({new: old for old, new in ids.items()},
                        {new: old for old, new in digests.items()}, original, file)


def _restage(checked: CheckedBundle, old: str, new: str, manifest: bytes) -> None:
    """Move a staged version folder to its new id, with its new manifest; it must verify."""
    source = checked.file(f"objects/{old}/{CONFIG}").parent
    target = source.with_name(new)
    os.rename(source, target)
    path = target / "manifest.json"
    if path.exists():
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(manifest)
    problems = check_folder(target, VersionId(new))
    if problems:
        raise fail(f"Version {old[:12]} cannot be copied: " + "; ".join(problems) + ".")


def _records(checked: CheckedBundle, ids: dict[str, str]
             ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The retirement records rewritten for the copy (interviews first: a report names its
    version's interview), staged under their new sha256; (entries, old -> new sha256)."""
    from kindred.core.upgrades.retirement import record_bytes

    digests: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for entry in sorted(checked.records, key=lambda e: list(KINDS).index(e["kind"])):
        old = str(entry["sha256"])
        content = remap(json.loads(checked.file(f"records/{old}").read_bytes()),
                        {**ids, **digests})
        content["copy"] = {"of": old, "version": entry["version"]}
        data = record_bytes(content)
        new = sha256_bytes(data)
        version = ids[str(entry["version"])]
        problem = file_problem(data, new, str(entry["kind"]), VersionId(version))
        if problem is not None:
            raise fail(f"The {entry['kind']} of version {str(entry['version'])[:12]} cannot be "
                       f"copied ({problem}).")
        target = checked.staging / "records" / new
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        digests[old] = new
        out.append({**entry, "version": version, "sha256": new})
    return out, digests
