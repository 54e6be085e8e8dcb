"""Start-up pre-flight: a missing X11 library or display is a clear message, not Qt's abort."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from kindred.ui.shell import preflight


def test_missing_libraries_are_named_with_their_packages() -> None:
    gone = {"libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-shape.so.0"}
    out = io.StringIO()
    code = preflight.check({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"},
                           load=lambda soname: soname not in gone, stream=out)
    text = out.getvalue()
    assert code == preflight.EXIT_NO_DISPLAY
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4, libxcb-shape.so.0" in text
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-shape0\n" in text
    assert "sudo dnf install xcb-util-cursor xcb-util-wm libxcb\n" in text
    assert "libxcb-keysyms" not in text


def test_nothing_missing_and_a_display_goes_ahead() -> None:
    out = io.StringIO()
    assert preflight.check({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"},
                           load=lambda soname: True, stream=out) == 0
    assert out.getvalue() == ""


def test_other_platforms_are_not_checked() -> None:
    def never(soname: str) -> bool:
        raise AssertionError("offscreen needs no X11 library")

    assert preflight.problem({"QT_QPA_PLATFORM": "offscreen"}, load=never) is None
    assert preflight.problem({"WAYLAND_DISPLAY": "wayland-0"}, load=never) is None
    assert preflight.platform_name({}) == ("xcb" if sys.platform == "linux" else "")
    assert preflight.platform_name({"QT_QPA_PLATFORM": "xcb:dpi=96;wayland"}) == "xcb"


def test_loading_uses_the_real_dynamic_loader() -> None:
    assert preflight.can_load("libc.so.6")
    assert not preflight.can_load("libkindred-no-such-library.so.7")


def test_gui_without_a_display_says_so_instead_of_aborting(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="xcb", KINDRED_HOME=str(tmp_path / "gui-home"))
    done = subprocess.run([sys.executable, "-m", "kindred", "gui"], env=env, text=True,
                          capture_output=True, timeout=120)
    assert done.returncode == preflight.EXIT_NO_DISPLAY, done.stderr
    problem = preflight.problem(env)
    assert problem is not None and problem in done.stderr  # missing libraries or no display
    assert "Could not load the Qt platform plugin" not in done.stderr
    assert not (tmp_path / "gui-home").exists()  # stopped before anything was opened
