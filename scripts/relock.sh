#!/usr/bin/env bash
# Re-resolve requirements.lock on purpose (`make lock`): resolve pyproject.toml afresh in a
# scratch venv with the locked pip, write the exact versions and hashes, print what changed,
# then install the new lock into .venv and run the whole suite, the bundle test included
# (tests/packaging/test_dist.py builds and trains from the bundle). Commit the lock only if
# that passes. KINDRED_RELOCK_NO_TEST=1 stops after printing the changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
"$PYTHON" -m venv "$scratch/venv"
pip_version=$(awk -F'[= ]+' '/^pip==/ {print $2}' requirements.lock)
"$scratch/venv/bin/python" -m pip install --quiet "pip==${pip_version:-26.3}"
llama=$(awk -F'[= ]+' '/^llama-cpp-python==/ {print $2}' requirements.lock)
echo "Resolving pyproject.toml (torch: the CPU build; llama-cpp-python ${llama:-0.3.36})..." >&2
"$scratch/venv/bin/python" -m pip install --quiet --dry-run --ignore-installed \
  --report "$scratch/report.json" "torch==2.13.0" "llama-cpp-python==${llama:-0.3.36}" ".[test]"
echo "Changes to requirements.lock:"
"$PYTHON" scripts/lock.py "$scratch/report.json" requirements.lock
[ -n "${KINDRED_RELOCK_NO_TEST:-}" ] && exit 0
make test
