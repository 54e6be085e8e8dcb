"""Nothing private travels: no absolute path, user name or host name in archived files or in an
exported bundle. The base model is named by its sha256 and display name only."""

from __future__ import annotations

import getpass
import json
import socket
import tarfile
from pathlib import Path

from kindred.core.archive import objects as archive
from kindred.core.archive.bundle import export_bundle
from kindred.core.archive.catalog import version_dir
from kindred.core.chat.conversations import add_message, create_conversation
from kindred.core.learning import feedback
from kindred.core.paths import DataHome
from kindred.core.session import Session
from support.archive_helpers import activate, lora_config, write_peft_folder


def _needles(home: DataHome) -> list[bytes]:
    found = [str(home.root), str(home.root.parent), f"pytest-of-{getpass.getuser()}"]
    if str(Path.home()) not in ("/", ""):
        found.append(str(Path.home()))
    host = socket.gethostname()
    if len(host) >= 4:  # shorter names would match by chance
        found.append(host)
    return [n.encode() for n in found]


def test_an_exported_bundle_names_no_path_user_or_host(session: Session, home: DataHome,
                                                       model_path: Path, tmp_path: Path) -> None:
    model = session.model_for(session.assistant())
    # What PEFT's save_pretrained writes after Kindred trained on its cached base: the folder
    # the base was loaded from, inside the data home (inside the person's home folder).
    config = lora_config(base_model_name_or_path=str(home.cache / "bases" / model.sha256),
                         revision=None)
    folder = write_peft_folder(model_path, tmp_path / "trained", config=config)
    version = archive.archive_peft_folder(session.store, session.assistant(), folder)
    activate(session, version)
    conv = create_conversation(session.store, session.assistant().id)
    add_message(session.store, conv.id, "user", "Hello")
    feedback.add_preference(session.store, session.assistant().id, "Keep it short.")

    archived = json.loads((version_dir(home, version.id) / "adapter_config.json").read_text())
    assert archived["base_model_name_or_path"] == model.name
    manifest = json.loads((version_dir(home, version.id) / "manifest.json").read_text())
    assert manifest["base"]["sha256"] == model.sha256

    bundle = tmp_path / "out" / "kindred.bundle"
    bundle.parent.mkdir()
    export_bundle(session.store, session.assistant(), bundle)
    needles = _needles(home)
    with tarfile.open(bundle) as tar:
        members = tar.getmembers()
        assert len(members) >= 6
        for member in members:
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            for needle in needles:
                assert needle not in data, f"{member.name} holds {needle.decode()!r}"
            assert needle not in member.name.encode()
    raw = bundle.read_bytes()
    for needle in needles:
        assert needle not in raw
