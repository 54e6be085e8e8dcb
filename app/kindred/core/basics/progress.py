"""How slow core work reports how far it got: the one event every generator yields.

Slow operations (quality cards, insight, interviews, migration data) are generators that yield
`Progress` and finally their result, so the GUI's background helper shows a bar and the CLI prints
lines, and neither needs to know which operation it is watching.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
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
