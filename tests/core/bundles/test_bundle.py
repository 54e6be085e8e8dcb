"""Export/import bundles: a full round trip, and malformed bundles that leave the home untouched."""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kindred.core.archive import objects as archive
from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.bundles.bundle import BundleError, Limits, export_bundle, import_bundle
from kindred.core.chat.conversations import GenerationStats as Stats
from kindred.core.chat.conversations import (
    add_message,
    create_conversation,
    earlier_answers,
    list_conversations,
    list_messages,
    mark_replaced,
)
from kindred.core.home import consent, ledger
from kindred.core.home.atomic import remove_tree
from kindred.core.learning import feedback
from kindred.core.session import Session, open_session
from kindred.core.upgrades import decisions
from support.archive_helpers import activate, bundle_members, grant, home_state, make_version


@pytest.fixture(scope="module")
def source(model_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A home with a rich history, exported once: (bundle path, {role: version id})."""
    root = Path(tempfile.mkdtemp(prefix="kindred-bundle-src-"))
    s = open_session(root / "home")
    data = archive.put_dataset(s.store, b'{"prompt": "hi", "answer": "hello"}\n')
    first = make_version(s, model_path, seed=1)
    second = make_version(s, model_path, seed=2, parent=first.id)
    refused = make_version(s, model_path, seed=3, parent=first.id)
    doomed = make_version(s, model_path, seed=4, parent=first.id)
    with_data = archive.archive_peft_folder(
        s.store, s.assistant(), _peft(model_path, root / "peft"), parent=second.id,
        dataset=data)
    activate(s, first)
    activate(s, second)
    req = consent.request(s.store, "activate", 1, refused.id, "Use it?")
    decisions.answer(s.store, req.id, granted=False, via="gui")
    versions.delete(s.store, doomed.id, grant(s, "delete", doomed))
    conv = create_conversation(s.store, 1)
    add_message(s.store, conv.id, "user", "Hello there")
    answer = add_message(s.store, conv.id, "assistant", "Hi!",
                         Stats([(second.id, 1.0)], 5, 2, 0.1, 20.0, "stop"))
    feedback.rate(s.store, answer.id, 1)
    feedback.correct(s.store, answer.id, "Hello! How can I help?")
    regenerated = add_message(s.store, conv.id, "assistant", "Hello, friend.",
                              Stats([(second.id, 1.0)], 5, 3, 0.1, 20.0, "stop"))
    mark_replaced(s.store, answer.id, regenerated.id)  # Regenerate kept the first answer
    feedback.add_preference(s.store, 1, "Keep answers short.")
    bundle = root / "kindred.bundle"
    export_bundle(s.store, s.assistant(), bundle)
    s.close()
    yield bundle, {"first": first.id, "second": second.id, "refused": refused.id,
                   "deleted": doomed.id, "with_data": with_data.id, "dataset": data}
    remove_tree(root)


def _peft(model_path: Path, folder: Path) -> Path:
    from support.archive_helpers import write_peft_folder

    return write_peft_folder(model_path, folder, seed=5)


def test_round_trip_restores_the_whole_history(session: Session,
                                               source: tuple[Path, dict[str, str]]) -> None:
    bundle, ids = source
    result = import_bundle(session.store, bundle)
    assistant = result.assistant
    assert assistant.name == "Kindred (imported)"  # the new home has its own "Kindred"
    statuses = {v.id: v.status for v in versions.list_versions(session.store, assistant.id)}
    assert statuses == {ids["first"]: "retired", ids["second"]: "retired",
                        ids["refused"]: "refused", ids["deleted"]: "deleted",
                        ids["with_data"]: "candidate"}
    assert result.was_active == ids["second"] and assistant.active_version is None
    assert all(c.ok for c in archive.verify_all(session.store, assistant.id))
    assert not versions.version_dir(session.home, ids["deleted"]).exists()
    tomb = versions.get_version(session.store, ids["deleted"])
    assert len(tomb.files) == 2  # the tombstone keeps its hashes (weights, config)
    assert archive.dataset_path(session.store, ids["dataset"]).read_bytes().startswith(b"{")
    [conv] = list_conversations(session.store, assistant.id)
    assert [(m.role, m.content, m.adapters) for m in list_messages(session.store, conv.id)] == [
        ("user", "Hello there", []), ("assistant", "Hello, friend.", [(ids["second"], 1.0)])]
    visible = list_messages(session.store, conv.id)[-1]
    assert [m.content for m in earlier_answers(session.store, visible.id)] == ["Hi!"]
    learned = feedback.list_feedback(session.store, assistant.id)
    assert sorted((f.kind, f.message_id is not None) for f in learned) == [
        ("correction", True), ("preference", False), ("rating", True)]
    rated = feedback.list_feedback(session.store, assistant.id, "rating")[0]
    assert rated.value == 1 and rated.message_id == earlier_answers(session.store, visible.id)[0].id
    assert ledger.verify(session.store).ok
    replayed = [e for e in ledger.events(session.store, assistant_id=assistant.id)
                if "origin" in e.payload]
    kinds = {e.kind for e in replayed}
    assert {ledger.VERSION_ARCHIVED, ledger.ACTIVATED, ledger.REFUSED, ledger.DELETED,
            ledger.CONSENT_DECIDED} <= kinds
    # restoring what was active is the user's decision, through the normal gate
    version = versions.get_version(session.store, ids["second"])
    assert versions.consent_kind_for(session.store, version) == "restore"
    versions.restore(session.store, version.id, grant(session, "restore", version))
    refs = archive.adapter_refs(session.store, session.assistant(assistant.id))
    assert [r.key for r in refs] == [ids["second"]]
    periods = versions.active_periods(session.store, assistant.id)
    assert len(periods[ids["first"]]) == 1 and len(periods[ids["second"]]) == 2
    with pytest.raises(BundleError, match="already exists"):
        import_bundle(session.store, bundle, name="Again")


def test_export_refuses_a_damaged_version(session: Session, model_path: Path,
                                          tmp_path: Path) -> None:
    version = make_version(session, model_path)
    target = versions.version_dir(session.home, version.id) / "adapter_model.safetensors"
    target.parent.chmod(0o755)
    target.chmod(0o644)
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(KindredError, match=r"damaged.*Export refused"):
        export_bundle(session.store, session.assistant(), tmp_path / "x.bundle")
    assert not (tmp_path / "x.bundle").exists()
    assert list(tmp_path.glob(".*partial")) == []


# -- malformed bundles -----------------------------------------------------------------------


def _members(bundle: Path) -> dict[str, bytes]:
    return bundle_members(bundle)


def _pack(path: Path, members: dict[str, bytes], *, rehash: bool = True,
          extra: list[tarfile.TarInfo] | None = None) -> Path:
    """Write members as a tar; `rehash` recomputes bundle.json like a careful forger would."""
    if rehash:
        header = json.loads(members["bundle.json"])
        header["files"] = {n: {"sha256": sha256_bytes(d), "size": len(d)}
                           for n, d in members.items() if n != "bundle.json"}
        for info in extra or []:
            header["files"][info.name] = {"sha256": sha256_bytes(b""), "size": 0}
        members = {**members, "bundle.json": json.dumps(header).encode()}
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra or []:
            tar.addfile(info)
    return path


def _obj(members: dict[str, bytes], file: str) -> str:
    return next(n for n in members if n.startswith("objects/") and n.endswith(file))


def _with_member(name: str, data: bytes = b"x") -> Callable[[dict[str, bytes], Path], Path]:
    def make(members: dict[str, bytes], out: Path) -> Path:
        return _pack(out, {**members, name: data})
    return make


def _link(kind: bytes, name: str, target: str) -> Callable[[dict[str, bytes], Path], Path]:
    def make(members: dict[str, bytes], out: Path) -> Path:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, target
        if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            info.devmajor, info.devminor = 1, 3
        return _pack(out, members, extra=[info])
    return make


def _bad_hash(members: dict[str, bytes], out: Path) -> Path:
    name = _obj(members, "adapter_model.safetensors")
    data = bytearray(members[name])
    data[-1] ^= 0xFF
    return _pack(out, {**members, name: bytes(data)}, rehash=False)


def _truncated(members: dict[str, bytes], out: Path) -> Path:
    full = _pack(out.with_suffix(".full"), members)
    out.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return out


def _not_a_tar(members: dict[str, bytes], out: Path) -> Path:
    out.write_bytes(b"PK\x03\x04 definitely not a tar" * 100)
    return out


def _no_header(members: dict[str, bytes], out: Path) -> Path:
    rest = {k: v for k, v in members.items() if k != "bundle.json"}
    return _pack(out, rest, rehash=False)


def _unlisted_member(members: dict[str, bytes], out: Path) -> Path:
    path = _pack(out, members)
    with tarfile.open(path, "a") as tar:
        info = tarfile.TarInfo("ledger.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"[]"))
    return path


def _manifest_not_its_id(members: dict[str, bytes], out: Path) -> Path:
    entries = json.loads(members["versions.json"])
    entries[0]["manifest"]["metrics"] = {"loss": 0.0}
    return _pack(out, {**members, "versions.json": json.dumps(entries).encode()})


def _forged_version_with_corrupt_weights(members: dict[str, bytes], out: Path) -> Path:
    """A forger who recomputes every hash: the weights themselves must still parse."""
    from kindred.core.archive.objects import manifest_bytes

    entries = json.loads(members["versions.json"])
    entry = next(e for e in entries if e["status"] != "deleted")
    old = entry["id"]
    files = {n.rsplit("/", 1)[1]: d for n, d in members.items() if n.startswith(f"objects/{old}")}
    files["adapter_model.safetensors"] = files["adapter_model.safetensors"][:-100]
    manifest = dict(entry["manifest"])
    manifest["files"] = dict(manifest["files"],
                             **{"adapter_model.safetensors":
                                sha256_bytes(files["adapter_model.safetensors"])})
    files["manifest.json"] = manifest_bytes(manifest)
    new = sha256_bytes(files["manifest.json"])
    entry.update(id=new, manifest=manifest)
    rest = {n: d for n, d in members.items() if not n.startswith(f"objects/{old}")}
    rest.update({f"objects/{new}/{n}": d for n, d in files.items()})
    rest["versions.json"] = json.dumps(entries).encode()
    return _pack(out, rest)


def _tampered_ledger(members: dict[str, bytes], out: Path) -> Path:
    events = json.loads(members["ledger.json"])
    event = next(e for e in events if e["kind"] == "activated")
    event["payload"] = event["payload"].replace('"via":"gui"', '"via":"cli-flag"')
    return _pack(out, {**members, "ledger.json": json.dumps(events).encode()})


def _unknown_base(members: dict[str, bytes], out: Path) -> Path:
    header = json.loads(members["bundle.json"])
    header["assistant"]["model_sha256"] = "f" * 64
    return _pack(out, {**members, "bundle.json": json.dumps(header).encode()})


def _malformed_message(members: dict[str, bytes], out: Path) -> Path:
    convs = json.loads(members["conversations.json"])
    convs[0]["messages"][0]["role"] = "root"
    return _pack(out, {**members, "conversations.json": json.dumps(convs).encode()})


def _replaced_backwards(members: dict[str, bytes], out: Path) -> Path:
    convs = json.loads(members["conversations.json"])
    convs[0]["messages"][1]["replaced_by"] = 0  # an answer "replaced" by an earlier message
    return _pack(out, {**members, "conversations.json": json.dumps(convs).encode()})


def _version_without_files(members: dict[str, bytes], out: Path) -> Path:
    entries = json.loads(members["versions.json"])
    keep = next(e for e in entries if e["status"] != "deleted")["id"]
    return _pack(out, {n: d for n, d in members.items() if not n.startswith(f"objects/{keep}")})


def _feedback_to_nowhere(members: dict[str, bytes], out: Path) -> Path:
    items = json.loads(members["feedback.json"])
    items[0]["message"] = [0, 99]
    return _pack(out, {**members, "feedback.json": json.dumps(items).encode()})


BAD_BUNDLES: list[tuple[str, Callable[[dict[str, bytes], Path], Path], str]] = [
    ("traversal", _with_member("objects/../../evil.json"), "leaves its folder"),
    ("absolute", _with_member("/tmp/evil.json"), "absolute path"),
    ("symlink", _link(tarfile.SYMTYPE, "datasets/" + "a" * 64, "/etc/passwd"), "a link"),
    ("hardlink", _link(tarfile.LNKTYPE, "datasets/" + "b" * 64, "bundle.json"), "a link"),
    ("device", _link(tarfile.CHRTYPE, "datasets/" + "c" * 64, ""), "device"),
    ("pickle member", _with_member("objects/" + "d" * 64 + "/adapter_model.bin"),
     "unexpected file"),
    ("bad hash", _bad_hash, "does not match its recorded sha256"),
    ("truncated", _truncated, "not a readable Kindred bundle"),
    ("not a tar", _not_a_tar, "not a readable Kindred bundle"),
    ("no header", _no_header, "has no bundle.json"),
    ("unlisted duplicate", _unlisted_member, "twice"),
    ("manifest edited", _manifest_not_its_id, "does not hash to its id"),
    ("forged weights", _forged_version_with_corrupt_weights, "unusable.*truncated"),
    ("tampered ledger", _tampered_ledger, "was altered"),
    ("unknown base model", _unknown_base, "answers with .* not among your models here"),
    ("malformed message", _malformed_message, "malformed message"),
    ("replaced backwards", _replaced_backwards, "malformed message"),
    ("missing version files", _version_without_files, "has no files in the bundle"),
    ("feedback to nowhere", _feedback_to_nowhere, "points at a message"),
]


@pytest.mark.parametrize(("label", "make", "message"), BAD_BUNDLES,
                         ids=[b[0] for b in BAD_BUNDLES])
def test_malformed_bundles_change_nothing(session: Session, tmp_path: Path,
                                          source: tuple[Path, dict[str, str]], label: str,
                                          make: Callable[[dict[str, bytes], Path], Path],
                                          message: str) -> None:
    bad = make(_members(source[0]), tmp_path / "bad.bundle")
    before = home_state(session)
    with pytest.raises(BundleError, match=message) as caught:
        import_bundle(session.store, bad)
    assert "Nothing was changed" in str(caught.value)
    assert home_state(session) == before


@pytest.mark.parametrize(("limits", "message"), [
    (Limits(max_member=10_000), "larger than the 10000 bytes allowed"),
    (Limits(max_bundle=50_000), "larger than the 50000 bytes allowed"),
    (Limits(max_json=100), "larger than the 100 bytes allowed"),
    (Limits(max_members=5), "more than 5 files"),
])
def test_oversized_bundles_are_refused(session: Session, source: tuple[Path, dict[str, str]],
                                       limits: Limits, message: str) -> None:
    before = home_state(session)
    with pytest.raises(BundleError, match=message):
        import_bundle(session.store, source[0], limits=limits)
    assert home_state(session) == before


def test_a_taken_name_given_explicitly_is_refused(session: Session,
                                                  source: tuple[Path, dict[str, str]]) -> None:
    before = home_state(session)
    with pytest.raises(BundleError, match="already an assistant named 'Kindred'"):
        import_bundle(session.store, source[0], name="Kindred")
    assert home_state(session) == before
