"""The whole learning loop in the GUI alone, as a person does it (issue 4, "Done when"):
chat, correct a few answers in a distinctive style, train (consent), review the candidate's
answers beside the current ones (consent), approve, and chat with the new version.

Everything is real: llama.cpp answers, the training subprocess (torch only there), SQLite. Only
the training length is shortened (few steps) through the Training page's config.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from kindred.core.archive import versions
from kindred.core.chat.conversations import list_conversations, list_messages
from kindred.core.home import consent
from kindred.core.home.assistants import update_assistant
from kindred.core.home.paths import DataHome
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.core.training.run import list_runs
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.kit import tasks
from kindred.ui.learning.correct import CorrectDialog
from kindred.ui.shell.main_window import MainWindow
from kindred.ui.training.training_view import TrainingView
from support.training_helpers import PIRATE, SHARED_CACHE, fast_config, use_shared_cache
from ui.conftest_ui import LOAD_TIMEOUT_MS, send, wait_idle

pytestmark = pytest.mark.slow
TRAIN_TIMEOUT_MS = 300_000
REVIEW_TIMEOUT_MS = 180_000
TAUGHT = PIRATE[:4]
NEW_QUESTION = "What is the tallest mountain?"


@pytest.fixture
def greedy_home(session: Session, home: DataHome) -> Iterator[Session]:
    """Greedy answers (the same prompt gives the same answer), the dequantized base cache
    linked in (built once per machine in another process: this one never imports torch), and
    no training process left behind by a failed run."""
    from kindred.core.basics.hashing import sha256_file
    from kindred.core.home.models import embedded_model_path
    from kindred.core.training.base_cache import is_cached

    if not is_cached(SHARED_CACHE, sha256_file(embedded_model_path())):
        tests = Path(__file__).parents[1]
        subprocess.run([sys.executable, "-c", "from support.training_helpers import "
                        "shared_base_cache; shared_base_cache()"], cwd=tests, check=True,
                       timeout=900, env={**os.environ, "PYTHONPATH": str(tests)})
    assistant = session.assistant()
    update_assistant(session.store, assistant.id,
                     sampling=replace(assistant.sampling, temperature=0.0))
    use_shared_cache(home, session.model_for(assistant).sha256)
    yield session
    assert tasks.wait_all(REVIEW_TIMEOUT_MS)
    for run in list_runs(home.runs):
        pid = int(run.state().get("pid") or 0)
        if run.is_running() and pid > 0:
            os.kill(pid, signal.SIGKILL)


def correct_last_answer(qtbot, window: MainWindow, wanted: str) -> None:  # type: ignore[no-untyped-def]
    """Click "Correct this answer", type the wanted answer over the given one, save."""
    widget = window.chat_view._messages()[-1]
    qtbot.mouseClick(widget.correct_button, Qt.MouseButton.LeftButton)
    dialog = window.chat_view.dialog
    assert isinstance(dialog, CorrectDialog) and dialog.wanted == widget.text
    dialog.editor.selectAll()
    qtbot.keyClicks(dialog.editor, wanted)
    qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.chat_view.dialog is None, timeout=5000)
    assert widget.corrected_mark.isVisible()


def consent_dialog(qtbot, owner: object, kind: str, timeout: int) -> ConsentDialog:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: isinstance(getattr(owner, "dialog", None), ConsentDialog),
                    timeout=timeout)
    dialog = owner.dialog  # type: ignore[attr-defined]
    assert dialog.request.kind == kind and dialog.isVisible()
    return dialog  # type: ignore[no-any-return]


def test_correct_train_review_approve_and_chat_with_the_new_version(  # type: ignore[no-untyped-def]
        qtbot, make_window, greedy_home) -> None:
    session = greedy_home
    store, assistant_id = session.store, session.assistant().id
    window = make_window(max_tokens=24)

    # 1. Chat, and correct each answer in a pirate's voice.
    for question, pirate in TAUGHT:
        send(qtbot, window, question)
        wait_idle(qtbot, window)
        assert "ahoy" not in window.chat_view.messages()[-1][1].lower()
        correct_last_answer(qtbot, window, pirate)
    taught = feedback.list_feedback(store, assistant_id, "correction")
    assert [(c.prompt, c.answer) for c in taught] == TAUGHT
    assert all(c.rejected and "ahoy" not in c.rejected.lower() for c in taught)

    # 2. Train: the Training page asks first, with what it will learn from.
    window.show_page("Training")
    view: TrainingView = window.pages["Training"]
    view.config = fast_config(steps=12, lr=4e-3)
    assert f"{len(TAUGHT)} corrected answers" in view.data_label.text()
    qtbot.mouseClick(view.train_button, Qt.MouseButton.LeftButton)
    dialog = consent_dialog(qtbot, view, "train", 120_000)
    stored = consent.get_request(store, dialog.request.id).evidence
    assert stored["counts"]["correction"] == len(TAUGHT)
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.state == "done", timeout=TRAIN_TIMEOUT_MS)
    candidate = view.candidate
    assert candidate is not None
    assert versions.get_version(store, candidate).status == "candidate"
    assert session.assistant().active_version is None  # nothing changed without consent

    # 3. The notice (over the chat page) opens the review: both versions answer the person's
    # recent questions side by side inside the activation consent.
    window.show_page("Chat")
    notice = view.notice
    assert notice is not None and notice.isVisible()
    qtbot.mouseClick(notice.review_button, Qt.MouseButton.LeftButton)
    reviewer = view.reviewer
    switch = next(b for b in reviewer.choice.buttons() if b.text() == "Switch now")
    qtbot.mouseClick(switch, Qt.MouseButton.LeftButton)  # (Phase in: test_gui_rollout.py)
    dialog = consent_dialog(qtbot, reviewer, "activate", REVIEW_TIMEOUT_MS)
    assert dialog.request.subject == candidate
    columns = reviewer.side_by_side
    assert columns is not None and columns.isVisible() and len(columns.views) >= 1
    for now, new in columns.views:
        assert "ahoy" in new.markdown.lower(), new.markdown  # what it learned shows
        assert "ahoy" not in now.markdown.lower(), now.markdown
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert session.assistant().active_version == candidate

    # 4. The chat reloads onto the new version; the next answer records it and speaks like it.
    qtbot.waitUntil(lambda: window.controller.ready and window.controller.engine_info
                    is not None and [k for k, _ in window.controller.engine_info.adapters]
                    == [candidate], timeout=LOAD_TIMEOUT_MS)
    new_version = versions.get_version(session.store, candidate)
    assert window.adapter_label.text() == f"Adapter: {versions.name_of(session.store, new_version)}"
    window.new_chat()
    send(qtbot, window, NEW_QUESTION)
    wait_idle(qtbot, window)
    conversation = list_conversations(store, assistant_id)[0]
    answer = list_messages(store, conversation.id)[-1]
    assert answer.role == "assistant" and answer.adapters == [(candidate, 1.0)]
    assert "ahoy" in answer.content.lower(), answer.content
    # the small print names the version that wrote it, as History does
    assert window.chat_view._messages()[-1].meta.text().endswith(
        versions.name_of(store, new_version))
