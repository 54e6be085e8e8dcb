"""`kindred migrate --to MODEL`: move an assistant to another base model, keeping what it learned.

Like `kindred train`: the plan (what is replayed, what the old version teaches, how long) is shown,
`[y/N]` asks for the `migrate` consent (`--yes` answers for you), the training process runs with
progress on stderr, and the last line of stdout is the new candidate version's id. Then the
migration card (old vs new) is measured and shown. Nothing changes in the chats until the version
is activated (`kindred versions activate ID`, which switches the base, with consent).
`--resume` continues a stopped or killed move.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from kindred.cli.numbers import whole
from kindred.cli.run_follow import EXIT_REFUSED, ask, follow_run, watch
from kindred.core.basics.errors import KindredError
from kindred.core.basics.progress import run_to_end
from kindred.core.home.assistants import Assistant
from kindred.core.session import Session, open_session
from kindred.core.training import runner
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import RunDir
from kindred.core.upgrades import migration
from kindred.core.upgrades.migration_data import Progress


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("migrate", parents=[common],
                            help="move the assistant to another base model, keeping what it "
                                 "learned")
    p.add_argument("--to", metavar="MODEL",
                   help="the new base model, as `kindred models list` shows it (id or name)")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.add_argument("--steps", type=whole(1, 1_000_000), help="exact number of training steps")
    p.add_argument("--prompts", type=whole(1, 10_000), metavar="N",
                   help="re-teach with at most N of the questions (quicker; teaches less)")
    p.add_argument("--yes", action="store_true", help="give consent without asking")
    p.add_argument("--resume", action="store_true",
                   help="continue a stopped or interrupted move (follows a running one)")
    p.set_defaults(run=run_migrate)


def _config(args: argparse.Namespace) -> TrainConfig | None:
    if args.steps is None:
        return None
    if args.steps < 1:
        raise KindredError("--steps must be at least 1. Nothing was changed.")
    return replace(TrainConfig(), steps=args.steps).validated()


def _plan(session: Session, args: argparse.Namespace) -> migration.MigrationPlan:
    assistant = session.assistant(args.assistant)
    shown = [-1.0]

    def say(item: Progress) -> None:
        if item.fraction - shown[0] >= 0.1 or item.fraction >= 1:
            shown[0] = item.fraction
            print(f"[{item.fraction:4.0%}] {item.message}", file=sys.stderr, flush=True)

    return run_to_end(migration.plan_migration(session, assistant, args.to, _config(args),
                                               prompt_limit=args.prompts), say)


def _card(session: Session, run: RunDir) -> None:
    """Measure and show the migration card (stderr: stdout's last line stays the version)."""
    version = migration.run_version(run)
    if version is None:
        return
    print("Measuring the migration card (old and new versions answer the same questions)…",
          file=sys.stderr, flush=True)
    card = run_to_end(migration.measure(session, version))
    for line in card.get("summary", []):
        print(line, file=sys.stderr)


def resume_move(session: Session, assistant: Assistant, yes: bool) -> int:
    """Follow the assistant's running move, or resume its stopped or killed one (asking the
    `migrate` consent again); then measure and show the migration card. `kindred train
    --resume` comes here too when the unfinished run is a move."""
    going = [r for r in runner.running_runs(session, assistant.id) if r.plan().get("migration")]
    if going:
        code = watch(session, going[-1])
        if code == 0:
            _card(session, going[-1])
        return code
    run = migration.resumable(session, assistant)
    if run is None:
        raise KindredError(f"There is no unfinished move of {assistant.name} to resume. "
                           "Nothing was changed.")
    print(f"Resuming {runner.describe_run(run)}.", file=sys.stderr)
    to_base = run.plan()["migration"].get("to_base") or {}
    decision = ask(session, runner.request_resume(session.store, run),
                    f"Resume the move to {to_base.get('name') or 'the new model'}?", yes)
    if not decision.granted:
        print("Nothing was moved; nothing was changed.", file=sys.stderr)
        return EXIT_REFUSED
    code = follow_run(session, run, decision, resume=True)
    if code == 0:
        _card(session, run)
    return code


def run_migrate(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    if args.resume:
        if args.to or args.steps is not None:
            raise KindredError("--resume goes on with the move's own settings; drop --to and "
                               "--steps. Nothing was changed.")
        return resume_move(session, assistant, args.yes)
    if not args.to:
        raise KindredError("Say which model to move to: `kindred migrate --to MODEL` (see "
                           "`kindred models list`). Nothing was changed.")
    plan = _plan(session, args)
    decision = ask(session, migration.request_migration(session.store, plan),
                    f"Move to {plan.to_model.name}?", args.yes)
    if not decision.granted:
        print("Nothing was moved; nothing was changed.", file=sys.stderr)
        return EXIT_REFUSED
    run = migration.start_migration(session, plan, decision)
    code = follow_run(session, run, decision, resume=False)
    if code == 0:
        _card(session, run)
    return code
