"""`kindred import FILE --as-copy [--name NAME]`: a bundle of an assistant this home already
holds is refused with a pointer to --as-copy, and comes back beside it as a copy."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from kindred.cli import main
from kindred.core.archive import versions
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from support.archive_helpers import activate, home_state, make_version


def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, home: DataHome,
        *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main([*args, "--home", str(home.root)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_import_as_copy_beside_the_original(home: DataHome, session: Session,
                                            model_path: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_version(session, model_path, seed=1)
    second = activate(session, make_version(session, model_path, seed=2, parent=first.id))
    bundle = tmp_path / "my kindred.kindred"
    code, _, err = run(capsys, monkeypatch, home, "export", "Kindred", str(bundle))
    assert code == 0, err

    before = home_state(session)
    code, _, err = run(capsys, monkeypatch, home, "import", str(bundle))
    assert code == 2
    assert "already exists in this data home" in err
    assert f"kindred import '{bundle}' --as-copy [--name NAME]. Nothing was changed." in err
    assert err.count("Nothing was changed") == 1
    assert home_state(session) == before

    code, out, err = run(capsys, monkeypatch, home, "import", str(bundle), "--as-copy",
                         "--name", "Twin", "--yes")
    assert code == 0, err
    assert "Imported assistant Twin, a copy of Kindred: 2 versions under new ids" in out
    twin = session.assistant("Twin")
    copied = versions.list_versions(session.store, twin.id)
    assert [v.manifest["copy"]["of"] for v in copied] == [first.id, second.id]
    assert twin.active_version == copied[1].id  # --yes restored the copy of what was active
    assert session.assistant("Kindred").active_version == second.id
    assert "Version 2 is active for Twin." in out  # named as History names it, not a hash
    # chatting with the copy names its versions as its own History does
    code, _, err = run(capsys, monkeypatch, home, "chat", "-a", "Twin", "-m", "Hi")
    assert code == 0 and err.strip().endswith("(Version 2)"), err

    code, out, err = run(capsys, monkeypatch, home, "versions", "verify")
    assert code == 0, out + err
    code, out, _ = run(capsys, monkeypatch, home, "ledger", "verify")
    assert code == 0, out
    code, out, _ = run(capsys, monkeypatch, home, "import", str(bundle), "--as-copy")
    assert code == 0 and "Imported assistant Kindred (copy), a copy of Kindred" in out
    code, out, _ = run(capsys, monkeypatch, home, "assistants", "list", "--json")
    assert code == 0
    assert [a["name"] for a in json.loads(out)] == ["Kindred", "Twin", "Kindred (copy)"]
