"""Icons, not emoji: a label's glyph comes from our own SVGs (resources/icons).

Emoji and symbol characters render as empty boxes ("▯ liked") where no emoji or symbol font
is installed, which is the case on many fresh Linux desktops.
"""

from __future__ import annotations

import ast
from pathlib import Path

import kindred.ui
from kindred.ui.kit.resources import RESOURCES

UI = Path(kindred.ui.__file__).parent
# Miscellaneous technical, geometric shapes, misc symbols, dingbats, arrows-b, emoji planes.
SYMBOL_RANGES = [(0x2300, 0x23FF), (0x25A0, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF)]


def symbols(text: str) -> list[str]:
    return [c for c in text if any(lo <= ord(c) <= hi for lo, hi in SYMBOL_RANGES)]


def test_ui_strings_hold_no_emoji_or_symbol_glyphs() -> None:
    found = []
    for path in sorted(UI.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and symbols(node.value)):
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not found, "use an icon from resources/icons instead:\n" + "\n".join(found)


def test_the_check_finds_what_it_looks_for() -> None:
    assert symbols("👍 liked ✓ ▯ ✗") == ["👍", "✓", "▯", "✗"]
    assert symbols("Loading… — “quoted” · 2× → ok") == []


def test_every_icon_the_ui_names_exists() -> None:
    names = set()
    for path in sorted(UI.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("icon", "set_icon", "icon_text") and node.args):
                arg = node.args[0] if node.func.id != "set_icon" else node.args[1]
                options = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
                names |= {o.value for o in options
                          if isinstance(o, ast.Constant) and isinstance(o.value, str) and o.value}
    assert {"thumbs-up", "thumbs-down", "more", "close", "check"} <= names
    missing = sorted(n for n in names if not (RESOURCES / "icons" / f"{n}.svg").is_file())
    assert not missing
