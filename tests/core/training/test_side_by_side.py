"""The review's side-by-side answers say when they were cut at the token limit."""

from __future__ import annotations

from pathlib import Path

from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import Engine
from kindred.core.session import Session
from kindred.core.training import evidence
from support.archive_helpers import make_version


def test_an_answer_cut_at_the_limit_ends_with_an_ellipsis(session: Session, engine: Engine,
                                                          model_path: Path) -> None:
    version = make_version(session, model_path, seed=1)
    short = Sampling(temperature=0.0, top_k=1, max_tokens=3)
    rows = evidence.side_by_side(engine, session.store, session.assistant(), version.id,
                                 ["Write a long story about the sea."], short)
    assert rows[0]["current"].endswith("…") and rows[0]["candidate"].endswith("…")
    roomy = Sampling(temperature=0.0, top_k=1, max_tokens=200)
    rows = evidence.side_by_side(engine, session.store, session.assistant(), version.id,
                                 ["Say just: yes"], roomy)
    assert not rows[0]["current"].endswith("…")
