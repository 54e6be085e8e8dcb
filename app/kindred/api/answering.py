"""One API request answered on the engine's thread, through the chat's own engine code.

`run` streams the answer as events to the request's sink: ("piece", text) as it is written,
then ("done", Outcome) or ("error", message). Stop strings are held back until they can no
longer begin one. When the window's chat wants the engine (`chat_waiting`), the answer pauses
between two tokens and returns False: its host runs the chat's answer first, then `run` again
goes on from where it stopped (the prompt and what was written so far, evaluated again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, cast

from kindred.core.basics.ids import AssistantId
from kindred.core.engine.llama import (
    AdapterRef,
    Engine,
    Generation,
    GenerationStats,
    Message,
)

Sink = Callable[[tuple[str, Any]], None]


@dataclass
class Outcome:
    """What an answer cost and which versions gave it (recorded for Usage)."""

    adapters: list[tuple[str, float]]
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    ttft_s: float | None = None
    tok_s: float | None = None
    finish_reason: str = "stop"


@dataclass
class Job:
    assistant_id: AssistantId
    refs: list[AdapterRef]
    messages: list[Message]
    sampling: Any  # the assistant's sampling with the request's changes (`app._sampling`)
    sink: Sink
    stops: list[str] = field(default_factory=list)
    seed: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    raw: str = ""             # everything generated so far (stop strings included)
    sent: int = 0             # how much of `raw` the client has
    outcome: Outcome | None = None
    pauses: int = 0
    finished: bool = False    # the client has the whole answer (or its error)
    abandoned: bool = False   # the client left before the end


def _held_back(text: str, stops: list[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop string."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:n]):
                longest = max(longest, n)
                break
    return longest


def _first_stop(text: str, start: int, stops: list[str]) -> int | None:
    found = [i for i in (text.find(s, start) for s in stops) if i >= 0]
    return min(found) if found else None


def use_adapters(engine: Engine, refs: list[AdapterRef]) -> None:
    """Attach `refs` unless they are attached already (a change resets llama.cpp's cache)."""
    now = [(a.key, a.scale) for a in engine.adapters]
    if now != [(r.key, r.scale) for r in refs]:
        engine.set_adapters(refs)


def _segment(engine: Engine, job: Job) -> tuple[Generation, GenerationStats]:
    """The generation for this stretch: the whole request, or the rest of a paused one."""
    if job.outcome is None:
        generation = engine.chat(job.messages, job.sampling)
        return generation, generation.stats
    generation = engine.continue_chat(job.messages, job.raw, job.sampling,
                                      job.outcome.tokens_out)
    return generation, generation.stats


def run(engine: Engine, job: Job, chat_waiting: Callable[[], bool] = lambda: False) -> bool:
    """Answer (or go on answering) `job`; False when it paused for the chat."""
    try:
        return _run(engine, job, chat_waiting)
    except Exception as exc:  # the client gets an error; the engine stays usable
        job.sink(("error", f"The answer failed ({type(exc).__name__}: {exc})."))
        return True


def _run(engine: Engine, job: Job, chat_waiting: Callable[[], bool]) -> bool:
    if job.cancelled.is_set():
        job.sink(("done", job.outcome or Outcome([(r.key, r.scale) for r in job.refs],
                                                 finish_reason="cancelled")))
        return True
    use_adapters(engine, job.refs)
    seed_before = engine.llm._seed
    if job.seed is not None and job.outcome is None:
        engine.llm.set_seed(job.seed)
    try:
        return _write(engine, job, chat_waiting)
    finally:
        engine.llm.set_seed(seed_before)  # the chat's own seed, as it was


def _write(engine: Engine, job: Job, chat_waiting: Callable[[], bool]) -> bool:
    generation, stats = _segment(engine, job)
    first = job.outcome is None
    outcome = job.outcome or Outcome(stats.adapters)
    job.outcome = outcome
    paused = stopped = False
    pieces = cast(Generator[str, None, None], iter(generation))  # Generation.__iter__ is one
    try:
        for piece in pieces:
            job.raw += piece
            at = _first_stop(job.raw, max(0, job.sent - 200), job.stops) if job.stops else None
            if at is not None:
                if at > job.sent:
                    job.sink(("piece", job.raw[job.sent:at]))
                job.sent = max(job.sent, at)
                job.raw = job.raw[:job.sent]
                stopped = True
                break
            ready = len(job.raw) - _held_back(job.raw, job.stops)
            if ready > job.sent:
                job.sink(("piece", job.raw[job.sent:ready]))
                job.sent = ready
            if job.cancelled.is_set():
                break
            if chat_waiting():
                paused = True
                break
    finally:
        pieces.close()  # ends llama.cpp's generator and the engine's foreground hold
    outcome.tokens_out += stats.tokens_out
    if first:
        outcome.tokens_in = stats.tokens_in
        outcome.ttft_s = stats.ttft_s
    outcome.tok_s = stats.tok_s if first or outcome.tok_s is None else outcome.tok_s
    if paused and outcome.tokens_out < job.sampling.max_tokens and stats.finish_reason \
            not in ("stop",):
        job.pauses += 1
        return False
    if job.sent < len(job.raw):
        job.sink(("piece", job.raw[job.sent:]))
        job.sent = len(job.raw)
    outcome.text = job.raw
    outcome.finish_reason = ("stop" if stopped else "cancelled" if job.cancelled.is_set()
                             else stats.finish_reason)
    job.sink(("done", outcome))
    return True
