"""Opening the app from the command line loads only the `gui` command, and a command line that
names a command only that command's module (start-up time); help and mistyped commands get
the full parser."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kindred.cli import COMMAND_MODULES, COMMANDS, _modules_for, _opens_the_app, build_parser


@pytest.mark.parametrize(("argv", "gui"), [
    ([], True), (["gui"], True), (["gui", "--smoke"], True), (["--home", "/x"], True),
    (["--home=/x", "gui"], True), (["--home", "/x", "gui", "--smoke"], True),
    (["-h"], False), (["--home", "/x", "-h"], False), (["chat", "hi"], False),
    (["versions", "list"], False), (["--home", "gui"], True),  # a folder named gui
])
def test_which_command_lines_open_the_app(argv: list[str], gui: bool) -> None:
    assert _opens_the_app(argv) is gui


def test_the_gui_path_imports_no_other_command_module() -> None:
    code = ("import sys\n"
            "from kindred.cli import build_parser\n"
            "args = build_parser(['gui']).parse_args(['--home', '/tmp/x', 'gui', '--smoke'])\n"
            "assert args.smoke and args.home == '/tmp/x', args\n"
            "print(sorted(m for m in sys.modules if m.startswith('kindred.cli.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['kindred.cli.gui']"


def _commands(parser: object) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)  # type: ignore[attr-defined]


def test_the_full_parser_has_every_command() -> None:
    assert {"gui", "chat", "versions", "teach", "train"} <= _commands(build_parser())
    assert len(COMMAND_MODULES) == len(set(COMMAND_MODULES))


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_the_command_table_says_what_each_module_registers(module: str) -> None:
    """A command missing from COMMANDS would still work through the full parser, but slowly;
    a wrong entry would make its command line fail."""
    assert _commands(build_parser([module])) == {c for c, m in COMMANDS.items() if m == module}


@pytest.mark.parametrize(("argv", "modules"), [
    (["learned", "--json"], ["insight_cmd"]), (["--home", "/x", "versions", "list"], ["versions"]),
    (["--home=/x", "train"], ["teach"]), (["-h"], None), (["lerned"], None), ([], ["gui"]),
])
def test_a_named_command_needs_only_its_module(argv: list[str], modules: list[str] | None
                                               ) -> None:
    assert _modules_for(argv) == modules


def test_a_command_line_imports_only_its_command_module(tmp_path: object) -> None:
    code = ("import sys\n"
            "from kindred.cli import main\n"
            f"code = main(['--home', {str(tmp_path)!r}, 'usage', '--json'])\n"
            "print(code, sorted(m for m in sys.modules if m.startswith('kindred.cli.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "0 ['kindred.cli.insight_cmd', 'kindred.cli.output']"


def test_a_mistyped_command_lists_every_command() -> None:
    done = subprocess.run([sys.executable, "-m", "kindred", "lerned"], capture_output=True,
                          text=True)
    assert done.returncode == 2 and "invalid choice: 'lerned'" in done.stderr
    assert "learned" in done.stderr and "migrate" in done.stderr


@pytest.mark.parametrize(("argv", "home"), [
    ([], None), (["--home", "/x"], "/x"), (["--home=/x"], "/x"), (["gui"], None),
])
def test_plain_kindred_opens_the_app(argv: list[str], home: str | None) -> None:
    """`make run` starts plain `kindred`: it must become the gui command, with a home or not."""
    from kindred.cli import parse

    args = parse(argv)
    assert args.command == "gui" and args.home == home and args.smoke is False
    assert args.run.__module__ == "kindred.cli.gui"
