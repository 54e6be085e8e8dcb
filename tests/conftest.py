"""Test configuration: offscreen Qt, a temporary data home for every test, real model fixtures."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Before anything imports Qt: no test ever needs a screen.
os.environ["QT_QPA_PLATFORM"] = "offscreen"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Every trained candidate gets a real quality card; the suite measures it on a tiny set
# (tests of the card itself use the shipped one).
os.environ.setdefault("KINDRED_QUALITY_SET",
                      str(Path(__file__).parent / "support" / "quality_tiny.json"))
# The window prepares a base for training in the background once something is taught, and works
# out a new version's insight ahead; only the tests of those (tests/ui/training/test_preparation.py,
# tests/ui/learning/test_insight_ahead.py) let it, so no other test shares its cores with them.
os.environ.setdefault("KINDRED_BACKGROUND_PREPARE", "0")
os.environ.setdefault("KINDRED_BACKGROUND_INSIGHT", "0")
# Retirement interviews are held for real wherever a version steps down; short answers here.
os.environ.setdefault("KINDRED_INTERVIEW_TOKENS", "8")
# Every training answers the review's questions with both versions; short answers here too.
os.environ.setdefault("KINDRED_REVIEW_TOKENS", "16")
# Every default training makes its replay mix (the base's and the teacher's answers); shorter
# answers here (tests/core/learning, which measures what is learned, keeps the full length).
os.environ.setdefault("KINDRED_REPLAY_TOKENS", "32")
# A safety net: even a test that forgets its fixture never touches the real data home.
os.environ["KINDRED_HOME"] = tempfile.mkdtemp(prefix="kindred-test-session-")

import pytest

from kindred.core.home.paths import DataHome, resolve_home
from kindred.core.session import Session, open_session

pytest_plugins = ["support.bases"]  # second base models (sibling, Gemma) for migration tests


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DataHome:
    """Every test gets its own empty data home, also exported as KINDRED_HOME."""
    root = tmp_path / "home"
    monkeypatch.setenv("KINDRED_HOME", str(root))
    return resolve_home(root)


@pytest.fixture
def session(home: DataHome) -> Iterator[Session]:
    s = open_session(home.root)
    yield s
    s.close()


@pytest.fixture(scope="session")
def model_path() -> Path:
    from kindred.core.home.models import embedded_model_path

    return embedded_model_path()


@pytest.fixture(scope="session")
def shared_engine(model_path: Path):  # type: ignore[no-untyped-def]
    """One real llama.cpp engine on the embedded model for the whole run (loading is slow)."""
    from kindred.core.engine.llama import Engine

    eng = Engine(model_path, n_ctx=2048)
    yield eng
    eng.close()


@pytest.fixture
def engine(shared_engine):  # type: ignore[no-untyped-def]
    """The shared engine as a test gets it: the bare base, whatever an earlier test attached
    (a rollout's blend left attached must not decide what the next test sees)."""
    if shared_engine.adapters:
        shared_engine.set_adapters([])
    return shared_engine


UNMARKED_LIMIT_S = float(os.environ.get("KINDRED_UNMARKED_LIMIT_S", "300"))
"""An unmarked test that runs longer than this fails: real trainings and insights belong
behind `slow`, so `make test-fast` (`-m "not slow"`, which sets 30 s) stays a quick loop.
0 turns the check off (a machine loaded by other work)."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if (UNMARKED_LIMIT_S and report.when == "call" and report.passed
            and item.get_closest_marker("slow") is None
            and report.duration > UNMARKED_LIMIT_S):
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} took {report.duration:.0f} s without "
                           f"@pytest.mark.slow (limit {UNMARKED_LIMIT_S:g} s): mark it slow "
                           "or make it faster.")
