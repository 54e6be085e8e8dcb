"""A version a move made is reviewed through the move's own dialog (its migration card, the
blind trial and the switch), never through the ordinary Phase in / Switch now review: two
bases cannot be blended, and the card is what tells what it kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kindred.core.archive import objects as archive
from kindred.core.home.models import add_model
from kindred.core.session import open_session
from kindred.core.upgrades import migration
from kindred.ui.shell.main_window import MainWindow
from kindred.ui.upgrades.migrate import MigrateDialog
from support.archive_helpers import activate, lora_config, make_version
from support.lora import peft_tensors


def test_reviewing_a_moved_version_opens_the_move_with_its_card(  # type: ignore[no-untyped-def]
        qtbot, home, make_window: Callable[..., MainWindow], model_path: Path,
        sibling_model_path: Path) -> None:
    session = open_session(home.root)
    store, assistant = session.store, session.assistant()
    sibling = add_model(store, sibling_model_path)
    old = activate(session, make_version(session, model_path, seed=1))
    new = archive.archive_peft(store, assistant, peft_tensors(sibling_model_path, layers=(0,)),
                               lora_config(), source="migrated", parent=old.id, model=sibling)
    migration.store_card(store, new.id, {
        "summary": ["Style kept."], "from": {"version": old.id}, "to": {"version": new.id},
        "samples": [{"prompt": "Hi", "old": "Ahoy!", "new": "Ahoy there!"}]})
    session.close()
    window = make_window(ready=False)
    window.training.review(new.id)  # the candidate banner's Review…
    dialog = window.dialog
    assert isinstance(dialog, MigrateDialog)
    assert dialog.card is not None and dialog.new_version == new.id
    assert not dialog.try_button.isHidden() and not dialog.switch_button.isHidden()
    assert window.training.reviewer.choice is None  # no Phase in / Switch now box
    assert not dialog.isModal()  # a move takes minutes: the window stays usable meanwhile
