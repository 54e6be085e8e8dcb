"""How slow core work reports how far it got: the one event every generator yields.

Slow operations (quality cards, insight, interviews, migration data) are generators that yield
`Progress` and finally their result, so the GUI's background helper shows a bar and the CLI prints
lines, and neither needs to know which operation it is watching.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    fraction: float
    """Done so far, 0 to 1."""
    message: str
