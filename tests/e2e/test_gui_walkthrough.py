"""The whole flow in the window, as a person meets it (issue 24), at a small screen's 900×600 and
at 1400×900: teach → train → review → phase in → a blind trial → history → export → import (as a
copy) → move to another model with its card and side by side → switch. What the training taught
(a pirate's voice) shows in the review's side-by-side answers and in the new version's chat.

One flow, one training and one move: at each step the window is looked at at both sizes (no
one-line text or button cut, in the window and in any dialog open over it; a dialog fits the
small screen) and, with $KINDRED_SHOTS set, photographed for a person to look at. Everything is
real: llama.cpp answers, the training and the move run in their own processes, SQLite; only the
training lengths are shortened. Everything is driven through the widgets a person uses: buttons,
the More menu, consent dialogs answered by clicking (file pickers answered by the test).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialog,
    QFileDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from shiboken6 import isValid

from kindred.core.archive import versions
from kindred.core.chat.conversations import list_messages
from kindred.core.home.assistants import update_assistant
from kindred.core.home.models import Model, add_model
from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from kindred.core.training.run import list_runs
from kindred.core.upgrades import rollout, trial
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.kit import tasks
from kindred.ui.learning.correct import CorrectDialog
from kindred.ui.shell.main_window import MainWindow
from kindred.ui.upgrades.migrate import MigrateDialog
from support.bases import link_base_cache
from support.clipping import clipped
from support.training_helpers import PIRATE, SHARED_CACHE, fast_config, use_shared_cache
from ui.conftest_ui import LOAD_TIMEOUT_MS, send, wait_idle

pytestmark = pytest.mark.slow
# the offscreen platform can neither resize nor raise a window, and says so (the test platform
# talking, as tests/e2e/conftest.py says; a mark of the test's own is the one pytest-qt reads)
OFFSCREEN_NOISE = r"This plugin does not support (propagateSizeHints|raise)\(\)"
SIZES = ((900, 600), (1400, 900))
SHOTS = os.environ.get("KINDRED_SHOTS")
LONG_MS = 600_000  # a real training or move on 2 cores shared with other work
TAUGHT = PIRATE[:3]


# -- looking at the screen ----------------------------------------------------------------------


def open_dialogs() -> list[QDialog]:
    return [w for w in QApplication.topLevelWidgets()
            if isinstance(w, QDialog) and w.isVisible()]


class Looker:
    """Looks at the window (and any dialog over it) at both sizes, step by step."""

    def __init__(self, qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
        self.qtbot, self.window = qtbot, window
        self.step = 0
        self.natural: dict[int, tuple[int, int]] = {}  # a dialog's own size, by id

    def __call__(self, name: str) -> None:
        self.step += 1
        problems: list[str] = []
        for width, height in SIZES:
            self.window.resize(width, height)
            dialogs = open_dialogs()
            for dialog in dialogs:
                self._fit(dialog, width, height)
            self.qtbot.wait(60)
            where = f"{name} at {width}×{height}"
            problems += [f"{where}: {p}" for p in clipped(self.window)]
            for number, dialog in enumerate(dialogs):
                title = dialog.windowTitle()
                if dialog.width() > width or dialog.height() > height:
                    problems.append(f"{where}: dialog {title!r} is {dialog.width()}×"
                                    f"{dialog.height()}, the screen {width}×{height}")
                problems += [f"{where}, dialog {title!r}: {p}" for p in clipped(dialog)
                             if f"{where}: {p}" not in problems]
                self._shoot(dialog, f"{name}-{width}-dialog{number + 1}")
            self._shoot(self.window, f"{name}-{width}")
        self.window.resize(*SIZES[0])
        assert problems == [], "\n".join(problems)

    def _fit(self, dialog: QDialog, width: int, height: int) -> None:
        """As on a screen of that size: a dialog keeps its own size where it fits, and is
        made smaller (as `fit_to_screen` does on opening) where it does not."""
        natural = self.natural.setdefault(id(dialog), (dialog.width(), dialog.height()))
        if isinstance(dialog, QMessageBox):  # sizes itself to its text
            return
        dialog.resize(min(natural[0], int(width * 0.92)), min(natural[1], int(height * 0.92)))

    def _shoot(self, widget: QWidget, name: str) -> None:
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            widget.grab().save(str(Path(SHOTS) / f"walk-{self.step:02d}-{name}.png"))


def visible_texts(window: MainWindow) -> list[str]:
    """Every text a person can see: the window's and any open dialog's."""
    texts: list[str] = [window.windowTitle(), window.statusBar().currentMessage()]
    roots: list[QWidget] = [window, *open_dialogs()]
    for root in roots:
        texts.append(root.windowTitle())
        for widget in root.findChildren(QWidget):
            if not widget.isVisible():
                continue
            if isinstance(widget, QLabel | QAbstractButton):
                texts.append(widget.text())
            elif isinstance(widget, QTextEdit | QPlainTextEdit):
                texts.append(widget.toPlainText())
    return [t for t in texts if t]


# -- driving it ----------------------------------------------------------------------------------


def go(qtbot, window: MainWindow, page: str) -> None:  # type: ignore[no-untyped-def]
    """Click the page's button on the rail."""
    button = window.rail_group.button(window.stack.indexOf(window.pages[page]))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.pages[page]


def menu_action(window: MainWindow, text: str) -> None:
    """Choose an entry of the More menu (⋯ on the rail)."""
    more = next(b for b in window.rail.findChildren(QAbstractButton) if b.toolTip() == "More")
    menu = more.menu()  # type: ignore[attr-defined]
    menu.aboutToShow.emit()
    action = next(a for a in menu.actions() if a.text() == text)
    action.trigger()


def click_box(box: QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
    button.click()


def consent(qtbot, owner: object, kind: str, timeout: int = 30_000) -> ConsentDialog:  # type: ignore[no-untyped-def]
    """The consent dialog `owner` keeps as its `dialog` (or `consent`), of `kind`."""
    def found() -> ConsentDialog | None:
        for name in ("dialog", "consent"):
            dialog = getattr(owner, name, None)
            if (isinstance(dialog, ConsentDialog) and dialog.isVisible()
                    and dialog.decision is None and dialog.request.kind == kind):
                return dialog
        return None
    qtbot.waitUntil(lambda: found() is not None, timeout=timeout)
    dialog = found()
    assert dialog is not None
    return dialog


def approve(qtbot, dialog: ConsentDialog) -> None:  # type: ignore[no-untyped-def]
    """Click Approve; the dialog is gone once the window has had its events (a person's
    next click comes after them)."""
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    assert dialog.decision is not None and dialog.decision.granted
    qtbot.waitUntil(lambda: not isValid(dialog), timeout=10_000)


def small_print(window: MainWindow) -> str:
    return str(window.chat_view._messages()[-1].meta.text())


# -- the home ------------------------------------------------------------------------------------


@pytest.fixture
def themed(qapp):  # type: ignore[no-untyped-def]
    """The app's own stylesheet, as `kindred` applies it (its paddings and fonts decide what
    fits); the test application is left without it afterwards."""
    from kindred.ui.kit.icons import retint
    from kindred.ui.kit.theme import Theme

    theme = Theme(qapp)
    yield theme
    theme.setParent(None)
    theme.deleteLater()
    qapp.setStyleSheet("")
    retint()


@pytest.fixture
def walk_home(session: Session, home: DataHome, sibling_model_path: Path
              ) -> Iterator[tuple[Session, Model]]:
    """Greedy answers, the dequantized bases (built once per machine in another process: this
    one never imports torch) linked in, the sibling model registered for the move, and no
    training process left behind by a failed run."""
    from kindred.core.basics.hashing import sha256_file
    from kindred.core.home.models import embedded_model_path
    from kindred.core.training.base_cache import is_cached

    if not all(is_cached(SHARED_CACHE, sha256_file(p))
               for p in (embedded_model_path(), sibling_model_path)):
        tests = Path(__file__).parents[1]
        subprocess.run([sys.executable, "-c", "from pathlib import Path; "
                        "from support.training_helpers import shared_base_cache; "
                        "from support.bases import shared_cache; shared_base_cache(); "
                        f"shared_cache(Path({str(sibling_model_path)!r}))"], cwd=tests,
                       check=True, timeout=900, env={**os.environ, "PYTHONPATH": str(tests)})
    assistant = session.assistant()
    update_assistant(session.store, assistant.id,
                     sampling=replace(assistant.sampling, temperature=0.0))
    use_shared_cache(home, session.model_for(assistant).sha256)
    sibling = add_model(session.store, sibling_model_path)
    link_base_cache(home.cache, SHARED_CACHE, sibling.sha256)
    yield session, sibling
    assert tasks.wait_all(LONG_MS)
    for run in list_runs(home.runs):
        pid = int(run.state().get("pid") or 0)
        if run.is_running() and pid > 0:
            os.kill(pid, signal.SIGKILL)


@pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)
def test_the_whole_flow_at_two_sizes(qtbot, make_window, walk_home, themed,  # type: ignore[no-untyped-def]
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session, sibling = walk_home
    store = session.store
    began = time.monotonic()
    times: list[str] = []

    def lap(what: str) -> None:
        times.append(f"{what} {time.monotonic() - began:.0f}s")
        print(times[-1], flush=True)

    window = make_window(max_tokens=24)
    look = Looker(qtbot, window)
    look("start")
    lap("ready")

    # Teach: chat, and correct each answer in a pirate's voice.
    for number, (question, pirate) in enumerate(TAUGHT):
        send(qtbot, window, question)
        wait_idle(qtbot, window)
        widget = window.chat_view._messages()[-1]
        qtbot.mouseClick(widget.correct_button, Qt.MouseButton.LeftButton)
        dialog = window.chat_view.dialog
        assert isinstance(dialog, CorrectDialog)
        dialog.editor.selectAll()
        qtbot.keyClicks(dialog.editor, pirate)
        if number == 0:
            look("correct")
        qtbot.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.chat_view.dialog is None, timeout=5000)
    look("taught")
    go(qtbot, window, "Teach")
    look("teach-page")
    lap("taught")

    # Train: the Training page asks first; the run is followed to its candidate.
    go(qtbot, window, "Training")
    view = window.training
    view.config = fast_config(steps=12, lr=4e-3)
    qtbot.mouseClick(view.train_button, Qt.MouseButton.LeftButton)
    asked = consent(qtbot, view, "train", 120_000)
    look("train-consent")
    approve(qtbot, asked)
    qtbot.waitUntil(lambda: view.state == "running" and view.step > 0, timeout=LONG_MS)
    look("training")
    qtbot.waitUntil(lambda: view.state in ("done", "failed"), timeout=LONG_MS)
    assert view.state == "done", view.status.text()
    candidate = view.candidate
    assert candidate is not None and view.banner.isVisible()
    assert versions.get_version(store, candidate).status == "candidate"
    assert session.assistant().active_version is None  # nothing changed without consent
    look("trained")
    lap("trained")

    # Review: Phase in (the default) or Switch now, then the answers side by side in the
    # rollout's consent.
    qtbot.mouseClick(view.review_button, Qt.MouseButton.LeftButton)
    box = view.reviewer.choice
    assert isinstance(box, QMessageBox) and box.defaultButton().text() == "Phase in"
    look("review-choice")
    click_box(box, "Phase in")
    asked = consent(qtbot, view.reviewer, "rollout", LONG_MS)
    columns = view.reviewer.side_by_side
    assert columns is not None and view.reviewer.quality_card is not None
    assert len(columns.views) >= 1
    for now, new in columns.views:  # what it learned shows beside what answers today
        assert "ahoy" in new.markdown.lower(), new.markdown
        assert "ahoy" not in now.markdown.lower(), now.markdown
    look("review")
    approve(qtbot, asked)
    qtbot.waitUntil(lambda: window.controller.ready, timeout=LOAD_TIMEOUT_MS)
    lap("phased in")

    # Phase in: the bar above the chat, and every answer says the blend that wrote it.
    go(qtbot, window, "Chat")
    assert window.rollout_bar.isVisible()
    send(qtbot, window, "Hello there")
    wait_idle(qtbot, window)
    names = versions.names(store, session.assistant().id)
    assert small_print(window).endswith(f"base model 75 % + {names[candidate]} 25 %")
    look("phase-in")

    # A trial: two unnamed answers; before the pick nothing on screen names either side.
    qtbot.mouseClick(window.rollout_bar.trial_button, Qt.MouseButton.LeftButton)
    send(qtbot, window, "Name a fruit")
    qtbot.waitUntil(window.trial_panel.isVisible, timeout=120_000)
    wait_idle(qtbot, window)
    blind = trial.blind_answers(store, window.controller.conversation.id)
    assert blind
    sides = {"Version", "base model", *names.values()}
    look("trial")
    for width, height in SIZES:
        window.resize(width, height)
        qtbot.wait(60)
        said = [t for t in visible_texts(window) if any(s in t for s in sides)]
        assert said == [], (width, said)
    qtbot.mouseClick(window.trial_panel.buttons["same"], Qt.MouseButton.LeftButton)
    assert "Answer 1 was " in window.trial_panel.result.text()
    assert names[candidate] in window.trial_panel.result.text()
    # the pick reveals them: the answer's small print, the bar and the status bar name them
    assert "shows once you pick" not in small_print(window)
    assert names[candidate] in small_print(window) or "base model" in small_print(window)
    blend = f"base model 75 % + {names[candidate]} 25 %"
    assert window.rollout_bar.label.text().startswith(blend)
    assert window.adapter_label.text() == f"Adapter: {blend}"
    look("trial-picked")
    lap("trial")

    # The rest of the plan, a step at a time (each asked): the new version alone answers.
    while rollout.current(store, session.assistant().id) is not None:
        qtbot.mouseClick(window.rollout_bar.next_button, Qt.MouseButton.LeftButton)
        step = consent(qtbot, window.rollout_bar, "rollout")
        look("next-step")
        approve(qtbot, step)
    assert versions.active_version(store, session.assistant().id).id == candidate  # type: ignore[union-attr]
    qtbot.waitUntil(lambda: window.controller.ready, timeout=LOAD_TIMEOUT_MS)
    # the new version alone answers in a new chat, speaks like it and is named in the small print
    window.new_chat()
    send(qtbot, window, "What is the tallest mountain?")
    wait_idle(qtbot, window)
    answer = list_messages(store, window.controller.conversation.id)[-1]
    assert answer.role == "assistant" and answer.adapters == [(candidate, 1.0)]
    assert "ahoy" in answer.content.lower(), answer.content
    assert small_print(window).endswith(names[candidate])
    lap("rolled out")

    # History.
    go(qtbot, window, "History")
    window.history.select(candidate)
    look("history")

    # Export from History (the file picker answered as a person would).
    bundle = tmp_path / "Kindred.kindred"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(bundle), ""))
    qtbot.mouseClick(window.history.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Exported" in window.history.status.text(), timeout=120_000)
    assert bundle.is_file()
    look("exported")
    lap("exported")

    # Import it (⋯ → Import an assistant…): its versions are here already, so it comes in
    # as a copy; what was active is offered through consent.
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bundle), ""))
    menu_action(window, "Import an assistant…")
    qtbot.waitUntil(lambda: isinstance(window.dialog, QMessageBox), timeout=120_000)
    offer = window.dialog
    assert isinstance(offer, QMessageBox)
    look("import-offer")
    click_box(offer, "Import as a copy")
    restore = consent(qtbot, window.history, "restore", 120_000)
    copy = window.controller.assistant
    assert copy.name == "Kindred (copy)" and copy.id != session.assistant().id
    look("import-restore")
    approve(qtbot, restore)
    qtbot.waitUntil(lambda: window.controller.ready, timeout=LOAD_TIMEOUT_MS)
    look("imported")
    lap("imported")

    # Move the copy to another model (⋯ → Move to another model…; a short move).
    moving = MainWindow.move_model
    monkeypatch.setattr(window, "move_model", lambda *a, **k: moving(
        window, config=fast_config(steps=3), prompt_limit=2))
    menu_action(window, "Move to another model…")
    move = window.dialog
    assert isinstance(move, MigrateDialog)
    move.models.setCurrentIndex(move.models.findData(sibling.id))
    look("move")
    qtbot.mouseClick(move.plan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: move.move_button.isVisible() or move.error.isVisible(),
                    timeout=LONG_MS)
    assert not move.error.isVisible(), move.error.text()
    assert "everything Version 1 learned on " in move.status.text()  # as History names it
    look("move-plan")
    lap("move planned")
    qtbot.mouseClick(move.move_button, Qt.MouseButton.LeftButton)
    asked = consent(qtbot, move, "migrate")
    look("move-consent")
    approve(qtbot, asked)
    go(qtbot, window, "Training")  # the move's run is followed there too, while it learns
    qtbot.waitUntil(lambda: move.progress.value() > 0 or move.card is not None
                    or move.error.isVisible(), timeout=LONG_MS)
    look("moving")
    qtbot.waitUntil(lambda: move.card is not None or move.error.isVisible(), timeout=LONG_MS)
    assert not move.error.isVisible(), move.error.text()
    lap("moved")
    # Its review is its card with "Try both side by side…", from the dialog and from the
    # Training page's Review… alike: never the ordinary Phase in / Switch now.
    qtbot.waitUntil(lambda: move.card_lines.isVisible(), timeout=5000)
    assert move.try_button.isVisible() and move.switch_button.isVisible()
    qtbot.waitUntil(lambda: view.banner.isVisible(), timeout=LONG_MS)
    qtbot.mouseClick(view.review_button, Qt.MouseButton.LeftButton)
    assert window.dialog is move and view.reviewer.choice is None
    assert not [w for w in open_dialogs() if isinstance(w, QMessageBox)]
    look("move-card")

    # Try both side by side: the next message is answered by both, each on its own model.
    qtbot.mouseClick(move.try_button, Qt.MouseButton.LeftButton)
    go(qtbot, window, "Chat")
    send(qtbot, window, "Recommend a book")
    qtbot.waitUntil(window.trial_panel.isVisible, timeout=120_000)
    wait_idle(qtbot, window)
    names = versions.names(store, copy.id)
    sides = {"Version", "base model", *names.values()}
    said = [t for t in visible_texts(window) if any(s in t for s in sides)]
    assert said == [], said
    look("move-trial")
    qtbot.mouseClick(window.trial_panel.buttons["second"], Qt.MouseButton.LeftButton)
    assert "Answer 1 was " in window.trial_panel.result.text()
    assert "Side-by-side trial (your blind picks)" in move.card_lines.text()  # the tally
    lap("move trial")

    # Switch, from the move's card (⋯ → Move to another model… brings it forward).
    menu_action(window, "Move to another model…")
    assert window.dialog is move and not move.try_button.isVisible()  # the trial goes on
    qtbot.mouseClick(move.switch_button, Qt.MouseButton.LeftButton)
    asked = consent(qtbot, move, "activate")
    look("switch-consent")
    approve(qtbot, asked)
    qtbot.waitUntil(lambda: window.controller.ready
                    and window.model_label.text() == sibling.name, timeout=LOAD_TIMEOUT_MS)
    assert window.controller.assistant.model_id == sibling.id
    move.close()
    send(qtbot, window, "Hello again")
    wait_idle(qtbot, window)
    look("switched")
    lap("switched")

    # The window rests when the flow is over: no view keeps the GUI thread busy (a trial panel
    # that asked for layout after layout kept it at 100 % from the first trial on).
    qtbot.wait(300)
    began = time.thread_time()
    qtbot.wait(1000)
    assert time.thread_time() - began < 0.25
