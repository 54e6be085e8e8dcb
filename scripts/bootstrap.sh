#!/usr/bin/env bash
# Create .venv at the repo root and install Kindred with everything it needs (idempotent:
# re-runs only when pyproject.toml changed). llama-cpp-python compiles from source the first
# time (about 5 minutes on 2 cores); pip caches the wheel afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.kindred-installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && [ -x .venv/bin/kindred ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Kindred needs Python 3.11+"'
  "$PYTHON" -m venv .venv
fi
echo "Installing Kindred into .venv (the first time takes several minutes: llama.cpp compiles)..." >&2
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: the CPU build; anything else would pull multi-GB CUDA packages.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[test]"
# An in-place update once left PySide6 without its __init__.py; check, and repair that case.
check='import PySide6.QtWidgets, llama_cpp, kindred; assert PySide6.__version__'
if ! .venv/bin/python -c "$check" 2>/dev/null; then
  echo "Repairing the Qt install in .venv..." >&2
  pyside=$(.venv/bin/python -m pip list --format=freeze 2>/dev/null | grep -i -E '^(pyside6|shiboken6)' || true)
  # shellcheck disable=SC2086
  .venv/bin/python -m pip install --quiet --force-reinstall --no-deps $pyside
  .venv/bin/python -c "$check" || { echo "Kindred's install in .venv is broken: remove .venv and run again." >&2; exit 1; }
fi
touch "$stamp"
