"""`kindred rollout ...` and `kindred trial ...`: phase a version in, try it side by side; and
`kindred versions interview|report`: what a retired version said and did.

Starting a rollout and taking a step beyond the agreed pace ask `[y/N]` (`--yes` is consent given
on the command line, recorded as `cli-flag`); pausing, resuming and rolling back are the person's
to take at any time (rolling back asks to confirm, and is recorded as the person's decision).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.cli.numbers import number, whole
from kindred.cli.output import confirm, print_json, print_table, say_evidence, when
from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.states import RolloutState
from kindred.core.home import consent
from kindred.core.session import Session, open_session
from kindred.core.upgrades import retirement, rollout, trial
from kindred.core.upgrades.rollout import Plan


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    top = commands.add_parser("rollout", parents=[common],
                              help="phase a new version in gradually (blend), or roll back")
    sub = top.add_subparsers(dest="action", required=True)

    def add(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help_text)
        p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
        p.set_defaults(run=run)
        return p

    p = add("start", run_start, "phase VERSION in over N steps")
    p.add_argument("version")
    p.add_argument("--steps", type=whole(2, 20), default=rollout.DEFAULT_STEPS,
                   help=f"number of steps (default {rollout.DEFAULT_STEPS}: 25/50/75/100 %%)")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument("--every-answers", type=whole(1, 100_000), metavar="K",
                      help=f"advance after every K answers (default "
                           f"{rollout.DEFAULT_EVERY_ANSWERS})")
    pace.add_argument("--every-days", type=number(0, 3650, above=True), metavar="D",
                      help="advance every D days")
    p.add_argument("--no-hold", action="store_true",
                   help="keep advancing even while a side-by-side trial says it answers worse")
    p.add_argument("--yes", action="store_true", help="give your consent without a prompt")
    p = add("status", run_status, "where the rollout stands")
    p.add_argument("--json", action="store_true")
    p = add("next", run_next, "take the next step now")
    p.add_argument("--yes", action="store_true", help="give your consent without a prompt")
    add("pause", run_pause, "keep the current blend, stop advancing")
    add("resume", run_resume, "continue the agreed plan")
    p = add("back", run_back, "roll back to the outgoing version alone")
    p.add_argument("--yes", action="store_true", help="confirm without a prompt")

    top = commands.add_parser("trial", parents=[common],
                              help="side-by-side trial: both versions answer, you pick, blind")
    sub = top.add_subparsers(dest="action", required=True)
    p = add("start", run_trial_start, "both versions answer your next N prompts in `kindred "
                                      "chat`")
    p.add_argument("version", nargs="?", help="the version to try (default: the rollout's or "
                                              "the newest candidate)")
    p.add_argument("--prompts", type=whole(1, 100), default=trial.DEFAULT_PROMPTS)
    p = add("status", run_trial_status, "the tally so far")
    p.add_argument("--json", action="store_true")
    add("end", run_trial_end, "end the trial now (the tally is kept)")


def add_version_commands(add: Any) -> None:
    """`versions interview` and `versions report` (called by `kindred.cli.versions`)."""
    p = add("interview", run_interview, "a retired version's interview (held if it never was)")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p = add("report", run_report, "a version's post-deployment report")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")


# -- rollout ---------------------------------------------------------------------------------


def _assistant_id(session: Session, args: argparse.Namespace) -> AssistantId:
    return session.assistant(getattr(args, "assistant", None)).id


def run_start(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    aid = _assistant_id(session, args)
    version = versions.get_version(session.store, args.version, assistant_id=aid)
    by_days = args.every_days is not None  # (0 is refused where it is parsed, never a default)
    plan = Plan(steps=args.steps,
                every_answers=None if by_days else
                (rollout.DEFAULT_EVERY_ANSWERS if args.every_answers is None
                 else args.every_answers),
                every_days=args.every_days, hold_on_loss=not args.no_hold).validated()
    kind, summary, evidence = rollout.describe_start(session.store, version, plan)
    req = consent.request(session.store, kind, aid, version.id, summary, evidence)
    print(summary)
    say_evidence(session.store, req)
    granted = confirm(f"Phase in {versions.name_of(session.store, version)}?", args.yes)
    decision = consent.decide(session.store, req.id, granted=granted,
                              via="cli-flag" if args.yes else "cli-prompt")
    if not granted:
        print("Not started: you refused. Nothing was changed.")
        return 1
    started = rollout.start(session.store, version.id, plan, decision)
    print("Rollout started: " + rollout.progress_text(session.store, started))
    return 0


def status_json(session: Session, aid: AssistantId) -> dict[str, Any] | None:
    current = rollout.latest(session.store, aid)
    if current is None:
        return None
    named = versions.names(session.store, aid)
    return {**current.to_json(), "blend": rollout.blend_label(named, current.adapters),
            "from_name": named.get(current.from_version or "", None),
            "to_name": named.get(current.to_version),
            "answers_this_step": rollout.answers_since(session.store, current),
            "text": rollout.progress_text(session.store, current)}


def run_status(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    aid = _assistant_id(session, args)
    info = status_json(session, aid)
    if args.json:
        print_json(info)
        return 0
    if info is None:
        print("No rollout yet. Start one with: kindred rollout start VERSION")
        return 0
    print_table(["FIELD", "VALUE"], [
        ("state", info["state"]), ("from", info["from_name"] or "base model"),
        ("to", info["to_name"]), ("step", f"{info['step']} of {info['steps']}"),
        ("scale", f"{info['scale']:.2f}"), ("blend", info["blend"]),
        ("pace", Plan(**info["plan"]).pace), ("now", info["text"])])
    return 0


def run_next(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    aid = _assistant_id(session, args)
    kind, summary, evidence = rollout.describe_next_step(session.store, aid)
    req = consent.request(session.store, kind, aid, evidence["version"], summary, evidence)
    print(summary)
    say_evidence(session.store, req)
    granted = confirm("Take the next step now?", args.yes)
    decision = consent.decide(session.store, req.id, granted=granted,
                              via="cli-flag" if args.yes else "cli-prompt")
    if not granted:
        print("Not taken: you refused. The rollout goes on at its pace.")
        return 1
    moved = rollout.next_step(session.store, aid, decision)
    print(rollout.progress_text(session.store, moved) if moved.open else
          _finished_text(session, moved))
    if moved.state == RolloutState.FINISHED and moved.from_version:
        interview_now(session, moved.from_version)
    return 0


def _finished_text(session: Session, done: rollout.Rollout) -> str:
    named = versions.names(session.store, done.assistant_id)
    if not done.from_version:  # the base stays under every version: nothing steps down
        return (f"Rollout finished: {named.get(done.to_version)} alone answers now; the base "
                "model no longer answers alone (it stays; History can go back to it).")
    return (f"Rollout finished: {named.get(done.to_version)} alone answers now; "
            f"{named.get(done.from_version)} is retired (archived and restorable).")


def interview_now(session: Session, version_id: VersionId) -> None:
    """Hold a retiring version's interview here, with progress on stderr. The change it follows
    is already made: Ctrl+C or a failure leaves the interview pending (the app holds it when
    it next opens, `kindred versions interview` at any time), never undoes the change."""
    version = versions.get_version(session.store, version_id)
    name = versions.name_of(session.store, version)
    print(f"Holding {name}'s retirement interview (Ctrl+C: later)…", file=sys.stderr)
    try:
        for event in retirement.hold_interview(session, version_id):
            if isinstance(event, retirement.Progress):
                print(f"  {event.message}", file=sys.stderr)
        retirement.report_for(session.store, version_id)
    except (KindredError, KeyboardInterrupt) as exc:
        why = "stopped" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"The interview was not held ({why}); it is still due: kindred versions "
              f"interview {version.short}", file=sys.stderr)
        return
    print(f"Its interview and report: kindred versions interview {version.short} / "
          f"kindred versions report {version.short}")


def print_interviews(session: Session, evidence: dict[str, Any]) -> None:
    """The predecessors' interviews a consent links to, as commands to read them."""
    for item in evidence.get("interviews") or []:
        version = versions.get_version(session.store, item["version"])
        name = versions.name_of(session.store, version)
        if item.get("interview"):
            print(f"What {name} said as it stepped down: kindred versions interview "
                  f"{version.short}")
        else:
            print(f"{name} is interviewed when it steps down.")


def run_pause(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    paused = rollout.pause(session.store, _assistant_id(session, args), via="cli-prompt")
    print("Paused: " + rollout.progress_text(session.store, paused))
    return 0


def run_resume(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    aid = _assistant_id(session, args)
    resumed = rollout.resume(session.store, aid, via="cli-prompt")
    stepped = rollout.advance_if_due(session.store, aid)
    print("Resumed: " + rollout.progress_text(session.store, stepped or resumed))
    return 0


def run_back(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    aid = _assistant_id(session, args)
    current = rollout.current(session.store, aid)
    if current is None:
        raise KindredError("No rollout is in progress. Nothing was changed.")
    named = versions.names(session.store, aid)
    back_to = named.get(current.from_version or "", "the base model alone")
    print(f"Roll back to {back_to}: {named.get(current.to_version)} stops answering at once "
          "and stays archived (as refused); it can be phased in again later.")
    if not confirm("Roll back?", args.yes):
        print("Not rolled back. Nothing was changed.")
        return 1
    rollout.roll_back(session.store, aid, via="cli-flag" if args.yes else "cli-prompt")
    print(f"Rolled back: {back_to} answers alone again.")
    return 0


# -- trial -----------------------------------------------------------------------------------


def run_trial_start(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    started = trial.start(session.store, _assistant_id(session, args), args.version,
                          args.prompts)
    print(f"Trial started: your next {started.prompts} prompts in `kindred chat` get two "
          "answers, in random order and unnamed; you pick the better one (or same).")
    return 0


def run_trial_status(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    aid = _assistant_id(session, args)
    a, b = trial.default_pair(session.store, aid)
    running = trial.current(session.store, aid)
    last = running or (trial.latest(session.store, aid) if b is None else None)
    if last is not None:  # the running trial, else the last one when nothing is to try now
        a, b = last.a_version, last.b_version
    if b is None:
        print_json(None) if args.json else print("No trial yet.")
        return 0
    tally = trial.tally(session.store, aid, a, b)
    named = versions.names(session.store, aid)
    info = {"a": a, "b": b, "a_name": named.get(a or "", "base model"), "b_name": named.get(b),
            "running": running.to_json() if running else None, **tally.to_json()}
    if args.json:
        print_json(info)
    else:
        ended = "" if running is not None or last is None else " (the trial has ended)"
        print(f"{info['b_name']} against {info['a_name']}: {tally.text}.{ended}")
    return 0


def run_trial_end(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    ended = trial.end(session.store, _assistant_id(session, args))
    print(f"Trial ended after {ended.decided} decided prompts; the tally is kept.")
    return 0


# -- retirement ------------------------------------------------------------------------------


def run_interview(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    version = versions.get_version(session.store, args.id)
    record = retirement.interview_for(session.store, version.id)
    if record is None:
        if version.status in retirement.IN_USE:
            raise KindredError(f"Version {version.short} is still in use; it is interviewed "
                               "when it retires.")
        events = retirement.hold_interview(session, version.id)
        for event in events:
            if isinstance(event, retirement.Progress) and not args.json:
                print(f"  {event.message}", file=sys.stderr)
            elif isinstance(event, retirement.Record):
                record = event
    assert record is not None
    if args.json:
        print_json(record.to_json())
        return 0
    content = record.content
    name = versions.name_of(session.store, version)
    print(f"{name} ({version.short}), interviewed {when(content['held_at'])} with question "
          f"set {content['questions']} (greedy, {content['model']}).")
    for item in content["answers"]:
        print(f"\nQ: {item['question']}\nA: {item['answer']}")
    return 0


def run_report(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    version = versions.get_version(session.store, args.id)
    record = retirement.report_for(session.store, version.id)
    if args.json:
        print_json(record.to_json())
        return 0
    for key, value in retirement.report_lines(record.content):
        print(f"{key}: {value}")
    return 0
