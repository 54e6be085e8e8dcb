"""How long since the process started, for `kindred gui --smoke`.

Measured from the real process start (the kernel's record on Linux), so interpreter start-up
and imports count too; elsewhere we fall back to the moment this module was imported.
"""

from __future__ import annotations

import os
import time

_IMPORTED_AT = time.time()


def _linux_start_time() -> float | None:
    """Wall-clock time at which this process started, from /proc, or None if unavailable."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            stat = f.read()
        with open("/proc/uptime", encoding="ascii") as f:
            uptime = float(f.read().split()[0])
        # The command name (field 2) may hold spaces: count fields after its closing paren.
        fields = stat[stat.rindex(")") + 2:].split()
        start_ticks = int(fields[19])  # field 22 of the whole line
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    age = uptime - start_ticks / ticks
    return time.time() - max(age, 0.0)


PROCESS_START = _linux_start_time() or _IMPORTED_AT


def since_start() -> float:
    """Seconds elapsed since the process started."""
    return time.time() - PROCESS_START
