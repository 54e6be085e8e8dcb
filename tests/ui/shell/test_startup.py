"""Start-up: the process's start time, and `kindred gui --smoke` as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kindred.ui.shell import startup


def test_process_start_time_is_the_kernels_record_not_the_import() -> None:
    """A process that waits a second before importing the module still counts that second
    (its start comes from /proc, not from the import), and never a negative age. (It used to
    assert an age under an hour in the test process itself, which failed in a suite run that
    took longer than that.)"""
    code = ("import time; time.sleep(1.0); from kindred.ui.shell import startup; "
            "print(startup.since_start(), startup.PROCESS_START <= startup._IMPORTED_AT)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    age, before = done.stdout.split()
    assert 1.0 <= float(age) < 60 and before == "True"
    assert startup.since_start() >= 0


def test_gui_smoke_prints_timings_without_torch(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "kindred", "gui", "--smoke", "--home", str(tmp_path / "h")],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) == {"window_shown_s", "model_ready_s", "torch_imported"}
    assert result["torch_imported"] is False
    assert 0 < result["window_shown_s"] <= result["model_ready_s"] < 120
