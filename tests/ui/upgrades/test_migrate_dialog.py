"""Move to another model… in the GUI: plan, consent, the real re-learning run, the migration card
with old and new answers side by side, the switch to the new base and back, each consented."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kindred.core.archive import versions as archive_versions
from kindred.core.archive.catalog import get_version
from kindred.core.home import consent
from kindred.core.home.models import add_model
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback
from kindred.core.session import open_session
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.shell.main_window import MainWindow
from kindred.ui.upgrades.migrate import MigrateDialog
from support.archive_helpers import grant
from support.bases import link_base_cache, shared_cache
from support.training_helpers import PIRATE, add_examples, fast_config, train_version

LONG_MS = 1_500_000  # a real training run and two engines on 2 shared cores


def approve(qtbot, dialog: MigrateDialog, kind: str) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: isinstance(dialog.consent, ConsentDialog)
                    and dialog.consent.request.kind == kind and dialog.consent.isVisible(),
                    timeout=30_000)
    asked = dialog.consent
    assert asked is not None
    asked.approve_button.click()
    qtbot.waitUntil(lambda: asked.decision is not None, timeout=10_000)


@pytest.mark.slow
def test_move_to_another_model_and_back(qtbot, home: DataHome,  # type: ignore[no-untyped-def]
                                        make_window: Callable[..., MainWindow],
                                        sibling_model_path: Path) -> None:
    session = open_session(home.root)
    add_examples(session, PIRATE)
    feedback.add_preference(session.store, session.assistant().id, "Call me Sam")
    old = get_version(session.store, train_version(session, fast_config(steps=4)))
    archive_versions.activate(session.store, old.id, grant(session, "activate", old))
    embedded = session.model_for(session.assistant())
    sibling = add_model(session.store, sibling_model_path)
    link_base_cache(home.cache, shared_cache(sibling.path), sibling.sha256)
    session.close()

    window = make_window()
    window.move_model(config=fast_config(steps=3), prompt_limit=2)
    dialog = window.dialog
    assert isinstance(dialog, MigrateDialog)
    index = dialog.models.findData(sibling.id)
    assert index >= 0 and dialog.models.findData(embedded.id) == -1  # not the same base
    dialog.models.setCurrentIndex(index)
    dialog.plan_button.click()
    qtbot.waitUntil(lambda: dialog.move_button.isVisible() or dialog.error.isVisible(),
                    timeout=LONG_MS)
    assert not dialog.error.isVisible(), dialog.error.text()
    assert "Move to" in dialog.status.text()

    dialog.move_button.click()
    approve(qtbot, dialog, "migrate")
    # closed while it learns and opened again: the dialog follows the running move (it
    # offered a new plan beside it)
    qtbot.waitUntil(lambda: dialog.run is not None and dialog.run.is_running(),
                    timeout=LONG_MS)
    dialog.close()
    window.move_model(config=fast_config(steps=3), prompt_limit=2)
    again = window.dialog
    assert isinstance(again, MigrateDialog) and again is not dialog
    if again.new_version is None:  # (unless the move ended in between: then its card)
        assert again.follower is not None and again.progress.isVisible()
        assert not again.plan_button.isEnabled() and not again.models.isEnabled()
    dialog = again
    qtbot.waitUntil(lambda: dialog.card is not None or dialog.error.isVisible(),
                    timeout=LONG_MS)
    assert not dialog.error.isVisible(), dialog.error.text()
    assert dialog.card is not None and dialog.new_version is not None
    assert len(dialog.side_by_side.views) == len(dialog.card["samples"]) > 0
    assert window.session.model_for(window.controller.assistant).id == embedded.id

    dialog.switch_button.click()
    approve(qtbot, dialog, "activate")
    qtbot.waitUntil(lambda: window.controller.ready
                    and window.model_label.text() == sibling.name, timeout=120_000)
    assistant = window.controller.assistant
    assert assistant.model_id == sibling.id and assistant.active_version == dialog.new_version
    assert dialog.back_button.isVisible()

    dialog.back_button.click()
    approve(qtbot, dialog, "restore")
    qtbot.waitUntil(lambda: window.controller.ready
                    and window.model_label.text() == embedded.name, timeout=120_000)
    assistant = window.controller.assistant
    assert assistant.model_id == embedded.id and assistant.active_version == old.id
    kinds = [r.kind for r, d in consent.history(window.session.store) if d and d.granted]
    assert kinds[-3:] == ["migrate", "activate", "restore"]
