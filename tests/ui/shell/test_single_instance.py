"""One window per data home: a second `kindred` on the same home brings the first window forward
and exits at once; another home opens normally; an app that died leaves no lock behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kindred.core.home.paths import DataHome
from kindred.ui.shell.single_instance import SingleInstance


def test_a_second_start_on_the_same_home_brings_the_first_forward(qtbot, home: DataHome,  # type: ignore[no-untyped-def]
                                                                   tmp_path: Path) -> None:
    first = SingleInstance(home.root)
    assert not first.already_running() and first.listen()
    try:
        with qtbot.waitSignal(first.activated, timeout=60_000):
            second = subprocess.Popen(
                [sys.executable, "-m", "kindred", "--home", str(home.root)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
            qtbot.waitUntil(lambda: second.poll() is not None, timeout=60_000)
        _, err = second.communicate(timeout=30)
        assert second.returncode == 0, err
        assert "already open" in err and "Traceback" not in err
        other = SingleInstance(tmp_path / "another-home")
        (tmp_path / "another-home").mkdir()
        assert not other.already_running()
        other.close()
    finally:
        first.close()


def test_the_lock_of_an_app_that_died_is_gone(home: DataHome) -> None:
    code = ("import sys, os; from pathlib import Path; "
            "from kindred.ui.shell.single_instance import SingleInstance; "
            "s = SingleInstance(Path(sys.argv[1])); assert not s.already_running(); "
            "os._exit(9)")  # dies holding the lock, as in a crash
    done = subprocess.run([sys.executable, "-c", code, str(home.root)], check=False)
    assert done.returncode == 9
    fresh = SingleInstance(home.root)
    try:
        assert not fresh.already_running() and fresh.listen()
        assert SingleInstance(home.root).already_running()
    finally:
        fresh.close()
