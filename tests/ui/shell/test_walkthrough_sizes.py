"""Every page of the window, with versions, a phase-in under way and a conversation, at a
small screen's 900×600 and at 1400×900: no one-line text or button is cut, and nothing scrolls
sideways. The screenshots go to $KINDRED_SHOTS when it is set, for a person to look at."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QAbstractScrollArea

from kindred.core.chat.conversations import add_message, create_conversation
from kindred.core.engine.llama import GenerationStats
from kindred.core.home import consent
from kindred.core.home.paths import DataHome
from kindred.core.session import open_session
from kindred.core.upgrades import decisions, rollout
from kindred.ui.shell.main_window import MainWindow
from support.archive_helpers import activate, make_version
from support.clipping import clipped

SHOTS = os.environ.get("KINDRED_SHOTS")


@pytest.mark.parametrize("size", [(900, 600), (1400, 900)])
def test_every_page_fits(qtbot, home: DataHome, make_window: Callable[..., MainWindow],  # type: ignore[no-untyped-def]
                         model_path: Path, size: tuple[int, int]) -> None:
    session = open_session(home.root)
    store = session.store
    a = activate(session, make_version(session, model_path, seed=1))
    b = make_version(session, model_path, seed=2, parent=a.id)
    kind, summary, evidence = rollout.describe_start(store, b, rollout.Plan(4, 5))
    decisions.answer(store, consent.request(store, kind, a.assistant_id, b.id, summary,
                                            evidence).id, granted=True, via="gui")
    conv = create_conversation(store, a.assistant_id)
    add_message(store, conv.id, "user", "How do rainbows form, in a few sentences?")
    add_message(store, conv.id, "assistant", "Sunlight is refracted and reflected inside "
                "raindrops, which splits it into its colours. " * 4,
                GenerationStats(adapters=[(a.id, 0.75), (b.id, 0.25)], tokens_out=60,
                                tok_s=40.0))
    session.close()
    window = make_window(ready=False)
    window.resize(*size)
    window.controller.open_conversation(conv.id)
    for name in list(window.pages):
        window.show_page(name)
        qtbot.wait(50)
        assert clipped(window) == [], (name, size)
        sideways = [w.objectName() or type(w).__name__
                    for w in window.pages[name].findChildren(QAbstractScrollArea)
                    if w.isVisibleTo(window) and w.horizontalScrollBar().isVisible()
                    and type(w).__name__ != "QTableWidget"]
        assert sideways == [], (name, size)
        if SHOTS:
            window.grab().save(os.path.join(SHOTS, f"page-{name.replace(' ', '_')}-"
                                                   f"{size[0]}.png"))
