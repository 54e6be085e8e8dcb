"""requirements.lock is what bootstrap, CI and `make dist` install: it must cover and satisfy
pyproject.toml, pin every package with a hash, and be what the venv running the tests holds."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def locked() -> dict[str, tuple[str, list[str]]]:
    text = (ROOT / "requirements.lock").read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[a-z0-9])", text):
        head = re.match(r"^([a-z0-9-]+)==(\S+)", block)
        if head:
            entries[head.group(1)] = (head.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})",
                                                                block))
    return entries


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def test_every_declared_dependency_is_locked_at_a_version_it_accepts() -> None:
    lock = locked()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in lock, f"{name} is in pyproject.toml but not in requirements.lock"
        version = Version(lock[name][0])
        assert req.specifier.contains(version, prereleases=True), (name, str(version))


def test_every_locked_package_has_one_exact_version_and_a_hash() -> None:
    lock = locked()
    assert len(lock) > 40
    for name, (version, hashes) in lock.items():
        assert hashes, f"{name}=={version} has no hash"
        assert canonicalize_name(name) == name


def test_the_venv_holds_the_locked_versions() -> None:
    """The suite runs on what the lock says (bootstrap installs it with --require-hashes)."""
    drift = {}
    for name, (version, _) in locked().items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            drift[name] = (version, None)
            continue
        if Version(have) != Version(version):
            drift[name] = (version, have)
    assert drift == {}
