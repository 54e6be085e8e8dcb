"""The chat's hold on batched work (core/engine/foreground.py), without a model: who waits, for how
long, and that a hold nobody makes progress on stops holding anyone off."""

from __future__ import annotations

import threading
import time

import pytest

from kindred.core.engine import foreground


def _answer_elsewhere(seconds: float, touching: bool) -> tuple[threading.Thread, threading.Event]:
    """An answer written on another thread for `seconds`, making progress or not."""
    started = threading.Event()

    def write() -> None:
        with foreground.answering():
            started.set()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if touching:
                    foreground.touch()
                time.sleep(0.01)

    thread = threading.Thread(target=write)
    thread.start()
    started.wait(5)
    return thread, started


def test_nothing_being_answered_means_no_wait() -> None:
    assert foreground.wait_turn() == 0.0


def test_batched_work_waits_for_an_answer_in_progress_then_goes_on() -> None:
    thread, _ = _answer_elsewhere(0.6, touching=True)
    waited = foreground.wait_turn()
    thread.join()
    assert 0.4 <= waited < 5.0
    assert foreground.wait_turn() == 0.0


def test_the_answering_thread_never_waits_for_itself() -> None:
    with foreground.answering():
        assert foreground.wait_turn() == 0.0


def test_an_answer_without_progress_stops_holding_anyone_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A paused reader, or an answer left unfinished and not yet closed, must not stall the
    background work for long."""
    monkeypatch.setattr(foreground, "QUIET_S", 0.3)
    thread, _ = _answer_elsewhere(3.0, touching=False)
    try:
        waited = foreground.wait_turn()
        assert 0.1 <= waited < 1.5
    finally:
        thread.join()


def test_a_wait_is_bounded() -> None:
    thread, _ = _answer_elsewhere(2.0, touching=True)
    try:
        assert foreground.wait_turn(limit=0.3) < 1.5
    finally:
        thread.join()
