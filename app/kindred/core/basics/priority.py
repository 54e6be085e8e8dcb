"""Background work gives the cores to the chat: a lower priority for a whole worker process
(training, preparation, insight worked out ahead) or for one thread of the app's own process
(an insight or a quality card computed while the person may be chatting).

On two cores, two llama.cpp computations at the same priority each get about half the cores,
and llama.cpp's threads wait for each other at every layer, so the chat's answer slows down far
more than half. At a lower priority the background work gets what the chat leaves.
"""

from __future__ import annotations

import os
import sys
import threading

BACKGROUND_NICE = 19


def renice(variable: str, default: int) -> int:
    """Lower this process's priority to the niceness in `variable` (else `default`). Returns
    the niceness now (unchanged where not permitted)."""
    try:
        wanted = int(os.environ.get(variable, default))
    except ValueError:
        wanted = default
    try:
        return os.nice(max(0, wanted - os.nice(0)))
    except OSError:  # not permitted here: run at the normal priority
        return os.nice(0)


def lower_this_thread(niceness: int = BACKGROUND_NICE) -> int | None:
    """Lower the calling thread's priority (Linux, where niceness is per thread); the threads
    it starts from then on (llama.cpp's, for each computation) start with it. It cannot be
    raised again without privileges, so call it only on a thread that does background work for
    good. Returns the thread's niceness now, None where threads have no niceness of their own."""
    if not sys.platform.startswith("linux"):
        return None
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < niceness:
            os.setpriority(os.PRIO_PROCESS, tid, niceness)
        return os.getpriority(os.PRIO_PROCESS, tid)
    except OSError:  # not permitted: the normal priority
        return None
