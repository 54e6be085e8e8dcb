"""Helpers for the tests of preparing a base for training (`core.training.prepare`)."""

from __future__ import annotations

import json

from kindred.core.home.atomic import write_atomic
from kindred.core.session import Session
from kindred.core.training import prepare, replay
from support.training_helpers import use_shared_cache


def almost_prepared(session: Session) -> prepare.Target:
    """A target with its weights (the shared cache, hard-linked) and replayed answers (made-up
    text: nothing trains on them here) in place, so only the quality card's base half (the
    suite's tiny question set: a few seconds) is left to prepare for real."""
    target = prepare.target_for(session.store, session.assistant().id)
    assert target is not None
    use_shared_cache(session.home, target.base_sha256)
    version, prompts = replay.shipped_prompts()
    path = replay.cache_path(target.cache_root, target.base_sha256, target.system, version)
    write_atomic(path, json.dumps({p: "A plain answer to that request." for p in prompts}
                                  ).encode())
    assert prepare.missing(target) == ["quality"]
    return target
