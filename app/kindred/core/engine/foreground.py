"""The chat comes first: while an answer is being written in this process, batched work on other
threads (an insight worked out on What it learned) waits between its decodes; and llama.cpp's
computations on different threads take turns, never run at once (`computing`).

Lowering a thread's priority (`core.priority`) is not enough inside one process on two cores:
llama.cpp's threads wait for each other at every layer, so a few slices given to the other
computation still stall every token of the answer. bench/contention.py, the chat's decode beside
insights computed over and over (2026-12-02): neither 0.007 of its speed alone; the lowered
thread 0.73-0.81; this hold at the same priority 0.35-0.40 (a decode already under way goes on);
both 0.73-0.91 (median 0.81). Holding off costs the background work only the answer's own time.
Across processes (training, the insight worked out ahead) the lowered priority is what keeps
the chat fast.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

_changed = threading.Condition()
_answering: Counter[int] = Counter()
"""Answers being written, by the thread writing them."""

LONGEST_WAIT_S = 30.0
"""A batched decode never waits longer than this for one answer."""
QUIET_S = 3.0
"""An answer that has made no progress for this long (`touch`) no longer holds anyone off: its
reader paused, or it was left unfinished and not yet closed; a long prompt evaluation still
counts as progress for this long."""
_touched = 0.0


@contextlib.contextmanager
def answering() -> Iterator[None]:
    """Held by the chat while it evaluates a prompt and writes an answer (`Engine.chat`)."""
    me = threading.get_ident()
    touch()
    with _changed:
        _answering[me] += 1
    try:
        yield
    finally:
        with _changed:
            _answering[me] -= 1
            if not _answering[me]:
                del _answering[me]
            _changed.notify_all()


def touch() -> None:
    """The answer made progress (a token); cheap enough to call for every one."""
    global _touched
    _touched = time.monotonic()


def _others() -> bool:
    """An answer is being written on another thread (a thread never waits for itself)."""
    return any(thread != threading.get_ident() for thread in _answering)


def wait_turn(limit: float = LONGEST_WAIT_S) -> float:
    """Wait while an answer is being written on another thread of this process and making
    progress (at most `limit` seconds); the seconds waited. Returns at once when none is."""
    if not _answering:
        return 0.0
    began = time.monotonic()
    with _changed:
        if not _others():
            return 0.0
        while (_others() and time.monotonic() - _touched < QUIET_S
               and time.monotonic() - began < limit):
            _changed.wait(0.05)
    return time.monotonic() - began


# -- one computation at a time -----------------------------------------------------------------

P = ParamSpec("P")
R = TypeVar("R")


class _Turns:
    """llama.cpp's computations in this process one at a time, in the order they asked.

    Two engines computing at once on two cores (the chat's answer beside a retirement
    interview, a review's side-by-side or a trial's second side, each an `Engine.chat` on its
    own thread) each run at a fraction of their speed alone: llama.cpp's threads spin at every
    layer for partners that the other engine's threads have taken the core from. Measured
    (two threads, 64-token greedy answers, 2 cores): 14-54 s per answer at once, 0.6 s alone.
    Taking turns at every decode (a prompt's evaluation or one token) gives each about half
    the speed instead, and no answer waits for a whole other answer."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next = 0
        self._serving = 0

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        with self._changed:
            ticket = self._next
            self._next += 1
            while self._serving != ticket:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()


_turns = _Turns()


def computing() -> contextlib.AbstractContextManager[None]:
    """Held around every llama.cpp decode in this process (never nested)."""
    return _turns.turn()


def one_at_a_time(compute: Callable[P, R]) -> Callable[P, R]:
    """`compute` taking its turn (`computing`) at every call."""
    def taking_turns(*args: P.args, **kwargs: P.kwargs) -> R:
        with computing():
            return compute(*args, **kwargs)
    return taking_turns
