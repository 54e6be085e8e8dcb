"""The preservation CLI: versions, ledger, report, export/import, as a user runs them.

The flows a user types (import, the [y/N] prompt, typing an id to delete, chat through the active
version, export/import across homes) run as real subprocesses; the rest call the same `main()`
in-process to keep the suite fast.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kindred.cli import main
from kindred.core.archive import versions
from kindred.core.basics.sampling import Sampling
from kindred.core.chat.conversations import list_conversations, list_messages
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import update_assistant
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from kindred.core.upgrades import retirement
from support.archive_helpers import make_version, write_peft_folder


def kindred(*args: str, home: Path, input: str | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kindred", *args, "--home", str(home)],
                          capture_output=True, text=True, input=input, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: DataHome,
        *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([*args, "--home", str(home.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_activate_by_prompt_and_chat_through_it(home: DataHome, session: Session,
                                                       model_path: Path,
                                                       tmp_path: Path) -> None:
    folder = write_peft_folder(model_path, tmp_path / "my-lora", seed=3, magnitude=0.08)
    out = kindred("versions", "import", str(folder), home=home.root)
    assert out.returncode == 0, out.stderr
    new_id = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"[0-9a-f]{64}", new_id)
    listed = json.loads(kindred("versions", "list", "--json", home=home.root).stdout)
    assert [(v["id"], v["status"], v["source"], v["parent"]) for v in listed] == [
        (new_id, "candidate", "imported", None)]
    assert isinstance(listed[0]["created_at"], float) and listed[0]["name"] == "Version 1"
    table = kindred("versions", "list", home=home.root).stdout
    assert "NAME" in table and "Version 1" in table and new_id[:12] in table

    refused = kindred("versions", "activate", new_id[:8], home=home.root, input="n\n")
    assert refused.returncode == 1 and "[y/N]" in refused.stderr
    assert "refused" in refused.stdout
    assert versions.get_version(session.store, new_id).status == "refused"
    granted = kindred("versions", "activate", new_id[:8], home=home.root, input="y\n")
    assert granted.returncode == 0, granted.stderr
    assert session.assistant().active_version == new_id
    decided = [e.payload for e in ledger.events(session.store, kind=ledger.CONSENT_DECIDED)]
    assert [(d["granted"], d["via"]) for d in decided] == [(False, "cli-prompt"),
                                                           (True, "cli-prompt")]

    update_assistant(session.store, 1, sampling=Sampling(temperature=0.0, max_tokens=6))
    chat = kindred("chat", "-m", "Hello", home=home.root)
    assert chat.returncode == 0, chat.stderr
    [conv] = list_conversations(session.store, 1)
    assert list_messages(session.store, conv.id)[-1].adapters == [(new_id, 1.0)]


def test_yes_flag_is_recorded_as_cli_flag_consent(
        home: DataHome, session: Session, model_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    update_assistant(session.store, 1, sampling=Sampling(temperature=0.0, max_tokens=4))
    first = make_version(session, model_path, seed=1)
    second = make_version(session, model_path, seed=2, parent=first.id)
    code, out, _ = run(capsys, monkeypatch, home, "versions", "activate", first.id, "--yes")
    assert code == 0 and "now active" in out
    assert "Version 1 is interviewed when it steps down" not in out  # nothing to replace
    code, out, err = run(capsys, monkeypatch, home, "versions", "activate", second.id[:6],
                         "--yes")
    assert code == 0 and "Version 1 is interviewed when it steps down" in out
    # The version that stepped down was interviewed at once (its answers capped at 4 tokens).
    held = retirement.interview_for(session.store, first.id)
    assert held is not None and "retirement interview" in err
    assert len(held.content["answers"]) == len(retirement.question_set()[1])
    code, out, _ = run(capsys, monkeypatch, home, "versions", "restore", first.id[:6],
                       stdin="")  # no answer (EOF) means no
    assert code == 1 and session.assistant().active_version == second.id
    assert f"kindred versions interview {first.short}" in out  # its consent links it
    code, _, _ = run(capsys, monkeypatch, home, "versions", "restore", first.id[:6], "--yes")
    assert code == 0 and session.assistant().active_version == first.id
    history = consent.history(session.store, 1)
    assert [(r.kind, d.granted if d else None, d.via if d else None) for r, d in history] == [
        ("activate", True, "cli-flag"), ("activate", True, "cli-flag"),
        ("restore", False, "cli-prompt"), ("restore", True, "cli-flag")]
    # Restoring the first retired the second, which was interviewed and reported at once.
    assert [e.kind for e in ledger.events(session.store)[-3:]] == [
        ledger.RESTORED, ledger.INTERVIEWED, ledger.REPORTED]


def test_show_retire_and_ids_by_prefix(home: DataHome, session: Session, model_path: Path,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    version = make_version(session, model_path)
    code, out, _ = run(capsys, monkeypatch, home, "versions", "show", version.id[:5], "--json")
    shown = json.loads(out)
    assert code == 0 and shown["id"] == version.id and shown["verified"] is True
    assert set(shown["files"]) == {"adapter_config.json", "adapter_model.safetensors"}
    code, out, _ = run(capsys, monkeypatch, home, "versions", "show", version.id[:5])
    assert code == 0 and version.id in out
    code, _, err = run(capsys, monkeypatch, home, "versions", "show", "zz")
    assert code == 2 and "not a version id" in err
    run(capsys, monkeypatch, home, "versions", "activate", version.id, "--yes")
    code, _, err = run(capsys, monkeypatch, home, "versions", "retire", version.id, stdin="n\n")
    assert code == 1 and session.assistant().active_version == version.id
    update_assistant(session.store, 1, sampling=Sampling(temperature=0.0, max_tokens=4))
    code, out, _ = run(capsys, monkeypatch, home, "versions", "retire", version.id, "--yes")
    assert code == 0 and "weights are kept" in out
    assert retirement.interview_for(session.store, version.id) is not None  # was in use
    assert session.assistant().active_version is None
    assert versions.get_version(session.store, version.id).status == "retired"


def test_delete_requires_typing_the_id(home: DataHome, session: Session, model_path: Path,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    keep = make_version(session, model_path, seed=1)
    doomed = make_version(session, model_path, seed=2)
    code, _, _ = run(capsys, monkeypatch, home, "versions", "delete", doomed.id, stdin="yes\n")
    assert code == 1 and versions.get_version(session.store, doomed.id).status == "candidate"
    code, _, _ = run(capsys, monkeypatch, home, "versions", "delete", doomed.id,
                     "--confirm", keep.id[:12])
    assert code == 1 and versions.version_dir(session.home, doomed.id).exists()
    out = kindred("versions", "delete", doomed.id[:8], home=home.root,
                  input=doomed.short + "\n")
    assert out.returncode == 0, out.stderr
    assert "Type the version id" in out.stderr
    assert versions.get_version(session.store, doomed.id).status == "deleted"
    assert not versions.version_dir(session.home, doomed.id).exists()
    code, _, _ = run(capsys, monkeypatch, home, "versions", "delete", keep.id,
                     "--confirm", keep.id)
    assert code == 0
    decisions = [(d.granted, d.via) for _, d in consent.history(session.store, 1) if d]
    assert decisions == [(False, "cli-prompt"), (False, "cli-flag"), (True, "cli-prompt"),
                         (True, "cli-flag")]
    code, out, _ = run(capsys, monkeypatch, home, "report", "--json")
    report = json.loads(out)
    assert (report["archived"], report["deleted"], report["candidate"]) == (2, 2, 0)


def test_verify_ledger_and_report(home: DataHome, session: Session, model_path: Path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    good = make_version(session, model_path, seed=1)
    bad = make_version(session, model_path, seed=2)
    run(capsys, monkeypatch, home, "versions", "activate", good.id, "--yes")
    assert run(capsys, monkeypatch, home, "versions", "verify")[0] == 0
    target = versions.version_dir(session.home, bad.id) / "adapter_config.json"
    target.parent.chmod(0o755)
    target.chmod(0o644)
    target.write_text(target.read_text().replace('"r": 4', '"r": 5'))
    code, out, _ = run(capsys, monkeypatch, home, "versions", "verify")
    assert code == 1 and f"BAD  Version {bad.short} is damaged" in out
    assert f"OK   Version {good.short}" in out

    code, out, _ = run(capsys, monkeypatch, home, "ledger", "list", "--json")
    events = json.loads(out)
    assert code == 0 and [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert run(capsys, monkeypatch, home, "ledger", "verify")[0] == 0
    session.store.db.execute("UPDATE ledger SET kind = 'nothing' WHERE seq = 3")
    code, out, _ = run(capsys, monkeypatch, home, "ledger", "verify")
    assert code == 1 and "first bad event: 3" in out

    code, out, _ = run(capsys, monkeypatch, home, "report", "--json")
    report = json.loads(out)
    assert {k: report[k] for k in ("archived", "active", "candidate", "refused", "retired",
                                   "deleted")} == {"archived": 2, "active": 1, "candidate": 1,
                                                   "refused": 0, "retired": 0, "deleted": 0}
    assert report["ledger_ok"] is False and report["damaged"] == [bad.id]


def test_export_and_import_across_homes(home: DataHome, session: Session, model_path: Path,
                                        tmp_path: Path) -> None:
    first = make_version(session, model_path, seed=1)
    second = make_version(session, model_path, seed=2, parent=first.id)
    versions.activate(session.store, first.id, _yes(session, "activate", first.id))
    versions.activate(session.store, second.id, _yes(session, "activate", second.id))
    bundle = tmp_path / "kindred-export.tar"
    out = kindred("export", "Kindred", str(bundle), home=home.root)
    assert out.returncode == 0, out.stderr
    other = tmp_path / "other-home"
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bundle.read_bytes()[:2048])
    refused = kindred("import", str(bad), home=other)
    assert refused.returncode == 2 and "Nothing was changed" in refused.stderr
    out = kindred("import", str(bundle), "--as", "Moved", "--yes", home=other)
    assert out.returncode == 0, out.stderr
    listed = json.loads(kindred("versions", "list", "--json", "-a", "Moved", home=other).stdout)
    assert {v["id"]: v["status"] for v in listed} == {first.id: "retired", second.id: "active"}
    assert kindred("ledger", "verify", home=other).returncode == 0
    assert kindred("versions", "verify", home=other).returncode == 0


def _yes(session: Session, kind: str, subject: str) -> consent.Decision:
    from kindred.core.archive import assistant_state

    state = assistant_state.fingerprint(session.store, 1, subject)
    req = consent.request(session.store, kind, 1, subject, f"{kind} {subject[:12]}",
                          {"state": state})
    return consent.decide(session.store, req.id, granted=True, via="gui")
