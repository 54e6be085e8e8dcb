"""In the window alone: phase a candidate in, see the blend in every answer's small print and the
status bar, run a trial round (blind pick), roll back with one click plus confirmation, switch,
find the retired version's interview and report in History, and see the next consent link them."""

from __future__ import annotations

import os

import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton

from kindred.core.archive import versions
from kindred.core.home import ledger
from kindred.core.home.paths import DataHome
from kindred.core.session import open_session
from kindred.core.upgrades import retirement, rollout, trial
from kindred.ui.consent.dialog import ConsentDialog
from kindred.ui.consent.retirement_records import RecordsDialog
from support.archive_helpers import activate, make_version
from ui.conftest_ui import send, wait_idle

REVIEW_TIMEOUT_MS = 240_000
SHOTS = os.environ.get("KINDRED_SHOTS")  # a folder: save screenshots of the views there


def click(box: QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text().replace("&", "") == text)
    assert isinstance(button, QPushButton)
    button.click()


def small_print(window) -> str:  # type: ignore[no-untyped-def]
    return str(window.chat_view._messages()[-1].meta.text())


def shot(widget, name: str) -> None:  # type: ignore[no-untyped-def]
    if SHOTS:
        widget.grab().save(os.path.join(SHOTS, name))


@pytest.mark.slow
def test_phase_in_blend_trial_and_roll_back(qtbot, make_window, home: DataHome,  # type: ignore[no-untyped-def]
                                            model_path) -> None:
    session = open_session(home.root)
    a = activate(session, make_version(session, model_path, seed=0))
    b = make_version(session, model_path, seed=1, parent=a.id)
    session.close()
    window = make_window(max_tokens=6)
    store = window.session.store
    aid = window.controller.assistant.id
    assert not window.rollout_bar.isVisible()

    # Approving a candidate: Phase in is the default choice, then one consent for the plan.
    reviewer = window.training.reviewer
    reviewer.review(b.id)
    box = reviewer.choice
    assert isinstance(box, QMessageBox) and box.defaultButton().text() == "Phase in"
    click(box, "Phase in")
    qtbot.waitUntil(lambda: isinstance(reviewer.dialog, ConsentDialog),
                    timeout=REVIEW_TIMEOUT_MS)
    dialog = reviewer.dialog
    assert dialog.request.kind == "rollout" and "25 % → 50 % → 75 % → 100 %" in \
        dialog.request.summary
    dialog.approve_button.click()
    started = rollout.current(store, aid)
    assert started is not None and (started.step, started.state) == (1, "running")
    qtbot.waitUntil(lambda: window.controller.ready, timeout=60_000)
    assert window.rollout_bar.isVisible()
    assert "Version 1 75 % + Version 2 25 %" in window.rollout_bar.label.text()
    qtbot.waitUntil(lambda: "25 %" in window.adapter_label.text(), timeout=60_000)
    shot(window.rollout_bar, "rollout-bar.png")

    # Every answer says the blend that wrote it.
    send(qtbot, window, "Hello there")
    wait_idle(qtbot, window)
    assert small_print(window).endswith("Version 1 75 % + Version 2 25 %")
    last = [m for m in window.chat_view._messages()][-1]
    assert last.message_id is not None
    assert versions.usage_counts(store, aid)[b.id] == 1
    shot(window, "window-rollout.png")

    # A trial round: two unnamed answers side by side, the pick reveals the names.
    window.rollout_bar.trial_button.click()
    running = trial.current(store, aid)
    assert running is not None and (running.a_version, running.b_version) == (a.id, b.id)
    send(qtbot, window, "Name a fruit")
    qtbot.waitUntil(window.trial_panel.isVisible, timeout=120_000)
    wait_idle(qtbot, window)
    shot(window.trial_panel, "trial-panel.png")
    # Blind: before the pick nothing on screen names the round's sides (the chat's small
    # print under its answer included; earlier answers keep theirs)
    names = set(versions.names(store, aid).values()) | {"base model"}
    blind = trial.blind_answers(store, window.controller.conversation.id)
    assert blind
    on_screen = [w.meta.text() for w in window.chat_view._messages()
                 if w.message_id in blind] + [window.trial_panel.title.text(),
                                              window.trial_panel.result.text()]
    assert not [t for t in on_screen if any(n in t for n in names)], on_screen
    assert "shows once you pick" in small_print(window)
    window.trial_panel.buttons["same"].click()
    assert "Answer 1 was Version" in window.trial_panel.result.text()
    assert "shows once you pick" not in small_print(window)  # the chat names them now
    tally = trial.tally(store, aid, a.id, b.id)
    assert (tally.wins, tally.ties, tally.losses) == (0, 1, 0)
    shot(window.trial_panel, "trial-panel-revealed.png")

    # Roll back: one click, a confirmation (Cancel by default), recorded as the decision.
    window.rollout_bar.back_button.click()
    confirm = window.rollout_bar.dialog
    assert isinstance(confirm, QMessageBox)
    assert confirm.defaultButton().text() == "Cancel"
    click(confirm, "Roll back")
    assert rollout.current(store, aid) is None
    assert rollout.latest(store, aid).state == "rolled_back"  # type: ignore[union-attr]
    assert ledger.events(store, kind=ledger.ROLLED_BACK)[-1].payload["via"] == "gui"
    assert not window.rollout_bar.isVisible()
    assert trial.current(store, aid) is None  # the trial of the rolled-back version ended
    qtbot.waitUntil(lambda: window.controller.ready, timeout=60_000)
    send(qtbot, window, "And now?")
    wait_idle(qtbot, window)
    assert small_print(window).endswith("Version 1")
    assert window.adapter_label.text() == "Adapter: Version 1"

    # Switch now to the new version: the one stepping down is interviewed in the background,
    # and History shows its interview and report.
    reviewer.review(b.id)
    click(reviewer.choice, "Switch now")  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: isinstance(reviewer.dialog, ConsentDialog)
                    and reviewer.dialog.request.kind == "activate", timeout=REVIEW_TIMEOUT_MS)
    switch = reviewer.dialog
    assert switch.interviews is not None and "interviewed when it steps down" in \
        switch.interviews.text()  # Version 1 has not stepped down yet
    switch.approve_button.click()
    assert versions.get_version(store, a.id).status == "retired"
    qtbot.waitUntil(lambda: retirement.interview_for(store, a.id) is not None, timeout=180_000)
    qtbot.waitUntil(lambda: not window.interviews.busy, timeout=60_000)
    window.history.refresh()
    window.history.select(a.id)
    records = window.history.records.toPlainText()
    assert "Retirement interview" in records and "Post-deployment report" in records
    first_question = retirement.question_set()[1][0]
    assert first_question in records
    window.stack.setCurrentWidget(window.history)
    shot(window, "history-interview.png")

    # The next candidate's consent links to what Version 1 said as it stepped down.
    c = make_version(window.session, model_path, seed=2, parent=b.id)
    reviewer.review(c.id)
    click(reviewer.choice, "Switch now")  # type: ignore[arg-type]
    qtbot.waitUntil(lambda: isinstance(reviewer.dialog, ConsentDialog)
                    and reviewer.dialog.request.subject == c.id, timeout=REVIEW_TIMEOUT_MS)
    successor = reviewer.dialog
    assert successor.interviews is not None
    assert "Read Version 1's retirement interview" in successor.interviews.text()
    successor.open_records(f"record:{a.id}")
    opened = successor.findChild(RecordsDialog)
    assert opened is not None and first_question in opened.browser.toPlainText()
    shot(successor, "consent-interview-links.png")
    opened.close()
    successor.refuse_button.click()
    assert versions.active_version(store, aid).id == b.id  # type: ignore[union-attr]
