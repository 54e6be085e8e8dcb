"""`kindred examples ...`, `kindred teach TEXT` and `kindred train`: teaching from a terminal.

`kindred train` shows what it will learn from, asks `[y/N]` (`--yes` answers for you), runs the
training process, shows its progress on stderr and prints the new candidate version's id as the
last line of stdout. Ctrl+C asks before stopping (the checkpoint is kept; `--resume` continues).
The training process does not depend on this command: if it is killed (or its terminal closes),
the run carries on to the end and archives its candidate; `kindred train --follow` (or
`--resume`, which says the run is going) shows it again.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from kindred.cli.numbers import BIG, whole
from kindred.cli.output import print_json, print_table
from kindred.cli.run_follow import EXIT_REFUSED, ask, follow_run, watch
from kindred.core.basics.errors import KindredError
from kindred.core.learning import feedback
from kindred.core.session import open_session
from kindred.core.training import runner
from kindred.core.training.config import TrainConfig


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    examples = commands.add_parser("examples", parents=[common],
                                   help="what the assistant learns from")
    sub = examples.add_subparsers(dest="action", required=True)
    p = sub.add_parser("add", parents=[common], help="add a corrected answer")
    p.add_argument("--prompt", required=True, help="what the user asks")
    p.add_argument("--answer", required=True, help="the answer you want")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.set_defaults(run=examples_add)
    p = sub.add_parser("list", parents=[common], help="corrections, ratings and preferences")
    p.add_argument("--json", action="store_true")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.set_defaults(run=examples_list)
    p = sub.add_parser("remove", parents=[common], help="forget one item for future training")
    p.add_argument("id", type=whole(1, BIG))
    p.set_defaults(run=examples_remove)

    p = commands.add_parser("teach", parents=[common],
                            help="state a preference (applies at once, and is learned)")
    p.add_argument("text")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.set_defaults(run=teach)

    p = commands.add_parser("train", parents=[common],
                            help="train a new candidate version from your feedback")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.add_argument("--yes", action="store_true", help="give consent without asking")
    p.add_argument("--steps", type=whole(1, 1_000_000), help="exact number of training steps")
    p.add_argument("--epochs", type=whole(1, 1000), help="passes over the data")
    p.add_argument("--resume", action="store_true",
                   help="continue the last stopped or interrupted run (follows a running one)")
    p.add_argument("--follow", action="store_true",
                   help="show the progress of the run that is going (it is not changed)")
    p.set_defaults(run=train)


def examples_add(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    item = feedback.add_example(session.store, assistant.id, args.prompt, args.answer)
    print(f"Added corrected answer #{item.id} for {assistant.name}.", file=sys.stderr)
    print(item.id)
    return 0


def examples_list(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    items = feedback.list_feedback(session.store, session.assistant(args.assistant).id)
    if args.json:
        print_json([i.to_json() for i in items])
        return 0

    def short(text: str) -> str:
        line = " ".join(text.split())
        return line if len(line) <= 40 else line[:39] + "…"

    rows = []
    for i in items:
        if i.kind == "preference":
            rows.append([i.id, "preference" + ("" if i.active else " (off)"), "", short(i.text)])
        else:
            kind = "correction" if i.kind == "correction" else (
                "liked" if i.value == 1 else "disliked")
            rows.append([i.id, kind, short(i.prompt), short(i.answer)])
    print_table(["ID", "KIND", "PROMPT", "ANSWER / TEXT"], rows)
    return 0


def examples_remove(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    feedback.remove_feedback(session.store, args.id)
    print(f"Removed #{args.id}. Versions already trained keep it in their dataset snapshot.",
          file=sys.stderr)
    return 0


def teach(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    item = feedback.add_preference(session.store, assistant.id, args.text)
    print(f"{assistant.name} will follow this from the next answer on, and learn it at the next "
          "training.", file=sys.stderr)
    print(item.id)
    return 0


# -- train ----------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> TrainConfig:
    cfg = TrainConfig()
    if args.steps is not None:
        if args.steps < 1:
            raise KindredError("--steps must be at least 1. Nothing was changed.")
        cfg = replace(cfg, steps=args.steps)
    if args.epochs is not None:
        if args.epochs < 1:
            raise KindredError("--epochs must be at least 1. Nothing was changed.")
        cfg = replace(cfg, epochs=args.epochs, min_steps=0)
    return cfg.validated()


def train(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    if args.resume or args.follow:
        if args.steps is not None or args.epochs is not None:
            raise KindredError("--resume and --follow go on with a run's own settings; drop "
                               "--steps and --epochs. Nothing was changed.")
        going = runner.running_runs(session, assistant.id)
        target = going[-1] if going else runner.resumable_run(session, assistant.id)
        if args.resume and target is not None and target.plan().get("migration"):
            from kindred.cli.migrate import resume_move  # a move: its consent, then its card

            return resume_move(session, assistant, args.yes)
        if going:
            return watch(session, going[-1])
        if args.follow:
            raise KindredError(f"No training run of {assistant.name} is going. Nothing was "
                               "changed.")
        run = runner.resumable_run(session, assistant.id)
        if run is None:
            raise KindredError(f"There is no stopped training run of {assistant.name} to "
                               "resume. Nothing was changed.")
        decision = ask(session, runner.request_resume(session.store, run),
                        "Resume training?", args.yes)
    else:
        plan = runner.plan_training(session, assistant, _config(args))
        decision = ask(session, runner.request_training(session.store, plan),
                        "Start training?", args.yes)
    if not decision.granted:
        print("Training was not started; nothing was changed.", file=sys.stderr)
        return EXIT_REFUSED
    if not args.resume:
        run = runner.start_training(session, plan, decision)
    assert run is not None
    return follow_run(session, run, decision, resume=args.resume)
