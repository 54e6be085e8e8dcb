"""Start-up pre-flight: can Qt open a window here? Checked before the QApplication exists.

Without a few X11 libraries Qt's xcb platform plugin cannot load, and Qt then aborts with
"Could not load the Qt platform plugin "xcb"" and a core dump, which tells a person nothing
about what to install. We look for those libraries first and, if any is missing, say which
ones and the packages that provide them (Debian/Ubuntu and Fedora), and exit cleanly.
No Qt import here: this must work exactly when Qt would not.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

EXIT_NO_DISPLAY = 78  # sysexits' EX_CONFIG: the system is missing something, not Kindred


@dataclass(frozen=True)
class SystemLibrary:
    soname: str
    debian: str  # Debian and Ubuntu package
    fedora: str


# What Qt's xcb platform plugin (and Qt Gui under it) loads from the system; PySide6's wheels
# bundle Qt and ICU but none of these. From `ldd libqxcb.so libQt6XcbQpa.so.6 libQt6Gui.so.6`.
XCB_LIBRARIES = (
    SystemLibrary("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor"),
    SystemLibrary("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm"),
    SystemLibrary("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms"),
    SystemLibrary("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11"),
    SystemLibrary("libxcb-image.so.0", "libxcb-image0", "xcb-util-image"),
    SystemLibrary("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil"),
    SystemLibrary("libxcb-shape.so.0", "libxcb-shape0", "libxcb"),
    SystemLibrary("libxcb-util.so.1", "libxcb-util1", "xcb-util"),
    SystemLibrary("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb"),
    SystemLibrary("libxcb-randr.so.0", "libxcb-randr0", "libxcb"),
    SystemLibrary("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb"),
    SystemLibrary("libxcb-sync.so.1", "libxcb-sync1", "libxcb"),
    SystemLibrary("libxcb-shm.so.0", "libxcb-shm0", "libxcb"),
    SystemLibrary("libxcb-render.so.0", "libxcb-render0", "libxcb"),
    SystemLibrary("libxcb.so.1", "libxcb1", "libxcb"),
    SystemLibrary("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb"),
    SystemLibrary("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon"),
    SystemLibrary("libfontconfig.so.1", "libfontconfig1", "fontconfig"),
    SystemLibrary("libEGL.so.1", "libegl1", "libglvnd-egl"),
    SystemLibrary("libGL.so.1", "libgl1", "libglvnd-glx"),
    SystemLibrary("libdbus-1.so.3", "libdbus-1-3", "dbus-libs"),
)


def can_load(soname: str) -> bool:
    """Whether the dynamic loader finds `soname` (the same search Qt's own loading does)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def platform_name(env: Mapping[str, str]) -> str:
    """The platform plugin Qt will try first (its own choice when QT_QPA_PLATFORM is unset)."""
    wanted = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0].strip()
    if wanted:
        return wanted
    if sys.platform != "linux":
        return ""
    return "wayland" if env.get("WAYLAND_DISPLAY") else "xcb"


def missing_libraries(load: Callable[[str], bool] = can_load) -> list[SystemLibrary]:
    return [lib for lib in XCB_LIBRARIES if not load(lib.soname)]


def problem(env: Mapping[str, str] | None = None,
            load: Callable[[str], bool] = can_load) -> str | None:
    """What stops Qt from opening a window here, as a message for a person; None if nothing."""
    env = os.environ if env is None else env
    if platform_name(env) != "xcb":
        return None
    missing = missing_libraries(load)
    if missing:
        def unique(names: list[str]) -> str:
            return " ".join(dict.fromkeys(names))

        return (
            "Kindred cannot open its window: these system libraries that Qt needs for X11 are "
            f"missing: {', '.join(lib.soname for lib in missing)}.\n"
            "Install them, then start Kindred again:\n"
            f"  Debian/Ubuntu: sudo apt install {unique([lib.debian for lib in missing])}\n"
            f"  Fedora:        sudo dnf install {unique([lib.fedora for lib in missing])}\n"
            "The command line works without them (kindred --help).")
    if not env.get("DISPLAY"):
        return ("Kindred cannot open its window: there is no X11 display (DISPLAY is not set). "
                "Start it from your desktop session, or use the command line "
                "(kindred --help).")
    return None


def check(env: Mapping[str, str] | None = None, load: Callable[[str], bool] = can_load,
          stream: TextIO | None = None) -> int:
    """0 if Qt can go ahead; otherwise print why (to stderr) and return EXIT_NO_DISPLAY."""
    message = problem(env, load)
    if message is None:
        return 0
    print(f"kindred: {message}", file=stream or sys.stderr, flush=True)
    return EXIT_NO_DISPLAY
