"""The desktop integration files pass the freedesktop validators (where those are installed:
.ci/run installs desktop-file-utils and appstream), and install.sh is valid shell."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
APP_ID = "io.github.kindred.Kindred"


def validator(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian: desktop-file-utils / appstream)")
    return path


def test_desktop_file_validates() -> None:
    done = subprocess.run([validator("desktop-file-validate"),
                           str(PACKAGING / f"{APP_ID}.desktop")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout


def test_appstream_metainfo_validates() -> None:
    done = subprocess.run([validator("appstreamcli"), "validate", "--no-net",
                           str(PACKAGING / f"{APP_ID}.metainfo.xml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_validators_catch_a_broken_file(tmp_path: Path) -> None:
    bad = tmp_path / f"{APP_ID}.desktop"
    bad.write_text((PACKAGING / f"{APP_ID}.desktop").read_text().replace("Type=Application\n",
                                                                         ""))
    done = subprocess.run([validator("desktop-file-validate"), str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0


def test_install_script_is_valid_posix_shell() -> None:
    done = subprocess.run(["sh", "-n", str(PACKAGING / "install.sh")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
