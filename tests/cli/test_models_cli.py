"""`kindred models remove` and what the archive says afterwards (in-process `main`, fast)."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from kindred.cli import main
from kindred.core.archive import objects as archive
from kindred.core.home.assistants import create_assistant
from kindred.core.home.models import add_model, ensure_embedded_model, list_models
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from support.archive_helpers import activate, lora_config, make_version
from support.lora import peft_tensors


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: DataHome,
        *args: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main([*args, "--home", str(home.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_models_remove_then_add_again(capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch, home: DataHome,
                                      session: Session, model_path: Path,
                                      sibling_model_path: Path) -> None:
    store = session.store
    embedded = ensure_embedded_model(store)
    sibling = add_model(store, sibling_model_path)
    bo = create_assistant(store, "Bo", model_id=sibling.id)
    old = make_version(session, sibling_model_path, assistant=bo)
    activate(session, archive.archive_peft(store, bo, peft_tensors(model_path, layers=(0,)),
                                           lora_config(), model=embedded))  # Bo moves on

    code, _, err = run(capsys, monkeypatch, home, "models", "remove", embedded.id, "--yes")
    assert code == 2 and "built-in model" in err

    code, out, err = run(capsys, monkeypatch, home, "models", "remove", sibling.id, stdin="n\n")
    assert code == 1 and "[y/N]" in err and "refused" in out
    assert f"Version 1 of Bo ({old.short}, candidate)" in out
    assert sibling.id in [m.id for m in list_models(store)]

    code, out, _ = run(capsys, monkeypatch, home, "models", "remove", sibling.name, "--yes")
    assert code == 0 and f"the file {sibling.path} is kept" in out
    assert sibling.id not in [m.id for m in list_models(store)] and sibling.path.is_file()

    code, out, _ = run(capsys, monkeypatch, home, "versions", "verify")
    assert code == 0 and "BAD" not in out and "damaged" not in out
    assert (f"{old.short} verifies; its base model {sibling.name} (sha256 "
            f"{sibling.sha256[:12]}) is not among your models") in out
    checks = json.loads(run(capsys, monkeypatch, home, "versions", "verify", "--json")[1])
    assert [c["id"] for c in checks if c["base_missing"]] == [old.id]
    shown = json.loads(run(capsys, monkeypatch, home, "versions", "show", old.short, "--json")[1])
    assert shown["verified"] and sibling.sha256[:12] in shown["base_missing"]
    code, out, _ = run(capsys, monkeypatch, home, "versions", "show", old.short)
    assert code == 0 and "not among your models" in out
    code, _, err = run(capsys, monkeypatch, home, "versions", "activate", old.short, "--yes")
    assert code == 2 and "Add that model file again" in err

    code, out, _ = run(capsys, monkeypatch, home, "models", "add", str(sibling_model_path))
    assert code == 0 and f"can be used again: {old.short}" in out
    assert out.strip().splitlines()[-1] == sibling.id
