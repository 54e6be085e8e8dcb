"""Architecture rules: the core never imports Qt or torch, and chatting opens no socket."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import Engine

CORE = Path(__file__).resolve().parents[2] / "app" / "kindred" / "core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "kindred.ui")


def test_core_source_never_imports_qt() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.startswith(FORBIDDEN)]
    assert offenders == []


def test_importing_the_core_loads_no_qt_and_no_torch() -> None:
    code = (
        "import sys, kindred.core.session, kindred.core.engine.llama, kindred.core.chat.turns, "
        "kindred.core.chat.runtime, kindred.cli\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'torch', 'transformers', 'peft')]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_a_chat_opens_no_socket(engine: Engine) -> None:
    opened: list[str] = []
    watching = True

    def hook(event: str, args: tuple[object, ...]) -> None:
        if watching and event.startswith(("socket.", "urllib.")):
            opened.append(event)

    sys.addaudithook(hook)
    try:
        text = engine.chat([{"role": "user", "content": "Hello!"}],
                           Sampling(temperature=0.0, max_tokens=16)).read()
    finally:
        watching = False
    assert text
    assert opened == []
