"""Run the `kindred` command as a real subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def kindred(*args: str, home: Path | None = None, input: str | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kindred", *args]
    if home is not None:
        cmd += ["--home", str(home)]
    return subprocess.run(cmd, capture_output=True, text=True, input=input, timeout=timeout,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
