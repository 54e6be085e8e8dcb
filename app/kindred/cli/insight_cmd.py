"""`kindred learned [VERSION]` (what a version learned) and `kindred usage` (time together)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.cli.output import print_json, print_table
from kindred.core.archive import cards
from kindred.core.archive.versions import active_version, get_version
from kindred.core.basics.errors import KindredError
from kindred.core.basics.priority import renice
from kindred.core.chat.usage import usage
from kindred.core.engine.llama import Engine
from kindred.core.home.assistants import get_assistant
from kindred.core.learning import insight
from kindred.core.learning.feedback import system_prompt
from kindred.core.session import open_session

BACKGROUND_NICE_VARIABLE = "KINDRED_INSIGHT_NICE"


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("learned", parents=[common],
                            help="what a version learned (default: the active version)")
    p.add_argument("version", nargs="?", help="version id or prefix")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.add_argument("--against", default="base",
                   help="compare with 'base' (default), 'parent', or another version id")
    p.add_argument("--json", action="store_true")
    p.add_argument("--background", action="store_true",
                   help="at the lowest priority, only fill the cache (the app runs this when a "
                        "training made a new version); progress on stderr, nothing on stdout")
    p.set_defaults(run=learned)
    p = commands.add_parser("usage", parents=[common], help="messages per version and per day")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=show_usage)


def learned(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    key = args.version
    if key is None:
        active = active_version(session.store, assistant.id)
        if active is None:
            raise KindredError(f"{assistant.name} has no active version yet: it talks through "
                               "the bare base model. Name a version: `kindred learned ID`.")
        key = active.id
    elif not args.assistant:  # a version named alone: its own assistant's system prompt
        assistant = get_assistant(session.store, get_version(session.store, key).assistant_id)
    system = system_prompt(session.store, assistant)
    if args.background:
        renice(BACKGROUND_NICE_VARIABLE, 19)
    result = insight.cached(session.store, key, against=args.against, system=system)
    if result is None:  # only now is the model worth loading
        engine = Engine(session.model_for(assistant).path)
        try:
            for event in insight.compute(session.store, engine, key, against=args.against,
                                         system=system):
                if isinstance(event, insight.Progress):
                    print(f"[{event.fraction:4.0%}] {event.message}", file=sys.stderr)
                else:
                    result = event
        finally:
            engine.close()
    assert result is not None
    if args.background:
        return 0
    result = {**result, "quality": cards.get_card(session.store, result["version"])}
    if args.json:
        print_json(result)
        return 0
    print(f"What version {result['version'][:12]} learned (against {result['against'][:12]}):")
    for sentence in result["summary"]:
        print(f"  • {sentence}")
    if result["quality"]:
        print("\nQuality, against the base model, on questions its training never saw:")
        for line in result["quality"]["summary"]:
            print(f"  • {line}")
        for flag in result["quality"]["flags"]:
            print(f"  ! {flag}")
    if result["preferences"]:
        print("\nStated preferences it learned from:")
        for text in result["preferences"]:
            print(f"  - {text}")
    print("\nWords it now favours: " + ", ".join(
        repr(t["token"]) for t in result["tokens"]["promoted"][:8]))
    print("Words it now avoids:  " + ", ".join(
        repr(t["token"]) for t in result["tokens"]["demoted"][:8]))
    fit = result["fit"]
    if fit["base_nll"] is not None:
        print(f"\nFit to your preferred answers (lower is better): before {fit['base_nll']:.3f}, "
              f"now {fit['adapter_nll']:.3f}")
    for pair in result["probes"][:3]:
        print(f"\nQ: {pair['prompt']}\n  before: {pair['base'][:200]}\n  now:    "
              f"{pair['adapter'][:200]}")
    return 0


def show_usage(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    data = usage(session.store, assistant.id)
    if args.json:
        print_json(data.to_json())
        return 0
    print(f"{assistant.name}: {data.days_together} day(s) together.\n")
    print_table(["VERSION", "MESSAGES", "OTHER APPS", "CONVERSATIONS", "TOKENS OUT", "👍", "👎",
                 "FIXES"],
                [[v[:12], c["messages"], c["other_apps"], c["conversations"], c["tokens_out"],
                  c["ratings_up"], c["ratings_down"], c["corrections"]]
                 for v, c in data.per_version.items()])
    print()
    print_table(["DAY", "MESSAGES", "CONVERSATIONS", "TOKENS OUT"],
                [[d, c["messages"], c["conversations"], c["tokens_out"]]
                 for d, c in data.per_day.items()])
    return 0
