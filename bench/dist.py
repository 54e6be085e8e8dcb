"""Desktop bundle benchmark: its size, its build time, and its start-up against the venv's.

Builds the bundle with packaging/build.py --reuse (an unchanged bundle is not rebuilt: then
build_s is the time its build took, and build_reused says so), then times `kindred gui --smoke`
(offscreen, a fresh data home each run, after one warm-up run each) from the bundle and from
the venv, alternating, in the same run. Prints one JSON line with --json:
- archive_mb, unpacked_mb: the .tar.gz and the unpacked folder;
- build_s: the whole `make dist` build (PyInstaller + packing);
- window_shown_s / model_ready_s: medians from the bundle; venv_window_shown_s /
  venv_model_ready_s: the same from the venv; window_ratio: bundle / venv.
Targets (issue 11): archive <= 600 MB; window shown from the bundle <= 1.5 s warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def build() -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--reuse"],
                          capture_output=True, text=True, check=True, cwd=ROOT)
    record: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return record


def smoke(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="kindred-bench-dist-") as home:
        done = subprocess.run([*argv, "gui", "--smoke"], capture_output=True, text=True,
                              env={**env, "KINDRED_HOME": home}, timeout=300, check=True)
    timings: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    parser.add_argument("--runs", type=int, default=5, help="timed start-ups of each")
    args = parser.parse_args()

    record = build()
    app = ROOT / "dist" / str(record["archive"]).removesuffix(".tar.gz") / "kindred"
    # The bundle as a person runs it: no venv on PATH, no PYTHONPATH.
    clean = {"HOME": os.environ.get("HOME", "/tmp"), "PATH": "/usr/bin:/bin",
             "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen"}
    venv = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    sides = {"bundle": ([str(app)], clean), "venv": ([sys.executable, "-m", "kindred"], venv)}
    times: dict[str, dict[str, list[float]]] = {s: {"shown": [], "ready": []} for s in sides}
    for argv, env in sides.values():
        smoke(argv, env)  # warm-up: files in the page cache, as on a second start
    for _ in range(args.runs):
        for side, (argv, env) in sides.items():
            t = smoke(argv, env)
            times[side]["shown"].append(float(t["window_shown_s"]))
            times[side]["ready"].append(float(t["model_ready_s"] or "nan"))

    def med(side: str, key: str) -> float:
        return round(statistics.median(times[side][key]), 3)

    result = {"archive_mb": record["archive_mb"], "unpacked_mb": record["unpacked_mb"],
              "build_s": record["build_s"], "build_reused": record["reused"],
              "window_shown_s": med("bundle", "shown"), "model_ready_s": med("bundle", "ready"),
              "venv_window_shown_s": med("venv", "shown"),
              "venv_model_ready_s": med("venv", "ready"),
              "window_ratio": round(med("bundle", "shown") / med("venv", "shown"), 2),
              "runs": args.runs}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:22} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
