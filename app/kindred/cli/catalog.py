"""`kindred models ...` and `kindred assistants ...`.

`models remove` unregisters a model (the file is kept) after a `[y/N]` consent that names the
archived versions made for it (`--yes` gives it on the command line); see `core.model_removal`.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from kindred.cli.numbers import number, whole
from kindred.cli.output import confirm, print_json, print_table
from kindred.core.basics.sampling import Sampling
from kindred.core.home import consent
from kindred.core.home.assistants import create_assistant, list_assistants
from kindred.core.home.models import add_model, list_models
from kindred.core.session import open_session
from kindred.core.upgrades import model_removal


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    models = commands.add_parser("models", parents=[common], help="base models (GGUF)")
    sub = models.add_subparsers(dest="action", required=True)
    p = sub.add_parser("list", parents=[common], help="registered base models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=models_list)
    p = sub.add_parser("add", parents=[common], help="check and register a GGUF base model")
    p.add_argument("path")
    p.set_defaults(run=models_add)
    p = sub.add_parser("remove", parents=[common],
                       help="forget a model (its file is kept; versions made for it stay "
                            "archived)")
    p.add_argument("model", help="id, name or sha256, as `kindred models list` shows it")
    p.add_argument("--yes", action="store_true", help="give your consent without a prompt")
    p.set_defaults(run=models_remove)

    assistants = commands.add_parser("assistants", parents=[common], help="your assistants")
    sub = assistants.add_subparsers(dest="action", required=True)
    p = sub.add_parser("list", parents=[common], help="all assistants")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=assistants_list)
    p = sub.add_parser("create", parents=[common], help="a new assistant")
    p.add_argument("name")
    p.add_argument("--model", help="base model id (default: the embedded model)")
    p.add_argument("--persona", help="system prompt")
    p.add_argument("--temperature", type=number(0, 5),
                   help="0 = always the likeliest word (default 0.7)")
    p.add_argument("--top-p", type=number(0, 1, above=True),
                   help="nucleus sampling (default 0.95)")
    p.add_argument("--top-k", type=whole(0, 1_000_000),
                   help="sample among the k likeliest (default 40)")
    p.add_argument("--max-tokens", type=whole(1, 32768), help="longest answer (default 512)")
    p.set_defaults(run=assistants_create)


def models_list(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    models = list_models(session.store)
    if args.json:
        print_json([m.to_json() for m in models])
    else:
        print_table(["ID", "NAME", "ARCH", "SIZE", "EMBEDDED"],
                    [[m.id, m.name, m.architecture, f"{m.size_bytes / 1e6:.0f} MB",
                      "yes" if m.embedded else ""] for m in models])
    return 0


def models_add(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    model = add_model(session.store, args.path)
    print(f"Added {model.name} ({model.architecture}, {model.size_bytes / 1e6:.0f} MB)")
    kept = model_removal.usable_again(session.store, model)
    if kept:
        print(f"{len(kept)} archived version{'s' if len(kept) > 1 else ''} made for it "
              f"can be used again: {', '.join(v.short for v in kept)}")
    print(model.id)
    return 0


def models_remove(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    store = session.store
    plan = model_removal.plan_removal(store, args.model)  # refuses with a reason, asking nothing
    request = model_removal.request_removal(store, plan)
    print(plan.summary())
    granted = confirm(f"Remove {plan.model.name} from Kindred's models?", args.yes)
    decision = consent.decide(store, request.id, granted=granted,
                              via="cli-flag" if args.yes else "cli-prompt")
    if not granted:
        print("Not removed: you refused. Nothing was changed.")
        return 1
    model = model_removal.remove_model(store, plan.model.id, decision)
    print(f"Removed {model.name} from Kindred's models; the file {model.path} is kept.")
    return 0


def assistants_list(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistants = list_assistants(session.store)
    if args.json:
        print_json([a.to_json() for a in assistants])
    else:
        print_table(["ID", "NAME", "MODEL", "ACTIVE VERSION"],
                    [[a.id, a.name, a.model_id, (a.active_version or "base")[:12]]
                     for a in assistants])
    return 0


def assistants_create(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    kwargs: dict[str, Any] = {"model_id": args.model}
    if args.persona is not None:
        kwargs["persona"] = args.persona
    chosen = {name: getattr(args, name) for name in ("temperature", "top_p", "top_k", "max_tokens")
              if getattr(args, name) is not None}
    if chosen:
        kwargs["sampling"] = replace(Sampling(), **chosen)
    assistant = create_assistant(session.store, args.name, **kwargs)
    print(f"Created assistant {assistant.name} on model {assistant.model_id}")
    return 0
