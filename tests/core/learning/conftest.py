"""The learning tests measure what a version learns: they train on full-length replayed answers,
as the app does (the rest of the suite shortens them, see tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def full_length_replay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KINDRED_REPLAY_TOKENS", raising=False)
