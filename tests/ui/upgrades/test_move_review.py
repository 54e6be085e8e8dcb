"""A version a move made is reviewed through the move's own dialog (its migration card, the
blind trial and the switch), never through the ordinary Phase in / Switch now review: two
bases cannot be blended, and the card is what tells what it kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
