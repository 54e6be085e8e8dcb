"""The consent dialog: nothing preselected, Enter answers nothing, refusing is as easy as
approving, and the answer is recorded through the core."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QToolButton

from kindred.core.home import consent
from kindred.core.session import Session
from kindred.ui.consent.dialog import ConsentDialog


def make(qtbot, session: Session) -> ConsentDialog:  # type: ignore[no-untyped-def]
    aid = session.assistant().id
    dialog = ConsentDialog.ask(session.store, "activate", aid, "ab" * 32,
                               "Activate version abababababab.",
                               {"version": "ab" * 32, "previous": None,
                                "metrics": {"loss": 0.5, "heldout_loss": 0.75},
                                "prompt": "<i>my own words</i>",
                                "created_at": 1_700_000_000.0},
                               changes="It will answer through abababababab.",
                               kept="Everything stays archived.")
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_opening_records_a_pending_request_and_shows_everything(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    dialog = make(qtbot, session)
    pending = consent.pending(session.store)
    assert [r.id for r in pending] == [dialog.request.id]
    texts = " ".join(label.text() for label in dialog.findChildren(type(dialog.error)))
    for expected in ("What will change", "What is kept", "Evidence", "(abababababab)",
                     "Replaces:</b> the base model alone", "training loss 0.5",
                     "held-out loss (lower is better) 0.75", "Everything stays archived"):
        assert expected in texts
    assert "null" not in texts and "heldout_loss" not in texts
    # what has no words of its own is folded under the technical details, shown on request
    assert dialog.technical_details.isHidden()
    dialog.findChild(QToolButton, "technicalToggle").click()
    assert not dialog.technical_details.isHidden()
    # the person's own words are shown as written, never interpreted as markup
    assert "&lt;i&gt;my own words&lt;/i&gt;" in dialog.technical_details.text()
    assert "<i>my" not in texts + dialog.technical_details.text()


def test_nothing_is_preselected_and_enter_decides_nothing(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    dialog = make(qtbot, session)
    for button in (dialog.approve_button, dialog.refuse_button):
        assert not button.isDefault() and not button.autoDefault()
        assert not button.hasFocus()
    assert dialog.approve_button.sizeHint().width() == dialog.refuse_button.sizeHint().width() \
        or dialog.approve_button.minimumWidth() == dialog.refuse_button.minimumWidth()
    qtbot.keyClick(dialog, Qt.Key.Key_Return)
    qtbot.keyClick(dialog, Qt.Key.Key_Enter)
    assert dialog.isVisible()
    assert consent.get_decision(session.store, dialog.request.id) is None


def test_approve_records_a_granted_decision_via_gui(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    dialog = make(qtbot, session)
    got: list[consent.Decision] = []
    dialog.decided.connect(got.append)
    qtbot.mouseClick(dialog.approve_button, Qt.MouseButton.LeftButton)
    decision = consent.get_decision(session.store, dialog.request.id)
    assert decision is not None and decision.granted and decision.via == "gui"
    assert got and got[0].granted
    assert not dialog.isVisible()


def test_refuse_is_recorded_just_like_approve(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    dialog = make(qtbot, session)
    qtbot.mouseClick(dialog.refuse_button, Qt.MouseButton.LeftButton)
    decision = consent.get_decision(session.store, dialog.request.id)
    assert decision is not None and not decision.granted and decision.via == "gui"
    assert consent.pending(session.store) == []


def test_closing_decides_nothing(qtbot, session) -> None:  # type: ignore[no-untyped-def]
    dialog = make(qtbot, session)
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert consent.get_decision(session.store, dialog.request.id) is None
    assert len(consent.pending(session.store)) == 1
