"""`kindred gui`: the desktop app (also the default command). `--smoke` measures start-up."""

from __future__ import annotations

import argparse
from typing import Any


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("gui", parents=[common], help="open the app (default)")
    p.add_argument("--smoke", action="store_true",
                   help="open the window, wait for the model, print timings as JSON, exit")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kindred.ui.shell import preflight

    # Before Qt: a missing system library is a clear message and exit code, not Qt's abort.
    code = preflight.check()
    if code:
        return code
    from kindred.ui.shell.app import run_app

    return int(run_app(home=args.home, smoke=args.smoke))
