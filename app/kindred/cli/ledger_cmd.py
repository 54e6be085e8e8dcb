"""`kindred ledger list|verify` and `kindred report`: the continuity record and its summary."""

from __future__ import annotations

import argparse
import json
from typing import Any

from kindred.cli.output import print_json, print_table, when
from kindred.core.archive import catalog, versions
from kindred.core.archive import objects as archive
from kindred.core.home import ledger
from kindred.core.session import open_session


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    top = commands.add_parser("ledger", parents=[common], help="the hash-chained continuity log")
    sub = top.add_subparsers(dest="action", required=True)
    p = sub.add_parser("list", parents=[common], help="every event, oldest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("-a", "--assistant", help="only this assistant's events")
    p.set_defaults(run=run_list)
    p = sub.add_parser("verify", parents=[common], help="check the whole chain")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_verify)

    p = commands.add_parser("report", parents=[common],
                            help="continuity report: versions archived, active, candidate...")
    p.add_argument("--json", action="store_true")
    p.add_argument("-a", "--assistant", help="only this assistant")
    p.set_defaults(run=run_report)


def run_list(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant_id = session.assistant(args.assistant).id if args.assistant else None
    found = ledger.events(session.store, assistant_id=assistant_id)
    if args.json:
        print_json([e.to_json() for e in found])
        return 0
    rows = []
    for event in found:
        detail = json.dumps(event.payload, ensure_ascii=False, sort_keys=True)
        rows.append([event.seq, when(event.at), event.kind, event.assistant_id or "-",
                     detail if len(detail) <= 70 else detail[:69] + "…"])
    print_table(["SEQ", "AT", "KIND", "ASSISTANT", "DETAIL"], rows)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    check = ledger.verify(session.store)
    if args.json:
        print_json(check.to_json())
    elif check.ok:
        print(f"The ledger verifies: {check.count} events, each chained to the one before.")
    else:
        where = "" if check.first_bad is None else f" (first bad event: {check.first_bad})"
        print(f"The ledger does NOT verify: {check.reason}{where}.")
    return 0 if check.ok else 1


def run_report(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant_id = session.assistant(args.assistant).id if args.assistant else None
    counts = versions.report(session.store, assistant_id)
    chain = ledger.verify(session.store)
    damaged = [c.version_id for c in archive.verify_all(session.store, assistant_id) if not c.ok]
    size = catalog.archive_size(session.store, assistant_id)
    result = {**counts, "ledger_ok": chain.ok, "ledger_events": chain.count,
              "damaged": damaged, "disk": size}
    if args.json:
        print_json(result)
        return 0
    print_table(["", "VERSIONS"], [[k, v] for k, v in counts.items()])
    print(f"ledger: {chain.count} events, " + (
        "verifies" if chain.ok else f"BROKEN at event {chain.first_bad}"
        if chain.first_bad is not None else f"does NOT verify: {chain.reason}"))
    print(catalog.describe_size(size))
    if damaged:
        print("damaged versions: " + ", ".join(d[:12] for d in damaged))
    return 0
