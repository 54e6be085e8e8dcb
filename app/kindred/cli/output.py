"""Shared output helpers: JSON for scripts, aligned columns for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from kindred.core.home.consent import ConsentRequest
from kindred.core.home.store import Store
from kindred.core.upgrades.consent_words import in_words


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask `[y/N]` on stdin; `--yes` answers for the user. No answer (EOF) means no."""
    if assume_yes:
        return True
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def when(timestamp: float | None) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else "-"


def say_evidence(store: Store, request: ConsentRequest) -> None:
    """The consent's evidence in words, on stderr, as the window's dialog shows it (the
    record's internals stay in the stored request)."""
    for label, text in in_words(store, request).lines:
        print(f"  {label}: {text}", file=sys.stderr)
