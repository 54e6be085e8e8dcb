"""`kindred learned` and `kindred usage` as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

from kindred.core.paths import DataHome
from kindred.core.session import open_session
from support.archive_helpers import activate, make_version
from support.cli import kindred


def test_learned_defaults_to_the_active_version(home: DataHome, model_path: Path) -> None:
    none_yet = kindred("learned", home=home.root)
    assert none_yet.returncode == 2 and "no active version" in none_yet.stderr
    session = open_session(home.root)
    version = make_version(session, model_path, layers=(0, 1, 2))
    activate(session, version)
    session.close()
    out = kindred("learned", "--json", home=home.root, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["version"] == version.id
    for key in ("preferences", "examples", "probes", "style", "tokens", "layers", "fit"):
        assert key in result
    assert {"prompt", "base", "adapter"} <= set(result["probes"][0])
    assert {"token", "score", "count"} == set(result["tokens"]["promoted"][0])
    # a row per layer of the base: this adapter changed layers 0-2 only
    assert [row["layer"] for row in result["layers"]] == list(range(30))
    assert [row["layer"] for row in result["layers"] if row["modules"]] == [0, 1, 2]
    assert set(result["fit"]) >= {"base_nll", "adapter_nll"}
    assert "%]" in out.stderr  # progress went to stderr
    text = kindred("learned", version.id[:8], home=home.root, timeout=120)
    assert text.returncode == 0 and "What version" in text.stdout
    assert "%]" not in text.stderr  # answered from the cache: the model was never loaded


def test_usage_json_counts_messages(home: DataHome) -> None:
    assert kindred("chat", "-m", "Hello", home=home.root).returncode == 0
    out = kindred("usage", "--json", home=home.root)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["per_version"]["base"]["messages"] == 1
    assert sum(day["messages"] for day in data["per_day"].values()) == 1
    assert data["days_together"] == 1
    assert "base" in kindred("usage", home=home.root).stdout
