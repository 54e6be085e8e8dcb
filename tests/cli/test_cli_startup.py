"""Opening the app from the command line loads only the `gui` command (start-up time); every
other command line still gets the full parser."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kindred.cli import COMMAND_MODULES, _opens_the_app, build_parser


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


def test_the_full_parser_has_every_command() -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert {"gui", "chat", "versions", "teach", "train"} <= set(commands)
    assert len(COMMAND_MODULES) == len(set(COMMAND_MODULES))


@pytest.mark.parametrize(("argv", "home"), [
    ([], None), (["--home", "/x"], "/x"), (["--home=/x"], "/x"), (["gui"], None),
])
def test_plain_kindred_opens_the_app(argv: list[str], home: str | None) -> None:
    """`make run` starts plain `kindred`: it must become the gui command, with a home or not."""
    from kindred.cli import parse

    args = parse(argv)
    assert args.command == "gui" and args.home == home and args.smoke is False
    assert args.run.__module__ == "kindred.cli.gui"
