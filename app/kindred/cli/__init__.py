"""`kindred`: the GUI by default, and every core operation from a terminal."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kindred.cli import bundle_cmd, catalog, chat, gui, insight_cmd, ledger_cmd, teach, versions
from kindred.core.errors import KindredError

COMMAND_MODULES = [gui, chat, catalog, versions, ledger_cmd, bundle_cmd, insight_cmd, teach]


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--home", metavar="DIR", default=argparse.SUPPRESS,
                        help="data folder (default: $KINDRED_HOME or the user data dir)")
    parser = argparse.ArgumentParser(
        prog="kindred", parents=[common],
        description="Chat with your own local assistant, and keep it.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "home"):
        args.home = None
    if args.command is None:
        args = parser.parse_args(["gui", *(["--home", args.home] if args.home else [])])
    try:
        return int(args.run(args) or 0)
    except KindredError as exc:
        print(f"kindred: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
