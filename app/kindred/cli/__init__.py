"""`kindred`: the GUI by default, and every core operation from a terminal."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from kindred import __version__
from kindred.core.basics.errors import KindredError, said_once

# Each command, by the module in kindred.cli that registers it (to add a command, add it here).
# A command line that names one imports only its module: opening the app, or a quick command
# such as `kindred learned` on a cached result, does not load the other commands' core parts.
COMMANDS = {"gui": "gui", "chat": "chat", "models": "catalog", "assistants": "catalog",
            "versions": "versions", "ledger": "ledger_cmd", "report": "ledger_cmd",
            "export": "bundle_cmd", "import": "bundle_cmd", "learned": "insight_cmd",
            "usage": "insight_cmd", "examples": "teach", "teach": "teach", "train": "teach",
            "rollout": "rollout", "trial": "rollout", "migrate": "migrate",
            "prepare": "prepare_cmd", "serve": "serve"}
COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake on the command line told in one line (which option, what is
    allowed; `--help` shows the usage), exit status 2 as before. Every command's parser is one
    (argparse makes subparsers of the top parser's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message.rstrip('.')}. Nothing was changed.\n")


def build_parser(only: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser, or one with just the `only` commands (fast start of the GUI)."""
    common = Parser(add_help=False)
    common.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                        help="data folder (default: $KINDRED_HOME or the user data dir)")
    parser = Parser(
        prog="kindred", parents=[common],
        description="Chat with your own local assistant, and keep it.",
    )
    parser.add_argument("--version", action="version", version=f"kindred {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in only or COMMAND_MODULES:
        importlib.import_module(f"kindred.cli.{name}").register(commands, common)
    return parser


def _first_word(argv: Sequence[str]) -> str | None:
    """The command the line names (`--home DIR` may come first), None when there is none."""
    rest = list(argv)
    while rest and rest[0].startswith("--home"):
        rest = rest[2:] if rest[0] == "--home" else rest[1:]
    return rest[0] if rest else None


def _opens_the_app(argv: Sequence[str]) -> bool:
    """No command (the GUI is the default) or `gui`; `--home DIR` may come first."""
    return _first_word(argv) in (None, "gui")


def _modules_for(argv: Sequence[str]) -> list[str] | None:
    """The command modules a parser for `argv` needs: the named command's own, or all of them
    (help, a mistyped command: the full list of commands is what the person needs then)."""
    if _opens_the_app(argv):
        return ["gui"]
    module = COMMANDS.get(_first_word(argv) or "")
    return [module] if module else None


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """The command line as a namespace; no command means `gui`; `home` is None when not given."""
    parser = build_parser(_modules_for(argv))
    args = parser.parse_args(argv)
    if args.command is None:  # plain `kindred` (what `make run` starts) opens the app
        home = getattr(args, "home", None)
        args = parser.parse_args(["gui", *(["--home", home] if home else [])])
    if not hasattr(args, "home"):
        args.home = None
    return args


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    for arg in given:  # bytes that are not UTF-8 arrive as lone surrogates (surrogateescape)
        if any("\udc80" <= c <= "\udcff" for c in arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            print(f"kindred: the argument '{shown}' is not valid UTF-8 text; retype it. "
                  "Nothing was changed.", file=sys.stderr)
            return 2
    args = parse(given)
    try:
        code = int(args.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:  # `kindred report | head -1`: the reader has all it wanted
        _quiet_stdout()
        return 141  # as a process ended by SIGPIPE
    except KindredError as exc:
        print(f"kindred: {once(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def once(message: str) -> str:
    """The message with "Nothing was changed." said once (see `core.errors.said_once`)."""
    return said_once(message)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so nothing more is written to the closed pipe (Python would
    report the failed flush at exit)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
