"""The rooms of the house: no import knot between the folders of `kindred/ui/` or of
`kindred/core/`, at most a handful of modules at the top of `ui/`, and `ui/kit/` knows no core
concept.

A folder is a package directory directly below the package looked at; the package's own
top-level modules count as one more folder, ".". Folder A depends on folder B when a module in A
imports one in B, anywhere in the file (an import inside a function counts the same). A knot is a
set of folders that reach each other through those dependencies: a strongly connected component
of more than one folder. A knot means no room can be understood, tested or moved without the
others; cut it by moving the shared piece down a floor (or up into the one that uses both).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import kindred

PACKAGE = Path(kindred.__file__).parent
MAX_TOP_OF_UI = 10
KIT_MAY_IMPORT = {"kindred.core.basics.errors", "kindred.core.basics.priority",
                  "kindred.core.basics.processes"}

Edges = dict[str, dict[str, list[str]]]  # folder → folder → where ("file:line imports module")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether the dotted `name` inside the kindred package is a module or a package."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, with `from a import b` resolved to `a.b`
    when b is a module, relative imports made absolute."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1]
                                + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((node.lineno, full if is_module(full) else base))
    return found


def folder_of(root: Path, module: str) -> str | None:
    """The folder of `root` that holds `module`, "." for root's top-level modules, None outside."""
    prefix = module_name(root / "__init__.py")
    if module != prefix and not module.startswith(prefix + "."):
        return None
    rest = module[len(prefix) + 1:].split(".") if module != prefix else []
    return rest[0] if rest and (root / rest[0]).is_dir() else "."


def folder_edges(root: Path) -> Edges:
    edges: Edges = defaultdict(lambda: defaultdict(list))
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        source = rel.parts[0] if len(rel.parts) > 1 else "."
        for line, module in imported_modules(path):
            target = folder_of(root, module)
            if target is not None and target != source:
                edges[source][target].append(f"{path.relative_to(PACKAGE.parent)}:{line} "
                                             f"imports {module}")
    return edges


def knots(edges: Edges) -> list[list[str]]:
    """Strongly connected components of more than one folder (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, {}):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    nodes = set(edges) | {target for targets in edges.values() for target in targets}
    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return sorted(found)


def describe(edges: Edges, found: list[list[str]]) -> str:
    """Each knot with the imports that tie it (the first one of each folder pair)."""
    lines = []
    for component in found:
        lines.append("knot: " + ", ".join(component))
        for source in component:
            for target in component:
                where = edges.get(source, {}).get(target)
                if where:
                    lines.append(f"  {source} -> {target}: {where[0]}"
                                 + (f" (and {len(where) - 1} more)" if len(where) > 1 else ""))
    return "\n".join(lines)


def test_knots_are_found_inside_functions_and_through_longer_loops(tmp_path: Path) -> None:
    """The test's own check: a loop a → b → c → a is one knot, whatever hides the imports."""
    edges: Edges = defaultdict(lambda: defaultdict(list))
    for source, target in (("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), (".", "a")):
        edges[source][target].append("x")
    assert knots(edges) == [["a", "b", "c"]]
    assert folder_of(PACKAGE / "ui", "kindred.ui.kit.tasks") == "kit"
    assert folder_of(PACKAGE / "ui", "kindred.ui") == "."
    assert folder_of(PACKAGE / "ui", "kindred.core.basics.errors") is None
    inside = PACKAGE / "ui" / "chat" / "chat_controller.py"
    assert any(m == "kindred.core.engine.llama" for _, m in imported_modules(inside))


def test_no_import_knot_between_the_rooms_of_the_window() -> None:
    edges = folder_edges(PACKAGE / "ui")
    assert len(edges) >= 8, "the window's rooms were not found"
    found = knots(edges)
    assert not found, describe(edges, found)


def test_no_import_knot_between_the_rooms_of_the_core() -> None:
    edges = folder_edges(PACKAGE / "core")
    found = knots(edges)
    assert not found, describe(edges, found)


def test_the_top_of_the_window_is_nearly_empty() -> None:
    """Everything in ui/ lives in a room; the top holds at most a few modules."""
    top = sorted(p.name for p in (PACKAGE / "ui").glob("*.py"))
    assert len(top) <= MAX_TOP_OF_UI, top


def test_the_kit_knows_no_core_concept() -> None:
    """ui/kit/ is shared by every room: it imports nothing of the core but its errors and the
    thread priority, and nothing of the other rooms."""
    kit = PACKAGE / "ui" / "kit"
    wrong = [f"{path.name}:{line} imports {module}"
             for path in sorted(kit.rglob("*.py"))
             for line, module in imported_modules(path)
             if (module.startswith("kindred.core") and module not in KIT_MAY_IMPORT)
             or (module.startswith("kindred.ui") and not module.startswith("kindred.ui.kit"))]
    assert not wrong, wrong


LAUNCHER = PACKAGE / "core" / "basics" / "processes.py"
STARTS_A_PROCESS = ("Popen", "QProcess", "os.system", "os.spawn", "os.exec", "os.fork",
                    "subprocess.run", "subprocess.call", "subprocess.check_", "startDetached")


def test_processes_are_started_only_by_the_launcher() -> None:
    """One place starts processes (`core/basics/processes.py`); everything else hands it an
    argv. A type annotation naming `subprocess.Popen` is not a start and is allowed."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == LAUNCHER:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if any(called == name or called.endswith("." + name) or called.startswith(name)
                       for name in STARTS_A_PROCESS):
                    wrong.append(f"{path.relative_to(PACKAGE)}:{node.lineno} calls {called}")
    assert not wrong, wrong
    assert "Popen(" in LAUNCHER.read_text("utf-8")


def test_the_top_of_the_core_is_its_front_door() -> None:
    """Everything in core/ lives in a room; at the top stands only the session (opening a data
    home), so the top-level modules cannot tie the rooms into a knot again."""
    top = sorted(p.name for p in (PACKAGE / "core").glob("*.py"))
    assert top == ["__init__.py", "session.py"], top
