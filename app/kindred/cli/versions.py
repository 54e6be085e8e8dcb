"""`kindred versions ...`: the archive of adapter versions, and the consent-gated changes to it.

Activating, restoring and retiring the active version ask `[y/N]` on stdin (`--yes` is the user's
consent given on the command line, recorded as `cli-flag`); deleting asks the user to type the
version id (or `--confirm ID`). Every answer, yes or no, is recorded as a consent decision.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.cli.output import confirm, print_json, print_table, say_evidence, when
from kindred.cli.rollout import add_version_commands, interview_now, print_interviews
from kindred.core.archive import cards, versions
from kindred.core.archive import objects as archive
from kindred.core.archive.adapter_import import import_adapter
from kindred.core.archive.versions import Version
from kindred.core.basics.states import VersionStatus
from kindred.core.home import consent, ledger
from kindred.core.home.assistants import get_assistant, list_assistants
from kindred.core.session import Session, open_session


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    top = commands.add_parser("versions", parents=[common], help="adapter versions (the archive)")
    sub = top.add_subparsers(dest="action", required=True)

    def add(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help_text)
        p.set_defaults(run=run)
        return p

    p = add("list", run_list, "every version, oldest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("-a", "--assistant", help="only this assistant's versions")
    p = add("show", run_show, "one version: manifest, files, history")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p = add("import", run_import, "archive an outside LoRA (PEFT folder or GGUF) as a candidate")
    p.add_argument("path")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    for name, run, text in (("activate", run_activate, "make a version the active adapter"),
                            ("restore", run_activate, "activate an older version again")):
        p = add(name, run, text)
        p.add_argument("id")
        p.add_argument("--yes", action="store_true", help="give your consent without a prompt")
    p = add("retire", run_retire, "set a version aside (its weights are kept)")
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="consent to retiring the active version")
    p = add("delete", run_delete, "remove a version's weights (a tombstone remains)")
    p.add_argument("id")
    p.add_argument("--confirm", metavar="ID", help="the version id, typed out, as consent")
    p = add("verify", run_verify, "recompute every hash of every kept version")
    p.add_argument("--json", action="store_true")
    add_version_commands(add)  # interview, report


def _names(session: Session) -> dict[int, str]:
    return {a.id: a.name for a in list_assistants(session.store)}


def run_list(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant_id = session.assistant(args.assistant).id if args.assistant else None
    found = versions.list_versions(session.store, assistant_id)
    names = _names(session)
    human: dict[str, str] = {}  # "Version 2", as the app shows it, per assistant
    for aid in {v.assistant_id for v in found}:
        human.update(versions.names(session.store, aid))
    if args.json:
        print_json([{**v.to_json(), "name": human.get(v.id), "assistant": names.get(v.assistant_id)}
                    for v in found])
        return 0
    print_table(["ID", "NAME", "STATUS", "SOURCE", "PARENT", "CREATED", "ASSISTANT"],
                [[v.short, human.get(v.id, ""), v.status, v.source, (v.parent or "-")[:12],
                  when(v.created_at), names.get(v.assistant_id, "?")] for v in found])
    return 0


def describe(session: Session, version: Version) -> dict[str, Any]:
    store = session.store
    periods = versions.active_periods(store, version.assistant_id).get(version.id, [])
    check = archive.verify_version(store, version.id)
    events = [e.to_json() for e in ledger.events(store, assistant_id=version.assistant_id)
              if version.id in (e.payload.get("version"), e.payload.get("subject"))]
    return {**version.to_json(), "assistant": get_assistant(store, version.assistant_id).name,
            "manifest": version.manifest, "verified": check.ok, "problems": check.problems,
            "base_missing": check.base_missing,
            "active_periods": [list(p) for p in periods],
            "messages": versions.usage_counts(store, version.assistant_id).get(version.id, 0),
            "events": events, "quality": cards.get_card(store, version.id)}


def run_show(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    info = describe(session, versions.get_version(session.store, args.id))
    from kindred.core.upgrades.migration import get_card as migration_card

    info["migration"] = migration_card(session.store, info["id"])  # a move to another base
    if args.json:
        print_json(info)
        return 0
    lines = [("id", info["id"]), ("assistant", info["assistant"]), ("status", info["status"]),
             ("source", info["source"]), ("parent", info["parent"] or "-"),
             ("created", when(info["created_at"])), ("base sha256", info["base_sha256"]),
             ("dataset", info["dataset"] or "-"), ("messages answered", info["messages"]),
             ("verified", "yes" if info["verified"] else "NO: " + "; ".join(info["problems"]))]
    if info["base_missing"]:  # a removed model: the version is kept, not damaged
        lines.append(("base model", info["base_missing"]))
    lines += [(f"active from {when(a)}", f"to {when(b) if b else 'now'}")
              for a, b in info["active_periods"]]
    lines += [(f"file {name}", digest) for name, digest in sorted(info["files"].items())]
    if info["migration"]:
        lines += [("migration", line) for line in info["migration"]["summary"]]
    lines += [(f"metric {k}", v) for k, v in sorted(info["metrics"].items())]
    if info["quality"]:
        lines += [("quality", line) for line in info["quality"]["summary"]]
        lines += [("WARNING", flag) for flag in info["quality"]["flags"]]
    print_table(["FIELD", "VALUE"], lines)
    return 0


def run_import(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    version = import_adapter(session.store, assistant, args.path)
    print(f"Imported {args.path} as candidate version {version.short} of {assistant.name}.")
    print(f"Activate it with: kindred versions activate {version.short}")
    print(version.id)
    return 0


def _ask(session: Session, kind: str, version: Version, summary: str, evidence: dict[str, Any],
         yes: bool) -> consent.Decision:
    """Record the request, ask on stdin (or take --yes), record the answer."""
    req = consent.request(session.store, kind, version.assistant_id, version.id, summary,
                          evidence)
    print(summary)
    say_evidence(session.store, req)
    granted = confirm(f"{kind.capitalize()} version {version.short}?", yes)
    return consent.decide(session.store, req.id, granted=granted,
                          via="cli-flag" if yes else "cli-prompt")


def run_activate(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    version = versions.get_version(session.store, args.id)
    if version.status in (VersionStatus.ACTIVE, VersionStatus.DELETED):
        versions.activate(session.store, version.id, None)  # raises the precise message
    check = archive.verify_version(session.store, version.id)
    if not check.ok:
        print(f"kindred: {check.message} It cannot be activated; nothing was changed.",
              file=sys.stderr)
        return 2
    kind, summary, evidence = versions.describe_activation(session.store, version)
    from kindred.core.upgrades.migration import add_trial_to_consent

    summary, evidence = add_trial_to_consent(session.store, version, summary, evidence)
    print_interviews(session, evidence)
    decision = _ask(session, kind, version, summary, evidence, args.yes)
    if not decision.granted:
        changed = versions.record_refusal(session.store, decision)
        kept = f" It stays archived as {changed.status}." if changed else ""
        print(f"Not {kind}d: you refused.{kept} Nothing else was changed.")
        return 1
    previous = versions.active_version(session.store, version.assistant_id)
    done = versions.activate(session.store, version.id, decision)
    print(f"{versions.label_of(session.store, done)} is now active for "
          f"{get_assistant(session.store, done.assistant_id).name}.")
    if previous is not None:  # it stopped being used for good: its interview is held now
        print(f"{versions.name_of(session.store, previous)} is retired (archived, "
              "restorable).")
        interview_now(session, previous.id)
    return 0


def run_retire(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    version = versions.get_version(session.store, args.id)
    decision = None
    if version.status == VersionStatus.ACTIVE:
        kind, summary, evidence = versions.describe_retire(session.store, version)
        decision = _ask(session, kind, version, summary, evidence, args.yes)
        if not decision.granted:
            print("Not retired: you refused. Nothing was changed.")
            return 1
    done = versions.retire(session.store, version.id, decision)
    print(f"{versions.label_of(session.store, done)} is retired; its weights are kept.")
    if decision is not None:  # it was in use: it is interviewed as it steps down
        interview_now(session, done.id)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    version = versions.get_version(session.store, args.id)
    if version.status in (VersionStatus.ACTIVE, VersionStatus.DELETED):
        versions.delete(session.store, version.id, None)  # raises the precise message
    kind, summary, evidence = versions.describe_delete(session.store, version)
    req = consent.request(session.store, kind, version.assistant_id, version.id, summary,
                          evidence)
    print(summary)
    if args.confirm is not None:
        typed, via = args.confirm, "cli-flag"
    else:
        sys.stderr.write(f"Type the version id ({version.short}) to delete it: ")
        sys.stderr.flush()
        typed, via = sys.stdin.readline(), "cli-prompt"
    typed = typed.strip().lower()
    granted = len(typed) >= 12 and version.id.startswith(typed)
    decision = consent.decide(session.store, req.id, granted=granted, via=via)
    if not granted:
        print("Not deleted: the id typed does not match. Nothing was changed.")
        return 1
    done = versions.delete(session.store, version.id, decision)
    print(f"{versions.label_of(session.store, done)} was deleted; its tombstone keeps the "
          "hashes.")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    checks = archive.verify_all(session.store)
    from kindred.core.home.record_check import store_problems

    records = store_problems(session.store)  # interviews and reports: files, fields, ledger
    if args.json:
        print_json([c.to_json() for c in checks]
                   + [{"ok": False, "record": True, "message": p} for p in records])
    else:
        for problem in records:
            print(f"BAD  record: {problem}")
        for check in checks:
            print(("OK   " if check.ok else "BAD  ") + check.message)
        bad = sum(not c.ok for c in checks)
        print(f"{len(checks) - bad} of {len(checks)} versions verify.")
        from kindred.core.archive.recovery import orphans

        kept = orphans(session.store)  # copies a crash set aside whose weights no version has
        for orphan in kept:
            print(f"SET ASIDE {orphan.id[:12]} ({orphan.size_bytes / 1e6:.1f} MB) in "
                  f"{orphan.path}: left by a crash before it was recorded; archiving the same "
                  "adapter again reclaims it.")
    return 0 if all(c.ok for c in checks) and not records else 1
