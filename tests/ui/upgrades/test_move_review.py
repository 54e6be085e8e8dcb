"""A version a move made is reviewed through the move's own dialog (its migration card, the
blind trial and the switch), never through the ordinary Phase in / Switch now review: two
bases cannot be blended, and the card is what tells what it kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kindred.core.session import open_session
from kindred.ui.shell.main_window import MainWindow
from kindred.ui.upgrades.migrate import MigrateDialog
from support.archive_helpers import moved


def test_reviewing_a_moved_version_opens_the_move_with_its_card(  # type: ignore[no-untyped-def]
        qtbot, home, make_window: Callable[..., MainWindow], model_path: Path,
        sibling_model_path: Path) -> None:
    session = open_session(home.root)
    _old, new = moved(session, model_path, sibling_model_path)
    session.close()
    window = make_window(ready=False)
    window.training.review(new.id)  # the candidate banner's Review…
    dialog = window.dialog
    assert isinstance(dialog, MigrateDialog)
    assert dialog.card is not None and dialog.new_version == new.id
    assert not dialog.try_button.isHidden() and not dialog.switch_button.isHidden()
    assert window.training.reviewer.choice is None  # no Phase in / Switch now box
    assert not dialog.isModal()  # a move takes minutes: the window stays usable meanwhile


# the offscreen platform cannot raise a window either, and says so (the test platform talking)
@pytest.mark.qt_log_ignore(r"This plugin does not support (propagateSizeHints|raise)\(\)")
def test_the_move_dialog_is_brought_forward_not_opened_twice(  # type: ignore[no-untyped-def]
        qtbot, home, make_window: Callable[..., MainWindow], model_path: Path,
        sibling_model_path: Path) -> None:
    """It stands beside the window: ⋯ → Move to another model… again brings it forward, its
    card with the trial's tally as it stands; "Try both" only while no trial is open."""
    from kindred.core.chat.conversations import create_conversation
    from kindred.core.engine.llama import GenerationStats
    from kindred.core.upgrades import trial

    session = open_session(home.root)
    _old, new = moved(session, model_path, sibling_model_path)
    session.close()
    window = make_window(ready=False)
    window.move_model()
    dialog = window.dialog
    assert isinstance(dialog, MigrateDialog) and not dialog.try_button.isHidden()
    dialog.try_button.click()
    assert dialog.try_button.isHidden()
    store = window.session.store
    running = trial.current(store, new.assistant_id)
    assert running is not None
    conversation = create_conversation(store, new.assistant_id)
    stats = GenerationStats(adapters=[])
    round_ = trial.record_round(store, running, conversation.id, "b", ("Ahoy!", stats),
                                ("Hello.", stats))
    trial.choose(store, round_.id, "first")  # the new version's answer
    window.move_model()
    assert window.dialog is dialog  # the same one, brought forward
    assert "Side-by-side trial (your blind picks): the new version won 1" in \
        dialog.card_lines.text()
    assert dialog.try_button.isHidden()  # the trial is still open (1 of 5)
