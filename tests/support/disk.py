"""A small real filesystem for disk-full tests: a size-limited tmpfs, so ENOSPC comes from the
kernel, not from a mock. Mounting needs root (CI runs as root); elsewhere the test is skipped."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. "12m") on `mount` (made if missing); unmounted after."""
    mount.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def resize(mount: Path, size: str) -> None:
    """Give the tmpfs more room (space freed, as far as the programs on it can tell)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True,
                   capture_output=True)


def fill(disk: Path, leave: int) -> Path:
    """Take all free space on `disk` but `leave` bytes, in a file named `filler`."""
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with filler.open("wb") as handle:
        remaining = max(0, free - leave)
        while remaining > 0:
            chunk = min(remaining, 1 << 20)
            try:
                handle.write(b"\0" * chunk)
                handle.flush()
            except OSError:
                break
            remaining -= chunk
    return filler
