"""A consent's evidence in words: what bears on the decision said plainly (names, durations,
a plan as a sentence), no `null`, no raw lists; the record's internals set aside, not lost."""

from __future__ import annotations

from pathlib import Path

from kindred.core.home import consent
from kindred.core.session import Session
from kindred.core.upgrades import decisions, rollout
from kindred.core.upgrades.consent_words import in_words
from support.archive_helpers import activate, make_version


def test_rollout_start_and_next_step_in_words(session: Session, model_path: Path) -> None:
    store = session.store
    a = activate(session, make_version(session, model_path, seed=1))
    b = make_version(session, model_path, seed=2, parent=a.id)
    aid = a.assistant_id
    kind, summary, evidence = rollout.describe_start(store, b, rollout.Plan(3, 5))
    start = consent.request(store, kind, aid, b.id, summary, evidence)
    words = in_words(store, start)
    said = dict(words.lines)
    assert words.title == "Start a gradual replacement?"
    assert said["Version"] == f"Version 2 ({b.id[:12]})"
    assert said["Replaces"] == f"Version 1 ({a.id[:12]})"
    assert said["Pace"].startswith("3 steps, one step every 5 answers; it holds by itself")
    text = " ".join(f"{k} {v}" for k, v in words.lines)
    assert "null" not in text and "None" not in text and "every days" not in text
    assert "state" not in dict(words.technical)  # the fingerprint is for the core's check

    decisions.answer(store, start.id, granted=True, via="gui")
    kind, summary, evidence = rollout.describe_next_step(store, aid)
    step = in_words(store, consent.request(store, kind, aid, b.id, summary, evidence))
    assert step.title == "Take the next step now?"
    assert dict(step.lines)["Answers after this step"] == "Version 1 33 % + Version 2 67 %"
    assert [k for k, _ in step.technical] == ["rollout"]  # the rollout's row id, for the record


def test_unknown_evidence_goes_to_the_technical_part(session: Session) -> None:
    aid = session.assistant().id
    request = consent.request(session.store, "train", aid, "run-1", "Train.",
                              {"counts": {"correction": 2, "liked": 1}, "examples": 3,
                               "heldout": 1, "estimated_s": 125, "parent": None,
                               "config": {"rank": 8}, "dataset": "ab" * 32})
    words = in_words(session.store, request)
    said = dict(words.lines)
    assert said["Learns from"] == "2 corrected answers, 1 liked answer"
    assert said["Examples"] == "3 to learn from, 1 held out to measure it"
    assert said["Expected time"] == "about 2 min"
    assert said["Starts from"] == "a new adapter"
    assert dict(words.technical) == {"config": {"rank": 8}, "dataset": "ab" * 32}
