"""`kindred export NAME FILE` and `kindred import FILE`: one file with an assistant's whole
history, restored only after it has been checked completely. `--as-copy` restores it beside the
assistant it came from (its versions get new ids; see `core.bundles.copies`)."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from kindred.cli.output import confirm
from kindred.core.archive import versions
from kindred.core.basics.errors import KindredError
from kindred.core.bundles.bundle import AlreadyHereError, export_bundle, import_bundle
from kindred.core.home import consent
from kindred.core.session import open_session


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("export", parents=[common],
                            help="write an assistant with all its versions and history to a file")
    p.add_argument("name", help="assistant name")
    p.add_argument("file")
    p.set_defaults(run=run_export)
    p = commands.add_parser("import", parents=[common],
                            help="restore an assistant from an exported file")
    p.add_argument("file")
    p.add_argument("--as", "--name", dest="name", metavar="NAME",
                   help="name for the restored assistant")
    p.add_argument("--as-copy", action="store_true",
                   help="import it beside the assistant it came from, as a new assistant "
                        "(\"NAME (copy)\") whose versions get new ids")
    p.add_argument("--yes", action="store_true",
                   help="consent to restoring the version that was active when exported")
    p.set_defaults(run=run_import)


def run_export(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.name)
    result = export_bundle(session.store, assistant, args.file)
    print(f"Exported {assistant.name} ({result.versions} versions, "
          f"{result.size_bytes / 1e6:.1f} MB) to {result.path}")
    print(f"sha256 {result.sha256}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    try:
        result = import_bundle(session.store, args.file, name=args.name, as_copy=args.as_copy)
    except AlreadyHereError as exc:
        said = str(exc).removesuffix(" Nothing was changed.")
        raise KindredError(f"{said} To do that: kindred import {shlex.quote(args.file)} --as-copy "
                           "[--name NAME]. Nothing was changed.") from exc
    name = result.assistant.name
    if result.copy_of is not None:
        print(f"Imported assistant {name}, a copy of {result.copy_of}: "
              f"{len(result.versions)} versions under new ids (each records the one it was "
              f"copied from), {result.conversations} conversations, {result.events} ledger "
              "events.")
    else:
        print(f"Imported assistant {name}: {len(result.versions)} versions, "
              f"{result.conversations} conversations, {result.events} ledger events.")
    if result.waiting:
        print(f"{len(result.waiting)} of the versions were made for a base model that is not "
              "among your models here; they are archived and verified, and become usable when "
              "you add that model file (`kindred models add PATH`).")
    if result.was_active is None:
        return 0
    version = versions.get_version(session.store, result.was_active)
    kind, summary, evidence = versions.describe_activation(session.store, version)
    req = consent.request(session.store, kind, version.assistant_id, version.id, summary,
                          evidence)
    named = versions.name_of(session.store, version)
    print(f"{named} was active when exported. {summary}")
    granted = confirm(f"Restore {named} for {name}?", args.yes)
    decision = consent.decide(session.store, req.id, granted=granted,
                              via="cli-flag" if args.yes else "cli-prompt")
    if granted:
        versions.activate(session.store, version.id, decision)
        print(f"{named} is active for {name}.")
    else:
        print(f"{name} answers with its base model; restore later with "
              f"`kindred versions restore {version.short}`.")
    return 0
