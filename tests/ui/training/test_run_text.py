"""The Training page's words for a run's events, apart from the page."""

from __future__ import annotations

from kindred.ui.training import run_text


def test_each_phase_is_said_with_where_it_stands() -> None:
    assert run_text.sentence({"event": "start", "examples": 4, "resumed_from": 6}, 0, 20) == (
        "Training on 4 examples, continuing from step 6.")
    paused = run_text.sentence({"event": "paused"}, 7, 20)
    assert paused is not None and paused.startswith("Paused at step 7 of 20")
    teacher = run_text.sentence({"event": "teacher", "done": 2, "total": 8}, 0, 0)
    assert teacher is not None and "the way your examples show" in teacher and "(3 of 8)" in teacher
    assert run_text.preparing({"event": "replay", "done": 2, "total": 8}) == (25, "3 of 8")


def test_finished_preparation_and_unknown_events_say_nothing() -> None:
    assert run_text.preparing({"event": "teacher", "done": 8, "total": 8}) is None
    assert run_text.sentence({"event": "teacher", "done": 8, "total": 8}, 0, 0) is None
    assert run_text.sentence({"event": "step", "step": 3}, 3, 20) is None
    assert run_text.sentence({"event": "something new"}, 0, 0) is None
