"""How slow core work reports how far it got: the one event every generator yields.

Slow operations (quality cards, insight, interviews, migration data) are generators that yield
`Progress` and return their result (`Generator[Progress, None, Result]`), so the GUI's background
helper shows a bar and the CLI prints lines, and neither needs to know which operation it is
watching; `run_to_end` and the window's task helper both take the return value.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Progress:
    fraction: float
    """Done so far, 0 to 1."""
    message: str


def run_to_end(work: Generator[Item, None, Result],
               each: Callable[[Item], None] | None = None) -> Result:
    """Drive a generator to its end, handing each yielded item to `each`; its return value."""
    while True:
        try:
            item = next(work)
        except StopIteration as finished:
            return finished.value  # type: ignore[no-any-return]
        if each is not None:
            each(item)


def result_last(events: Iterator[Progress | Result]) -> Generator[Progress, None, Result | None]:
    """An operation that still hands its result over as its last event (insight, the quality
    card, the migration's data and card steps), read by the rule above: progress yielded, the
    result returned. Remove once each returns its result itself."""
    result: Result | None = None
    for event in events:
        if isinstance(event, Progress):
            yield event
        else:
            result = event
    return result
