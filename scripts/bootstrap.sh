#!/usr/bin/env bash
# Create .venv at the repo root and install Kindred with everything it needs, at the exact
# versions and hashes of requirements.lock (idempotent: re-runs only when pyproject.toml or the
# lock changed, or with KINDRED_REBUILD_LLAMA=1, which also rebuilds llama.cpp).
# llama-cpp-python compiles from source the first time (a few minutes on 2 cores).
# `make lock` re-resolves the lock on purpose (scripts/relock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
stamp=.venv/.kindred-installed
if [ -z "${KINDRED_REBUILD_LLAMA:-}" ] && [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] \
   && [ "$stamp" -nt requirements.lock ] && [ -x .venv/bin/kindred ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "Kindred needs Python 3.11+"'
  "$PYTHON" -m venv .venv
fi
echo "Installing Kindred into .venv (the first time takes several minutes: llama.cpp compiles)..." >&2
lock=requirements.lock
# One locked requirement (with its hash line) as a file of its own, for the steps that need it alone.
locked() { awk -v n="$1" '$0 ~ "^"n"==" {p=1} p {print} p && !/\\$/ {exit}' "$lock" > "$2"; }
one=$(mktemp); trap 'rm -f "$one"' EXIT
# The locked pip first: the lock's hash checking and resolution are its.
locked pip "$one" && .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r "$one"
# llama.cpp for any x86-64 from the last decade (AVX2/FMA/F16C), not -march=native: a native
# build on a host that reports AMX crashed with SIGILL (tileloadd) where the kernel does not
# grant AMX, and the same library goes into the desktop bundle. No cached wheel: it may be native.
# ggml's own thread pool, not OpenMP: the training process (torch, with OMP_WAIT_POLICY=PASSIVE
# so it yields the cores to the chat) also runs llama.cpp for the replay and the quality card;
# there OpenMP's sleeping barriers made every decode ~20% slower, and llama.cpp's libgomp took
# the place of torch's own (measured in a test-sized run: 21.7/19.1 s with OpenMP, 18.2/13.6 s
# without; the chat's decode speed the same).
# No multimodal library (LLAVA_BUILD=OFF: mtmd is not compiled or shipped): Kindred chats in text.
LLAMA_CMAKE_ARGS=${LLAMA_CMAKE_ARGS:-"-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF"}
want=$(awk -F'[= ]+' '/^llama-cpp-python==/ {print $2}' "$lock")
have=$(.venv/bin/python -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null || true)
if [ "$have" != "$want" ] || [ -n "${KINDRED_REBUILD_LLAMA:-}" ]; then
  locked llama-cpp-python "$one"
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/python -m pip install --quiet --no-cache-dir \
    --force-reinstall --no-deps --require-hashes -r "$one"
fi
# Everything else at the locked versions (torch: the CPU build; anything else would pull
# multi-GB CUDA packages), then Kindred itself (its dependencies are all locked).
.venv/bin/python -m pip install --quiet --require-hashes -r "$lock"
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
.venv/bin/python -m pip check >&2 || { echo "The lock does not satisfy pyproject.toml: run make lock." >&2; exit 1; }
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
