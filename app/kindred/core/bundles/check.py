"""Validate an assistant bundle completely before anything of it is written to the data home.

A bundle is an uncompressed tar: `bundle.json` (format, the assistant, and the sha256 and size of
every other member), `versions.json`, `conversations.json`, `ledger.json`, `feedback.json` (the
learning data; optional), each version's four files under `objects/<id>/`, and learning-data
snapshots under `datasets/<id>`, and retirement interviews and reports
(`retirement.json`, files under `records/<sha256>`; see `bundle_records`). Every member must
be a regular file with a name from that fixed list (so no absolute paths, `..`, links or devices),
within the size limits, and hash to what `bundle.json` says; each version must be self-certifying
(its manifest hashes to its id and lists its files' hashes), its safetensors and GGUF must parse
and fit the local base model. Weight files are copied only into a private scratch folder while
being checked; the caller removes it if anything fails. Then every field's type and range
(`bundle_fields`), the ledger as one chain whose history fits the versions (`bundle_ledger`),
and each interview and report against its ledger event (`bundle_records`). The same checks run
on every export before it is reported written (`own`).
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kindred.core.archive.versions import SOURCES, STATUSES, version_dir
from kindred.core.basics.errors import KindredError
from kindred.core.basics.hashing import sha256_bytes, sha256_file
from kindred.core.basics.ids import VersionId
from kindred.core.basics.states import VersionStatus
from kindred.core.bundles.feedback import check_feedback
from kindred.core.bundles.fields import FieldError, check_fields
from kindred.core.bundles.ledger import (
    HistoryError,
    check_chain,
    check_history,
    whole_events,
)
from kindred.core.bundles.records import check_records
from kindred.core.formats.adapters_check import check_adapter_fits
from kindred.core.formats.gguf_info import GGUFInfo, read_gguf
from kindred.core.formats.peft_files import CONFIG, SAFETENSORS, check_config, read_safetensors
from kindred.core.home.store import Store

FORMAT = "kindred-bundle/2"  # 2: the ledger is one chain to a named head (`bundle_ledger`)
READABLE = ("kindred-bundle/1", FORMAT)
HEADER = "bundle.json"
JSON_MEMBERS = ("versions.json", "conversations.json", "ledger.json")
_HEX = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(
    r"^(?:bundle\.json|versions\.json|conversations\.json|ledger\.json|feedback\.json"
    r"|objects/[0-9a-f]{64}/(?:adapter_model\.safetensors|adapter_config\.json|adapter\.gguf"
    r"|manifest\.json)|datasets/[0-9a-f]{64}|retirement\.json|records/[0-9a-f]{64})$"
)
_CHUNK = 1 << 20


class BundleError(KindredError):
    """The bundle is malformed, unsafe or does not fit this data home; nothing was changed."""


class AlreadyHereError(BundleError):
    """The bundle's versions are in this data home already (it was exported from here, or
    imported before): a plain import would archive them twice; a copy (`as_copy`) can.
    `assistant`: the name of the bundle's assistant."""

    def __init__(self, message: str, assistant: str) -> None:
        super().__init__(message)
        self.assistant = assistant


@dataclass(frozen=True)
class Limits:
    """Upper bounds that keep a hostile bundle from filling the disk or memory."""

    max_bundle: int = 64 * 1024**3
    max_member: int = 8 * 1024**3
    max_json: int = 512 * 1024**2
    max_members: int = 200_000


@dataclass
class CheckedBundle:
    """A bundle that passed every check, with its weight files staged in `staging`."""

    digest: str
    header: dict[str, Any]
    versions: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    events: list[dict[str, Any]]
    staging: Path
    home: Store | None = None
    """Set when the bundle was just exported from this home (`own`): its weights, datasets and
    records are checked where the home keeps them (they hash to what the bundle holds), so the
    check stages no copy of them."""
    datasets: list[str] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)  # interviews and reports
    waiting: list[str] = field(default_factory=list)
    """Versions made for a base model not registered here: imported, checked against their own
    content address; their fit to that base is checked when it is added and they are used."""

    def file(self, member: str) -> Path:
        """Where a checked member's bytes are: staged, or (own export) the home's own file."""
        if self.home is None:
            return self.staging / member
        return home_file(self.home, member)


def fail(message: str) -> BundleError:
    """The error for a refused bundle, saying once that nothing was changed (a message quoted
    from an inner error may say it already: "...: Bad name. Nothing was changed.." )."""
    text = re.sub(r"\.? Nothing was changed\.\.?", ".", message).rstrip()
    return BundleError(f"{text} Nothing was changed.")


def already_here(version_id: str, assistant: str) -> AlreadyHereError:
    return AlreadyHereError(
        f"Version {version_id[:12]} of {assistant} already exists in this data home: this "
        "bundle was exported from here or imported before. It can be imported as a copy, a new "
        "assistant beside the original whose versions get new ids. Nothing was changed.",
        assistant)


def safe_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise fail(f"The bundle holds an absolute path ('{name}').")
    if ".." in name.replace("\\", "/").split("/"):
        raise fail(f"The bundle holds a path that leaves its folder ('{name}').")
    if member.issym() or member.islnk():
        raise fail(f"The bundle holds a link ('{name}' -> '{member.linkname}').")
    if member.isdev() or member.isfifo():
        raise fail(f"The bundle holds a device or pipe ('{name}').")
    if not member.isfile() or member.issparse():
        raise fail(f"The bundle holds '{name}', which is not a plain file.")
    if not _NAME.match(name):
        raise fail(f"The bundle holds an unexpected file '{name}' (only Kindred's own "
                   "files, with safetensors and GGUF weights, are accepted).")


def _read_json(data: bytes, name: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise fail(f"The bundle's {name} is not valid JSON ({exc}).") from exc


def home_file(store: Store, member: str) -> Path:
    """The file of this home a bundle member was exported from."""
    from kindred.core.archive.objects import dataset_path
    from kindred.core.home.record_check import record_file

    kind, _, rest = member.partition("/")
    if kind == "objects":
        version_id, _, name = rest.partition("/")
        return version_dir(store.home, VersionId(version_id)) / name
    if kind == "datasets":
        return dataset_path(store, rest)
    return record_file(store.home.archive, rest)


def _copy_hashed(source: IO[bytes], target: Path | None, limit: int, *, keep: bool = True
                 ) -> tuple[str, bytes]:
    """Stream a member: its sha256, and its bytes if small (JSON) or a staged copy (or, with
    `keep` false, only its sha256)."""
    digest, parts, total = hashlib.sha256(), [], 0
    out = target.open("wb") if target else None
    try:
        while chunk := source.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise fail("A bundle member is larger than its header says.")
            digest.update(chunk)
            if out:
                out.write(chunk)
            elif keep:
                parts.append(chunk)
    finally:
        if out:
            out.close()
    return digest.hexdigest(), b"".join(parts)


def check_bundle(store: Store, path: Path, staging: Path, limits: Limits, *,
                 own: bool = False, copy: bool = False) -> CheckedBundle:
    """Everything about the bundle at `path`, checked; weight files copied into `staging`.

    `own`: the bundle was just exported from this data home (`export_bundle` checks every export
    with this code before it reports it written); its versions are here already, which is
    otherwise a reason to refuse it (AlreadyHereError). `copy`: it is being imported as a copy
    (`bundles.copies`: new version ids), so versions already here are no reason to refuse it
    either."""
    if not path.is_file():
        raise fail(f"{path}: no such file.")
    if path.stat().st_size > limits.max_bundle:
        raise fail(f"{path.name} is larger than the {limits.max_bundle} bytes allowed.")
    try:
        with tarfile.open(path, "r:") as tar:
            return _check_tar(store, tar, path.name, staging, limits, own, copy)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise fail(f"{path.name} is not a readable Kindred bundle ({exc}).") from exc


def _check_tar(store: Store, tar: tarfile.TarFile, name: str, staging: Path,
               limits: Limits, own: bool, copy: bool) -> CheckedBundle:
    members: dict[str, tarfile.TarInfo] = {}
    total = 0
    for member in tar:
        if len(members) >= limits.max_members:
            raise fail(f"{name} holds more than {limits.max_members} files.")
        safe_member(member)
        if member.name in members:
            raise fail(f"{name} holds '{member.name}' twice.")
        cap = limits.max_json if member.name.endswith(".json") else limits.max_member
        if member.size > cap:
            raise fail(f"'{member.name}' ({member.size} bytes) is larger than the {cap} "
                       "bytes allowed.")
        total += member.size
        if total > limits.max_bundle:
            raise fail(f"{name} unpacks to more than {limits.max_bundle} bytes.")
        members[member.name] = member
    if HEADER not in members:
        raise fail(f"{name} is not a Kindred bundle (it has no {HEADER}).")
    header = _read_json(_member_bytes(tar, members[HEADER], limits.max_json), HEADER)
    if not isinstance(header, dict) or header.get("format") not in READABLE:
        raise fail(f"{name} is not a {FORMAT} bundle.")
    listed = header.get("files")
    if not isinstance(listed, dict) or set(listed) != set(members) - {HEADER}:
        raise fail(f"{name}: its list of files does not match what it holds.")
    texts: dict[str, bytes] = {}
    for member_name, member in members.items():
        if member_name == HEADER:
            continue
        entry = listed[member_name]
        if not isinstance(entry, dict) or entry.get("size") != member.size:
            raise fail(f"'{member_name}' does not have the size the bundle lists.")
        text = member_name.endswith(".json") and member_name.count("/") == 0
        target = None if text or own else staging / member_name
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            raise fail(f"'{member_name}' cannot be read.")
        digest, data = _copy_hashed(source, target, member.size, keep=text)
        if digest != entry.get("sha256"):
            raise fail(f"'{member_name}' does not match its recorded sha256 (damaged or "
                       "tampered with).")
        if text:
            texts[member_name] = data
        elif own and sha256_file(home_file(store, member_name)) != digest:
            raise fail(f"'{member_name}' changed in this home while it was exported.")
    for required in JSON_MEMBERS:
        if required not in texts:
            raise fail(f"{name} lacks {required}.")
    bundle = CheckedBundle(
        digest=sha256_bytes(_member_bytes(tar, members[HEADER], limits.max_json)),
        header=header, versions=_read_json(texts["versions.json"], "versions.json"),
        conversations=_read_json(texts["conversations.json"], "conversations.json"),
        events=_read_json(texts["ledger.json"], "ledger.json"), staging=staging,
        home=store if own else None,
        feedback=_read_json(texts.get("feedback.json", b"[]"), "feedback.json"),
        records=_read_json(texts.get("retirement.json", b"[]"), "retirement.json"))
    _check_contents(store, bundle, members, here_ok=own or copy)
    return bundle


def _member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo, limit: int) -> bytes:
    source = tar.extractfile(member)
    if source is None:
        raise fail(f"'{member.name}' cannot be read.")
    return source.read(limit + 1)


def _check_contents(store: Store, bundle: CheckedBundle,
                    members: dict[str, tarfile.TarInfo], *, here_ok: bool) -> None:
    from kindred.core.archive.objects import check_folder, manifest_bytes

    assistant = bundle.header.get("assistant")
    if not isinstance(assistant, dict) or not isinstance(assistant.get("name"), str):
        raise fail("The bundle does not describe its assistant.")
    if not isinstance(bundle.versions, list) or not isinstance(bundle.conversations, list) \
            or not isinstance(bundle.events, list):
        raise fail("The bundle's versions, conversations or ledger are malformed.")
    bases = {r[0] for r in store.db.execute("SELECT sha256 FROM models").fetchall()}
    if str(assistant.get("model_sha256")) not in bases:
        # the assistant answers with it: without it there is nothing to chat with
        named = str(assistant.get("model_name") or "its base model")
        raise fail(f"{assistant['name']} answers with {named} (sha256 "
                   f"{str(assistant.get('model_sha256'))[:12]}), which is not among your "
                   "models here. Add that model file first (`kindred models add PATH`, or "
                   "Add a model in the app), then import again.")
    objects = {n.split("/")[1] for n in members if n.startswith("objects/")}
    seen: set[str] = set()
    for entry in bundle.versions:
        version_id = _check_version_entry(entry, manifest_bytes)
        if version_id in seen:
            raise fail(f"The bundle lists version {version_id[:12]} twice.")
        seen.add(version_id)
        if not here_ok and store.db.execute("SELECT 1 FROM versions WHERE id = ?",
                                            [version_id]).fetchone():
            raise already_here(version_id, str(assistant["name"]))
        folder = bundle.file(f"objects/{version_id}/{CONFIG}").parent
        if entry["status"] == VersionStatus.DELETED:
            if version_id in objects:
                raise fail(f"Deleted version {version_id[:12]} still has files in the bundle.")
            continue
        if version_id not in objects:
            raise fail(f"Version {version_id[:12]} has no files in the bundle.")
        problems = check_folder(folder, VersionId(version_id))
        if problems:
            raise fail(f"Version {version_id[:12]} in the bundle is damaged: "
                       + "; ".join(problems) + ".")
    if objects - seen:
        raise fail(f"The bundle holds files of an unlisted version {sorted(objects - seen)[0]}.")
    for entry in bundle.versions:
        if entry["status"] == VersionStatus.DELETED:
            continue
        if entry["base_sha256"] in bases:
            _check_weights(store, bundle.file(f"objects/{entry['id']}/{CONFIG}").parent,
                           entry, bundle.staging)
        else:  # a base removed or never added here: kept, as after `models remove`
            bundle.waiting.append(entry["id"])
    for member_name in members:
        if member_name.startswith("datasets/"):
            data_id = member_name.split("/")[1]
            if sha256_file(bundle.file(member_name)) != data_id:
                raise fail(f"Dataset {data_id[:12]} does not match its id.")
            bundle.datasets.append(data_id)
    entries = bundle.events
    try:  # each event alone first: its fields and its own hash
        bundle.events = whole_events(entries)
    except HistoryError as exc:
        raise fail(f"The bundle is malformed: {exc}.") from exc
    _check_conversations(bundle.conversations)
    problem = check_feedback(bundle.feedback, bundle.conversations)
    if problem:
        raise fail(f"The bundle is malformed: {problem}.")
    try:  # types and ranges, as strict as the CLI's own input (bundle_fields)
        check_fields(bundle.header, bundle.versions, bundle.conversations, bundle.events,
                     bundle.feedback)
    except FieldError as exc:
        raise fail(f"The bundle is malformed: {exc}.") from exc
    try:  # then the chain, and the history it tells against the versions (bundle_ledger)
        current = bundle.header.get("format") == FORMAT
        check_chain(entries, bundle.header.get("ledger_head"), linked=current)
        check_history(bundle.events, bundle.versions, assistant.get("active_version"),
                      header_knows=current)
    except HistoryError as exc:
        raise fail(f"The bundle is malformed: {exc}.") from exc
    events = [(str(e["kind"]), e["parsed"]) for e in bundle.events]
    problem = check_records(bundle.records, bundle.file, seen, events)
    if problem:
        raise fail(f"The bundle is malformed: {problem}.")


def _check_version_entry(entry: Any, manifest_bytes: Any) -> str:
    if not isinstance(entry, dict) or not _HEX.match(str(entry.get("id", ""))):
        raise fail("The bundle lists a version without a valid id.")
    version_id = str(entry["id"])
    manifest = entry.get("manifest")
    if not isinstance(manifest, dict) or sha256_bytes(manifest_bytes(manifest)) != version_id:
        raise fail(f"Version {version_id[:12]}'s manifest does not hash to its id.")
    checks = [
        (entry.get("status") in STATUSES, "status"),
        (entry.get("source") in SOURCES and entry.get("source") == manifest.get("source"),
         "source"),
        (entry.get("parent") is None or _HEX.match(str(entry.get("parent"))), "parent"),
        (entry.get("base_sha256") == (manifest.get("base") or {}).get("sha256"), "base model"),
        (isinstance(entry.get("created_at"), int | float), "creation time"),
    ]
    for ok, what in checks:
        if not ok:
            raise fail(f"Version {version_id[:12]} has an invalid {what}.")
    return version_id


def _check_weights(store: Store, folder: Path, entry: dict[str, Any], scratch: Path) -> None:
    from kindred.core.archive.objects import to_gguf_tensors

    row = store.db.execute("SELECT path FROM models WHERE sha256 = ?",
                           [entry["base_sha256"]]).fetchone()
    base = read_gguf(row[0])
    try:
        config = _read_json((folder / CONFIG).read_bytes(), f"{entry['id'][:12]}'s config")
        check_config(config)
        to_gguf_tensors(read_safetensors(folder / SAFETENSORS), base, SAFETENSORS)
        if (folder / "adapter.gguf").exists():  # format 1 stored it; format 2 derives it
            check_adapter_fits(read_gguf(folder / "adapter.gguf"), base)
        else:
            _check_derived(folder, entry, base, scratch)
    except BundleError:
        raise
    except KindredError as exc:
        raise fail(f"Version {entry['id'][:12]} in the bundle is unusable: {exc}") from exc


def _check_derived(folder: Path, entry: dict[str, Any], base: GGUFInfo, scratch: Path) -> None:
    """A format-2 version: the GGUF its manifest describes must come out of its weights with
    the recorded sha256, and fit the base."""
    from kindred.core.archive.derived import write_gguf

    spec = entry["manifest"].get("gguf")
    derived = scratch / f"derived-{entry['id']}.gguf"
    try:
        write_gguf(derived, read_safetensors(folder / SAFETENSORS), spec)
        same = sha256_file(derived) == spec["sha256"]
        check_adapter_fits(read_gguf(derived), base)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise fail(f"Version {entry['id'][:12]} in the bundle describes its GGUF wrongly "
                   f"({exc}).") from exc
    finally:
        derived.unlink(missing_ok=True)
    if not same:
        raise fail(f"Version {entry['id'][:12]} in the bundle: its weights do not give the GGUF "
                   "its manifest records.")


def _check_conversations(conversations: list[Any]) -> None:
    for conv in conversations:
        if not isinstance(conv, dict) or not isinstance(conv.get("title"), str) \
                or not isinstance(conv.get("messages"), list):
            raise fail("The bundle holds a malformed conversation.")
        messages = conv["messages"]
        for message in messages:
            if not isinstance(message, dict) \
                    or message.get("role") not in ("system", "user", "assistant") \
                    or not isinstance(message.get("content"), str) \
                    or not _adapters_ok(message.get("adapters", [])):
                raise fail("The bundle holds a malformed message.")
        for index in range(len(messages)):
            if not _replaced_by_ok(messages, index):
                raise fail("The bundle holds a malformed message (an answer replaced by "
                           "something that is not another answer of its conversation).")


def _replaced_by_ok(messages: list[dict[str, Any]], index: int) -> bool:
    """A replaced answer points to another answer of the same conversation: a later one
    (Regenerate) or an earlier one (the answer a side-by-side trial kept); following the
    pointers from it ends at an answer shown now (no circle)."""
    seen = {index}
    current = index
    while (target := messages[current].get("replaced_by")) is not None:
        if type(target) is not int or not 0 <= target < len(messages) or target in seen \
                or messages[current].get("role") != "assistant" \
                or messages[target].get("role") != "assistant":
            return False
        seen.add(target)
        current = target
    return True


def _adapters_ok(adapters: Any) -> bool:
    return isinstance(adapters, list) and all(
        isinstance(a, list) and len(a) == 2 and isinstance(a[0], str)
        and isinstance(a[1], int | float) for a in adapters)
