"""Numeric command-line options, range-checked where they are parsed.

Every numeric option of every command is one of these types, so a value out of range, too large
for the database (`--every-answers 99999999999999999999`), not finite (`--every-days inf`) or not
a number gets one line naming the option and its range, and nothing is changed (argparse exits 2
before the command runs).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

BIG = 2**63 - 1  # SQLite's largest integer: any id or count beyond it cannot exist


def _shown(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ") if value == int(value) and value >= 10_000 \
        else f"{value:g}"


def whole(low: int, high: int) -> Callable[[str], int]:
    """A whole number from `low` to `high`."""
    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"'{text}' is not a whole number (use {low} to {_shown(high)})") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: use a whole number from {low} to {_shown(high)}")
        return value
    parse.__name__ = "whole number"
    return parse


def number(low: float, high: float, *, above: bool = False) -> Callable[[str], float]:
    """A finite number from `low` (or more than `low`, if `above`) to `high`."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        ok = math.isfinite(value) and (value > low if above else value >= low) \
            and value <= high
        if not ok:
            span = (f"above {_shown(low)} and at most {_shown(high)}" if above
                    else f"from {_shown(low)} to {_shown(high)}")
            raise argparse.ArgumentTypeError(f"{text} is out of range: use a number {span}")
        return value
    parse.__name__ = "number"
    return parse
