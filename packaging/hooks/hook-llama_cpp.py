"""PyInstaller hook for llama-cpp-python, which has none of its own.

llama_cpp loads its shared libraries with ctypes from `llama_cpp/lib/` at import time; analysis
cannot see that, and without them the frozen app fails with "Shared library with base name
'llama' not found". Collect them (with their version-suffixed names, which they link to each
other by) into the same relative folder.
"""

from pathlib import Path

from PyInstaller.utils.hooks import get_package_paths

_, package = get_package_paths("llama_cpp")
binaries = [(str(lib), "llama_cpp/lib") for lib in sorted(Path(package, "lib").glob("*.so*"))]
