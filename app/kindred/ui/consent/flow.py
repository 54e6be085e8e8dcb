"""The window's one consent flow for a version request: the dialog asks, the core's one
dispatcher (`upgrades.decisions.carry_out`) carries the answer out (or records the refusal),
and the outcome or the error is said in one place; what changed goes out on the change bus.

Callers build the dialog with their own words (what changes, what is kept, extra evidence) and
hand it here; they never call activate/retire/delete/rollout themselves after a dialog."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt

from kindred.core.basics.errors import KindredError
from kindred.core.basics.states import ConsentKind
from kindred.core.home.consent import Decision
from kindred.core.upgrades.decisions import Outcome, carry_out
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.ops.changes import Change, announce

Say = Callable[[str, bool], None]
"""A message for the person, and whether it is an error."""


def ask(dialog: ConsentDialog, say: Say, *, granted: Callable[[Decision], None],
        refused: str) -> ConsentDialog:
    """Open `dialog` (deleted once closed) for a request that is not about a version (train,
    resume, interrupt, migrate): refused, say `refused` (the refusal is already recorded);
    granted, `granted(decision)`, a KindredError from which is said as an error."""

    def decided(decision: Decision) -> None:
        if not decision.granted:
            say(refused, False)
            return
        try:
            granted(decision)
        except KindredError as exc:
            say(str(exc), True)

    return _opened(dialog, decided)


def _opened(dialog: ConsentDialog, decided: Callable[[Decision], None]) -> ConsentDialog:
    dialog.decided.connect(decided)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog


def open_for_version(dialog: ConsentDialog, say: Say,
                     done: Callable[[Outcome], None] | None = None) -> ConsentDialog:
    """Open `dialog` (deleted once closed); on an answer, carry it out, say how it went, announce
    the change, then `done(outcome)` (not called if carrying it out failed)."""
    store = dialog.store

    def decided(decision: Decision) -> None:
        try:
            outcome = carry_out(store, decision)
        except KindredError as exc:
            say(str(exc), True)
            return
        say(outcome.message, False)
        if outcome.granted:
            announce(Change.VERSIONS,
                     *((Change.ROLLOUT,) if outcome.kind == ConsentKind.ROLLOUT else ()),
                     *((Change.SPEAKS,) if outcome.speaks_changed else ()))
        if done is not None:
            done(outcome)

    return _opened(dialog, decided)
