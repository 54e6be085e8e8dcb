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


def test_the_version_it_archived_is_named_as_history_names_it() -> None:
    archived = run_text.sentence({"event": "archived", "version": "ab" * 32}, 12, 12,
                                 "Version 2")
    assert archived == ("Archived as Version 2, a candidate. Measuring its quality against "
                        "the base model…")
    done = run_text.sentence({"event": "done", "version": "ab" * 32}, 12, 12, "Version 2")
    assert done == "Done: Version 2 is archived as a candidate, with its quality card."
    # (the last quality message stayed up under a finished run, the bar "measuring quality")


def test_finished_preparation_and_unknown_events_say_nothing() -> None:
    assert run_text.preparing({"event": "teacher", "done": 8, "total": 8}) is None
    assert run_text.sentence({"event": "teacher", "done": 8, "total": 8}, 0, 0) is None
    assert run_text.sentence({"event": "step", "step": 3}, 3, 20) is None
    assert run_text.sentence({"event": "something new"}, 0, 0) is None


def test_the_loss_charts_legend_names_held_out_points_only_once_there_are_some(qtbot) -> None:  # type: ignore[no-untyped-def]
    from kindred.ui.training.training_widgets import LossChart

    chart = LossChart()
    qtbot.addWidget(chart)
    chart.show()  # a legend marker is visible only on a shown chart

    def named() -> bool:
        return all(m.isVisible() for m in chart.chart().legend().markers(chart.heldout))

    chart.add_step(1, 2.0)
    assert not named()
    chart.add_heldout(0, 2.5)
    assert named()
    chart.clear(10)
    assert not named()


def test_time_left_comes_from_the_rate_measured_in_the_phase(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kindred.ui.training import run_progress

    clock = [100.0]
    monkeypatch.setattr(run_progress.time, "monotonic", lambda: clock[0])
    rate = run_progress.RateEstimate("Measuring quality")
    assert rate.left(0.0, False) == "Measuring quality…"  # nothing measured yet: no promise
    clock[0] += 60
    assert rate.left(0.25, False) == "Measuring quality: about 3 min left"  # 60 s per 25 %
    clock[0] += 60
    assert rate.left(0.3, False) == "Measuring quality: about 5 min left"  # it slowed down
    assert rate.left(0.1, True) == "Measuring quality…"  # a replayed run starts over
