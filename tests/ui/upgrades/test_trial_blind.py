"""A side-by-side trial is blind in the whole window: while a round waits for the person's
pick, no version is named anywhere on the chat page (the rollout bar, the status bar, the
small print of every answer, not only the round's), and the pick names them all again. A
round left waiting shows its panel again when its conversation is opened again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QAbstractButton, QLabel

from kindred.core.archive import versions
from kindred.core.chat.conversations import add_message, create_conversation
from kindred.core.engine.llama import GenerationStats
from kindred.core.home.paths import DataHome
from kindred.core.session import open_session
from kindred.core.upgrades import trial
from kindred.ui.shell.main_window import MainWindow
from support.archive_helpers import phasing_in


def named_on_screen(window: MainWindow, names: set[str]) -> list[str]:
    """Visible one-line texts on the window that name a version (or the base model)."""
    texts = [w.text() for w in window.findChildren(QLabel) + window.findChildren(QAbstractButton)
             if w.isVisible()]
    return [t for t in texts if any(n in t for n in names)]


def test_nothing_names_a_side_until_the_pick(qtbot, home: DataHome,  # type: ignore[no-untyped-def]
                                             make_window: Callable[..., MainWindow],
                                             model_path: Path) -> None:
    session = open_session(home.root)
    store = session.store
    a, b = phasing_in(session, model_path)
    blend = [(a.id, 0.5), (b.id, 0.5)]
    conversation = create_conversation(store, a.assistant_id)
    add_message(store, conversation.id, "user", "Hello")
    add_message(store, conversation.id, "assistant", "Hello! How can I help?",
                GenerationStats(adapters=blend, tokens_out=6, tok_s=30.0))
    add_message(store, conversation.id, "user", "Name a fruit")
    running = trial.start(store, a.assistant_id)
    trial.record_round(store, running, conversation.id, "b",
                       ("An apple.", GenerationStats(adapters=[(b.id, 1.0)])),
                       ("A pear.", GenerationStats(adapters=[(a.id, 1.0)])))
    other = create_conversation(store, a.assistant_id)
    add_message(store, other.id, "user", "Hi")
    add_message(store, other.id, "assistant", "Hi there.",
                GenerationStats(adapters=blend, tokens_out=3, tok_s=30.0))
    names = {"Version", "base model", *versions.names(store, a.assistant_id).values()}
    session.close()

    window = make_window(ready=False)
    window.controller.open_conversation(conversation.id)
    panel = window.trial_panel
    assert panel.isVisible() and panel.round is not None  # the round waits: its panel shows
    assert named_on_screen(window, names) == []
    assert window.adapter_label.text() == "Adapter: hidden until you pick"
    assert window.rollout_bar.label.text().startswith("Blend hidden until you pick · step 1")
    earlier = window.chat_view._messages()[1]
    assert earlier.meta.text() == "6 tokens · 30 tok/s"  # its figures, not its versions

    # Another conversation: its answers are named, and the round waits in its own.
    window.controller.open_conversation(other.id)
    assert not panel.isVisible()
    assert window.chat_view._messages()[-1].meta.text().endswith("Version 1 50 % + Version 2 "
                                                                  "50 %")
    assert window.rollout_bar.label.text().startswith("Version 1 50 % + Version 2 50 %")
    window.controller.open_conversation(conversation.id)
    assert panel.isVisible() and named_on_screen(window, names) == []

    # The pick names them all again.
    panel.buttons["first"].click()
    assert "Answer 1 was Version 2, answer 2 was Version 1" in panel.result.text()
    assert "names are hidden" not in panel.title.text()
    assert window.adapter_label.text() == "Adapter: Version 1 50 % + Version 2 50 %"
    assert window.rollout_bar.label.text().startswith("Version 1 50 % + Version 2 50 %")
    assert window.chat_view._messages()[1].meta.text().endswith("Version 1 50 % + Version 2 "
                                                                 "50 %")
    assert window.chat_view._messages()[-1].meta.text().endswith("Version 2")

    # a reveal is about what answered then: once the engine has reloaded (a switch, a step),
    # it goes; a round still waiting for its pick would stay
    assert panel.isVisible()
    window._engine_changed("ready", "")
    assert not panel.isVisible()


def test_long_answers_scroll_within_the_panel(qtbot, home: DataHome,  # type: ignore[no-untyped-def]
                                              make_window: Callable[..., MainWindow],
                                              model_path: Path) -> None:
    """Two long answers at 900×600: they scroll inside the panel, which leaves the chat
    room (they were cut off mid-line with no way to read the rest)."""
    from kindred.ui.upgrades.trial_panel import AnswersArea

    session = open_session(home.root)
    store = session.store
    a, b = phasing_in(session, model_path)
    conversation = create_conversation(store, a.assistant_id)
    add_message(store, conversation.id, "user", "Tell me about lighthouses")
    long = "Lighthouses guide ships along dangerous coasts with a bright light. " * 30
    trial.record_round(store, trial.start(store, a.assistant_id), conversation.id, "a",
                       (long, GenerationStats(adapters=[(a.id, 1.0)])),
                       (long + "The end.", GenerationStats(adapters=[(b.id, 1.0)])))
    session.close()
    window = make_window(ready=False)
    for height in (600, 900):
        window.resize(height * 3 // 2, height)
        window.controller.open_conversation(conversation.id)
        qtbot.wait(50)
        area = window.trial_panel.findChild(AnswersArea)
        assert area is not None and area.isVisible()
        assert area.verticalScrollBar().maximum() > 0  # the rest is there to scroll to
        assert area.height() <= 0.41 * window.height()
        assert window.chat_view.height() >= 0.4 * window.height()

    # and the window rests: the panel's size follows the window without asking for layout
    # after layout (that loop kept the GUI thread busy from the first trial on)
    for showing in (True, False):
        if not showing:
            window.controller.open_conversation(create_conversation(
                window.session.store, a.assistant_id).id)
            assert not window.trial_panel.isVisible()
        qtbot.wait(200)
        began = time.thread_time()
        qtbot.wait(1000)
        assert time.thread_time() - began < 0.25, showing
