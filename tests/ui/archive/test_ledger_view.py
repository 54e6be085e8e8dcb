"""The Ledger view: the events, the continuity report, and Verify naming the first bad event."""

from __future__ import annotations

import os
import stat

import pytest
from PySide6.QtCore import Qt

from kindred.core.archive import versions
from kindred.core.archive.objects import version_dir
from kindred.core.home import ledger
from kindred.core.session import Session
from kindred.core.upgrades import trial
from kindred.ui.archive.ledger_view import LedgerView, details
from support.archive_helpers import activate, make_version


@pytest.fixture
def view(qtbot, session: Session) -> LedgerView:  # type: ignore[no-untyped-def]
    widget = LedgerView(session)
    qtbot.addWidget(widget)
    widget.resize(1000, 600)
    widget.show()
    return widget


def verify(qtbot, view: LedgerView) -> str:  # type: ignore[no-untyped-def]
    view.verify_button.click()
    qtbot.waitUntil(lambda: view.task is None, timeout=90_000)
    return view.result_label.text()


def test_events_and_report_match_the_core(view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    first = make_version(session, model_path, seed=1)
    activate(session, first)
    make_version(session, model_path, seed=2, parent=first.id)
    view.refresh()
    aid = session.assistant().id
    expected = [(e.seq, e.kind.replace("_", " ")) for e in ledger.events(session.store,
                                                                          assistant_id=aid)]
    assert view.rows() == list(reversed(expected))
    report = versions.report(session.store, aid)
    assert {k: int(label.text()) for k, label in view.cards.items()} == {
        k: report[k] for k in view.cards}
    assert view.cards["archived"].text() == "2" and view.cards["active"].text() == "1"
    view.scope.setCurrentIndex(1)  # all assistants: also the model-added event
    assert len(view.rows()) == len(ledger.events(session.store))


def test_verify_reports_an_intact_chain(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    make_version(session, model_path, seed=3)
    text = verify(qtbot, view)
    assert "The ledger verifies" in text and "1 archived version(s) match" in text
    assert view.result_box.property("ok") == "true"


def test_verify_names_the_first_edited_event(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    make_version(session, model_path, seed=4)
    events = ledger.events(session.store)
    target = events[1]
    session.store.db.execute("UPDATE ledger SET payload = ? WHERE seq = ?",
                             ['{"forged": true}', target.seq])
    text = verify(qtbot, view)
    assert "does not verify" in text and f"#{target.seq}" in text
    assert view.result_box.property("ok") == "false"
    view.scope.setCurrentIndex(1)
    marked = [r for r in range(view.table.rowCount())
              if view.table.item(r, 0).background().style() != Qt.BrushStyle.NoBrush]
    assert [int(view.table.item(r, 0).text()) for r in marked] == [target.seq]


def test_verify_reports_a_damaged_version_by_name(qtbot, view, session, model_path) -> None:  # type: ignore[no-untyped-def]
    version = make_version(session, model_path, seed=5)
    config = version_dir(session.home, version.id) / "adapter_config.json"
    os.chmod(config, stat.S_IRUSR | stat.S_IWUSR)
    config.write_text('{"r": 99}')
    text = verify(qtbot, view)
    assert version.short in text and "damaged" in text
    assert view.result_box.property("ok") == "false"


def test_trial_rows_say_the_sides_and_the_pick_by_name(  # type: ignore[no-untyped-def]
        view: LedgerView, session: Session, model_path) -> None:
    store = session.store
    a = activate(session, make_version(session, model_path, seed=1))
    b = make_version(session, model_path, seed=2, parent=a.id)
    aid = a.assistant_id
    started = trial.start(store, aid, b.id, prompts=3)
    assert started.a_version == a.id
    trial.end(store, aid)
    view.refresh()
    rows = {view.table.item(r, 2).text(): view.table.item(r, 4).text()
            for r in range(view.table.rowCount())}
    assert rows["trial started"] == "Version 1 vs Version 2 · 3 prompts"
    assert rows["trial ended"].startswith("Version 1 vs Version 2")
    vote = ledger.Event(99, 0.0, ledger.TRIAL_VOTE, aid,
                        {"trial": 1, "round": 2, "a": a.id, "b": b.id, "choice": "b"}, "", "")
    named = versions.names(store, aid)
    assert details(vote, named) == "Version 1 vs Version 2 · round 2: picked Version 2"


def test_rows_say_versions_and_consents_in_words(  # type: ignore[no-untyped-def]
        view: LedgerView, session: Session, model_path) -> None:
    a = activate(session, make_version(session, model_path, seed=1))
    named = versions.names(session.store, a.assistant_id)
    decided = ledger.Event(1, 0.0, ledger.CONSENT_DECIDED, a.assistant_id,
                           {"kind": "rollout", "granted": True, "via": "cli-flag"}, "", "")
    assert details(decided, named) == "to rollout · granted · with --yes"
    refused = ledger.Event(2, 0.0, ledger.CONSENT_DECIDED, a.assistant_id,
                           {"kind": "activate", "granted": False, "via": "gui"}, "", "")
    assert details(refused, named) == "to activate · refused · in the window"
    finished = ledger.Event(3, 0.0, ledger.ROLLED_BACK, a.assistant_id,
                            {"version": a.id, "active": a.id}, "", "")
    assert details(finished, named) == "Version 1 · now Version 1"
    view.refresh()
    texts = [view.table.item(r, 4).text() for r in range(view.table.rowCount())]
    assert not [t for t in texts if "granted True" in t or "version Version" in t], texts
