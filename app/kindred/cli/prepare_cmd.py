"""`kindred prepare`: prepare the assistant's base model for training now, in the foreground.

What the app does by itself in the background once something was taught (see
`kindred.core.training.prepare`): the base model's answers to the replayed requests, its half of
the quality card and its weights for training, cached once per model and system prompt, so the
first training is as quick as the later ones. Progress on stderr (`--json`: the worker's events,
one JSON object per line on stdout). Ctrl+C stops it; what was finished is kept.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.cli.output import print_json
from kindred.core.basics.errors import KindredError
from kindred.core.basics.states import RUN_ENDS, TrainingEvent
from kindred.core.session import open_session
from kindred.core.training import prepare, runner

EXIT_STOPPED = 3


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("prepare", parents=[common],
                            help="prepare the base model for training (once per model)")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.add_argument("--json", action="store_true", help="progress events as JSON lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    try:
        assistant = session.assistant(args.assistant)
        target = prepare.target_for(session.store, assistant.id)
    finally:
        session.close()
    if target is None:
        raise KindredError(f"{assistant.name}'s base model cannot be trained on here, so there "
                           "is nothing to prepare.")
    process = prepare.launch(target)
    assert process.stdout is not None
    outcome: dict[str, Any] = {}
    try:
        for line in process.stdout:
            event = runner.parse_line(line)
            if event is None:
                continue
            if args.json:
                print_json(event)
                sys.stdout.flush()
            else:
                _show(event, target)
            if event["event"] in (*RUN_ENDS, TrainingEvent.BUSY):
                outcome = event
        code = process.wait()
    except KeyboardInterrupt:  # the worker runs in its own session: pass the stop on to it;
        process.terminate()      # it stops, keeping what is done
        process.wait()
        print("Stopped; what was finished is kept.", file=sys.stderr)
        return EXIT_STOPPED
    kind = outcome.get("event")
    if kind == TrainingEvent.STOPPED:
        return EXIT_STOPPED
    if kind == TrainingEvent.ERROR or code != 0 or not outcome:
        raise KindredError(str(outcome.get("message") or
                               f"The preparation ended unexpectedly (exit {code})."))
    return 0


def _show(event: dict[str, Any], target: prepare.Target) -> None:
    kind = event["event"]
    if kind == TrainingEvent.START:
        todo = event.get("missing") or []
        print(f"Preparing {target.name or 'the base model'} for training: "
              f"{', '.join(todo)}." if todo else
              f"{target.name or 'The base model'} is already prepared for training.",
              file=sys.stderr)
    elif kind == TrainingEvent.PROGRESS:
        print(f"{float(event.get('fraction') or 0):4.0%}  {event.get('message', '')}",
              file=sys.stderr, flush=True)
    elif kind == TrainingEvent.BUSY:
        print("Another preparation is going in this data folder (the app's?); it carries on.",
              file=sys.stderr)
    elif kind == TrainingEvent.DONE and event.get("prepared"):
        print(f"Prepared in {float(event.get('seconds') or 0):.0f} s: the first training "
              "skips this work now.", file=sys.stderr)
