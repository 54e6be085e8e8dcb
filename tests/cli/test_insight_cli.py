"""`kindred learned` and `kindred usage` as real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kindred.core.home.assistants import create_assistant, get_assistant
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback, insight
from kindred.core.session import open_session
from support.archive_helpers import activate, make_version
from support.cli import kindred


@pytest.mark.slow  # a real training or insight: minutes, not seconds
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


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_learned_background_fills_the_cache_quietly_with_the_versions_own_prompt(
        home: DataHome, model_path: Path) -> None:
    """What the window runs when a training made a version: nothing on stdout, progress on
    stderr, and the cache the What-it-learned page reads (under the system prompt of the
    version's own assistant, not the first one's)."""
    session = open_session(home.root)
    session.assistant()  # the first assistant, with no preferences
    other = create_assistant(session.store, "Robin", persona="You are terse.")
    feedback.add_preference(session.store, other.id, "Call me Ada")
    feedback.add_example(session.store, other.id, "Any tea?", "Mint tea, Ada.")
    version = make_version(session, model_path, layers=(0, 1, 2), assistant=other)
    system = feedback.system_prompt(session.store, get_assistant(session.store, other.id))
    assert "Ada" in system and insight.cached(session.store, version.id, system=system) is None
    session.close()

    out = kindred("learned", version.id, "--background", home=home.root, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and "%]" in out.stderr
    session = open_session(home.root)
    result = insight.cached(session.store, version.id, system=system)
    session.close()
    assert result is not None and result["version"] == version.id
    assert result["preferences"] == ["Call me Ada"]
