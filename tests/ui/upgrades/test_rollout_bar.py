"""The rollout bar's next step goes through the window's one consent flow: refused, nothing
moves; granted, the core's dispatcher takes the step, and the last one hands the outgoing
version to its retirement interview."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget

from kindred.core.archive import assistant_state, versions
from kindred.core.basics.states import VersionStatus
from kindred.core.session import Session
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.upgrades.rollout_bar import RolloutBar
from support.archive_helpers import phasing_in


def test_next_step_refused_then_granted(qtbot, session: Session,  # type: ignore[no-untyped-def]
                                        model_path: Path) -> None:
    store = session.store
    a, b = phasing_in(session, model_path, steps=2)
    aid = a.assistant_id
    window = QWidget()  # the bar lives in the main window; dialogs open over it
    qtbot.addWidget(window)
    bar = RolloutBar(session, window)
    bar.refresh()
    messages: list[tuple[str, bool]] = []
    retired: list[str] = []
    bar.message.connect(lambda text, error: messages.append((text, error)))
    bar.retired.connect(retired.append)
    halfway = assistant_state.speaks_through(store, aid)

    bar.next_button.click()
    dialog = bar.dialog
    assert isinstance(dialog, ConsentDialog) and dialog.request.kind == "rollout"
    bar.next_button.click()  # one dialog at a time
    assert bar.dialog is dialog
    dialog.refuse_button.click()
    assert messages[-1] == ("Not taken: the rollout goes on at its pace.", False)
    assert assistant_state.speaks_through(store, aid) == halfway
    qtbot.waitUntil(lambda: bar.dialog is None, timeout=5_000)

    bar.next_button.click()
    dialog = bar.dialog
    assert isinstance(dialog, ConsentDialog)
    dialog.approve_button.click()
    assert messages[-1][1] is False and "Rollout finished" in messages[-1][0]
    assert assistant_state.speaks_through(store, aid) == [(b.id, 1.0)]
    assert versions.get_version(store, a.id).status == VersionStatus.RETIRED
    assert retired == [a.id]
    assert not bar.isVisibleTo(window)  # no rollout open any more
