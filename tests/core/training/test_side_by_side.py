"""The review's side-by-side answers say when they were cut at the token limit."""

from __future__ import annotations

import json
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


def test_review_answers_are_kept_for_the_review_and_redone_when_the_state_moves(
        session: Session, engine: Engine, model_path: Path) -> None:
    from kindred.core.training.evidence import REVIEW_CACHE, review_answers
    from support.archive_helpers import activate

    store, assistant = session.store, session.assistant()
    candidate = make_version(session, model_path, seed=1)
    brief = Sampling(temperature=0.0, top_k=1, max_tokens=4)
    first = review_answers(store, engine, assistant, candidate.id, brief)
    path = session.home.cache / REVIEW_CACHE / f"{candidate.id}.json"
    assert path.is_file() and first and all({"prompt", "current", "candidate"} <= set(r)
                                             for r in first)
    first_key = json.loads(path.read_text())["key"]
    # kept: the same answers come back without llama.cpp (a closed engine would fail)
    closed = Engine(model_path, n_ctx=512)
    closed.close()
    assert review_answers(store, closed, assistant, candidate.id, brief) == first
    # what the assistant talks through changed: the "current" column is answered again
    activate(session, make_version(session, model_path, seed=2))
    again = review_answers(store, engine, session.assistant(), candidate.id, brief)
    assert again and json.loads(path.read_text())["key"] != first_key
    assert review_answers(store, closed, session.assistant(), candidate.id, brief) == again
