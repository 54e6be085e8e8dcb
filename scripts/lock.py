"""Write requirements.lock from a pip resolution report, and say what changed.

The lock holds the exact version and sha256 of every package that bootstrap, CI and `make dist`
install, so a fresh machine gets what the suite and the bundle test passed with, not whatever the
index serves that day (transformers 5.25 once pulled in `kernels` overnight and the bundle could
no longer train). Run through `make lock`, which re-resolves on purpose and then tests.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HEADER = """\
# Exact versions and hashes of everything Kindred installs (Linux x86-64, CPython 3.11).
# Written by `make lock` (scripts/relock.sh) from pyproject.toml; do not edit by hand.
# scripts/bootstrap.sh installs this with --require-hashes, then Kindred itself with --no-deps.
"""
SKIP = {"kindred"}  # the project itself: installed editable from the checkout


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_lines(report: dict[str, object]) -> dict[str, str]:
    """name -> 'name==version --hash=sha256:...' for every package the resolution installs."""
    lines: dict[str, str] = {}
    for item in report["install"]:  # type: ignore[attr-defined]
        meta = item["metadata"]
        name = canonical(meta["name"])
        if name in SKIP:
            continue
        info = item["download_info"]
        digest = info.get("archive_info", {}).get("hashes", {}).get("sha256")
        if not digest:
            raise SystemExit(f"{name}: the resolution gave no sha256 (not an archive: {info})")
        lines[name] = f"{name}=={meta['version']} \\\n    --hash=sha256:{digest}"
    return lines


def versions(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([a-z0-9-]+)==(\S+)", text, flags=re.M))


def main(report_path: str, lock_path: str) -> int:
    report = json.loads(Path(report_path).read_text())
    lines = lock_lines(report)
    lock = Path(lock_path)
    before = versions(lock.read_text()) if lock.exists() else {}
    text = HEADER + "".join(f"{lines[name]}\n" for name in sorted(lines))
    lock.write_text(text)
    after = versions(text)
    changed = False
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old != new:
            changed = True
            print(f"  {name}: {old or '(new)'} -> {new or '(removed)'}")
    if not changed:
        print("  no version changed")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
