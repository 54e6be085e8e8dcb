"""A training run is seen from any page: its progress in the status bar, and a run stopped by
an error said there in red with a way to the Training page (it once showed on that page only
while the chat and the status bar said Ready)."""

from __future__ import annotations

from collections.abc import Callable

from kindred.ui.shell.main_window import MainWindow


def test_progress_and_an_error_show_in_the_status_bar(  # type: ignore[no-untyped-def]
        qtbot, make_window: Callable[..., MainWindow]) -> None:
    window = make_window(ready=False)
    item = window.status_items.training_item
    assert item.isHidden()
    window.show_page("Chat")
    training = window.training
    training._event({"event": "step", "step": 3, "total_steps": 12, "loss": 1.5}, False)
    assert item.isVisible() and item.text() == "Training 25 %"
    assert not item.property("error")

    training._event({"event": "error", "message": "Training crashed: OSError: boom."}, False)
    assert item.isVisible() and item.property("error")
    assert "stopped by an error" in item.text() and "continue" in item.text()
    item.click()
    assert window.stack.currentWidget() is window.pages["Training"]

    training._event({"event": "step", "step": 1, "total_steps": 4, "loss": 1.0}, False)
    training._event({"event": "stopped", "step": 1}, False)
    assert item.isHidden()  # settled: nothing to say beyond the page


def test_a_ready_candidate_is_said_once_where_the_person_is(  # type: ignore[no-untyped-def]
        qtbot, make_window: Callable[..., MainWindow], home, model_path) -> None:
    from kindred.core.session import open_session
    from support.archive_helpers import make_version

    session = open_session(home.root)
    version = make_version(session, model_path, seed=1)
    session.close()
    window = make_window(ready=False)
    window.show_page("Training")
    training = window.training
    training._event({"event": "done", "version": version.id, "metrics": {}}, False)
    assert training.banner.isVisible() and "is ready" in training.banner_label.text()
    assert training.notice is None  # the banner on this page says it; no notice on top
    window.show_page("Chat")  # elsewhere now: the notice floats over the page shown
    assert training.notice is not None and training.notice.isVisible()


def test_a_message_is_read_whole_on_a_small_window(  # type: ignore[no-untyped-def]
        qtbot, make_window: Callable[..., MainWindow]) -> None:
    window = make_window(ready=False)
    items = window.status_items
    window.resize(900, 600)
    qtbot.wait(50)
    items.model_label.setText("SmolLM2 135M Instruct (built-in)")
    items.adapter_label.setText("Adapter: Version 1 75 % + Version 2 25 %")
    said = ("Version 1 was interviewed before retiring; its interview and report are in "
            "History.")
    window.statusBar().showMessage(said)
    qtbot.wait(50)
    assert not items.model_label.isVisible()  # the base's name steps aside for it
    others = sum(w.width() for w in (items.adapter_label, items.speed_label) if w.isVisible())
    room = window.statusBar().width() - others
    assert window.statusBar().fontMetrics().horizontalAdvance(said) < room
    assert window.statusBar().toolTip() == said
    window.statusBar().clearMessage()
    assert items.model_label.isVisible() and window.statusBar().toolTip() == ""
    window.resize(1400, 900)
    qtbot.wait(50)
    window.statusBar().showMessage("Exported.")
    assert items.model_label.isVisible()  # a short message leaves everything in place
