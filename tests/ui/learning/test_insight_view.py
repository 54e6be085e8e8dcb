"""The What-it-learned page: computed in the background through the real core (its own llama.cpp
engine and database connection), with a moving progress bar and a responsive GUI meanwhile;
every section rendered from the result; the core's cache makes the second opening instant.

The full computation is slow (the model answers every probe twice), so the versions live in one
home for the whole module: the first test computes, the later ones find the core's cache.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QLineEdit

from kindred.core.archive.objects import version_dir
from kindred.core.archive.versions import Version
from kindred.core.learning import feedback, insight
from kindred.core.session import Session, open_session
from kindred.ui.kit import tasks
from kindred.ui.learning.insight_sections import MODULE_NAMES, SECTIONS, InsightReport, token_label
from kindred.ui.learning.insight_view import EMPTY_TEXT, InsightView, _LazyEngine
from support.archive_helpers import activate, make_version

COMPUTE_TIMEOUT_MS = 900_000  # a cold insight on a busy 2-core machine


@pytest.fixture(scope="module")
def learned(tmp_path_factory: pytest.TempPathFactory, model_path: Path
            ) -> tuple[Path, Version, Version]:
    """A home with preferences, corrected answers and two versions (the second active)."""
    root = tmp_path_factory.mktemp("insight") / "home"
    session = open_session(root)
    try:
        aid = session.assistant().id
        feedback.add_preference(session.store, aid, "Call me Sam")
        feedback.add_example(session.store, aid, "What's a good breakfast?",
                             "Oats with berries, Sam. Quick and filling!")
        feedback.add_example(session.store, aid, "How do I stay focused?",
                             "Short sprints, Sam: twenty minutes on, five off.")
        first = make_version(session, model_path, seed=1, layers=(0, 1, 2))
        second = make_version(session, model_path, seed=2, layers=(0, 1, 2), parent=first.id)
        activate(session, second)
    finally:
        session.close()
    return root, first, second


@pytest.fixture
def open_view(qtbot) -> Iterator:  # type: ignore[no-untyped-def]
    """Make InsightViews on a home; afterwards stop their work and wait for the pool."""
    made: list[tuple[InsightView, Session]] = []

    def make(root: Path, *, show: bool = True) -> InsightView:
        session = open_session(root)
        view = InsightView(session)
        qtbot.addWidget(view)
        view.resize(1000, 800)
        made.append((view, session))
        if show:
            view.show()
        return view

    yield make
    for view, _session in made:
        view.cancel()
    assert tasks.wait_all(COMPUTE_TIMEOUT_MS)
    for _view, session in made:
        session.close()


def cache_files(root: Path) -> set[str]:
    folder = root / "cache" / "insight"
    return {p.name for p in folder.glob("*.json")} if folder.is_dir() else set()


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_computes_in_the_background_and_renders_every_section(qtbot, open_view,  # type: ignore[no-untyped-def]
                                                              learned) -> None:
    root, _first, second = learned
    ticks: list[int] = []
    clock = QElapsedTimer()
    clock.start()
    timer = QTimer()
    timer.setInterval(50)
    timer.timeout.connect(lambda: ticks.append(clock.elapsed()))
    timer.start()
    view = open_view(root)  # showing the page starts the work for the active version
    assert view.current_key() == (second.id, "base")
    assert view.task is not None and view.progress_box.isVisible()
    assert view.stack.currentIndex() == 1  # "working it out", not a frozen page
    # The GUI answers while the model works: typing into a field goes through.
    field = QLineEdit()
    qtbot.addWidget(field)
    field.show()
    qtbot.waitUntil(lambda: len(view.progress_values) >= 2, timeout=COMPUTE_TIMEOUT_MS)
    qtbot.keyClicks(field, "still typing")
    assert field.text() == "still typing"
    assert view.task is not None  # and the work was still going on meanwhile
    with qtbot.waitSignal(view.computed, timeout=COMPUTE_TIMEOUT_MS) as blocker:
        pass
    timer.stop()
    result = blocker.args[0]

    # The progress bar moved forward in several steps.
    values = view.progress_values
    assert len(set(values)) >= 5 and values == sorted(values) and 0 < values[0] < values[-1]
    assert not view.progress_box.isVisible()
    # The event loop kept running the whole time: the timer ticked without long gaps.
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) >= 0.3 * clock.elapsed() / 50 and max(gaps) < 2000

    # Every section is there, filled from the result.
    assert view.stack.currentIndex() == 2
    assert list(view.report.sections) == list(SECTIONS)
    assert [lbl.text() for lbl in view.report.summary_labels][:len(result["summary"])] == [
        f"•  {s}" for s in result["summary"]]
    assert any("learned from 1 stated preference and 2 corrected answers" in lbl.text()
               for lbl in view.report.summary_labels)
    evidence = view.report.sections["evidence"]
    texts = [w.text() for w in evidence.findChildren(type(view.title))]
    assert "“Call me Sam”" in texts
    assert "→ Oats with berries, Sam. Quick and filling!" in texts
    assert len(view.report.probe_views) == len(result["probes"]) >= 6
    for (before, now), pair in zip(view.report.probe_views, result["probes"], strict=True):
        assert before.markdown == pair["base"] and now.markdown == pair["adapter"]
    promoted = view.report.token_charts["promoted"].chart().series()[0].barSets()[0]
    assert promoted.count() == min(8, len(result["tokens"]["promoted"]))
    top = result["tokens"]["promoted"][0]
    assert promoted.at(promoted.count() - 1) == pytest.approx(abs(top["score"]))
    # one column per layer of the base; this adapter changed layers 0-2, the rest stay empty
    assert view.report.heatmap.columns == [str(i) for i in range(30)]
    assert all(v is None for row in view.report.heatmap.values for v in row[3:])
    assert view.report.heatmap.rows == [MODULE_NAMES[m] for m in ("attn_q", "attn_v", "ffn_down")]
    assert view.report.heatmap.values[0][0] == result["layers"][0]["modules"]["attn_q"] > 0
    assert view.report.fit_chart is not None
    fit = view.report.fit_chart.chart().series()[0].barSets()[0]
    assert [fit.at(0), fit.at(1)] == pytest.approx([result["fit"]["base_nll"],
                                                    result["fit"]["adapter_nll"]])
    assert result["fit"]["tokens"] > 0
    fit_texts = [w.text() for w in view.report.sections["fit"].findChildren(type(view.title))]
    assert any(insight.fit_sentences(result["fit"])[0] in t for t in fit_texts), fit_texts
    assert len(cache_files(root)) == 1
    view.grab()  # paints (heatmap, charts) without error


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_second_opening_comes_from_the_cache_at_once(qtbot, open_view, learned) -> None:  # type: ignore[no-untyped-def]
    root, _first, second = learned
    session = open_session(root)
    engine = _LazyEngine(session.model_for(session.assistant()).path)
    try:  # the first test computed it; if this test runs alone, compute it here
        # the page answers under the assistant's system prompt, part of the cache key
        expected = insight.run(session.store, engine, second.id,  # type: ignore[arg-type]
                               system=feedback.system_prompt(session.store, session.assistant()))
    finally:
        engine.close()
        session.close()
    before = cache_files(root)
    started = time.monotonic()
    view = open_view(root)
    with qtbot.waitSignal(view.computed, timeout=5000) as blocker:
        pass
    elapsed = time.monotonic() - started
    assert blocker.args[0] == json.loads(json.dumps(expected))
    assert elapsed < 2.0 and view.elapsed < 1.0
    assert view.progress_values == [100]  # one step: "Loaded from cache"
    assert cache_files(root) == before
    assert list(view.report.sections) == list(SECTIONS)


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_compare_two_versions_and_cancel(qtbot, open_view, learned) -> None:  # type: ignore[no-untyped-def]
    root, first, second = learned
    view = open_view(root, show=False)
    before = cache_files(root)
    choices = [view.against_box.itemData(i) for i in range(view.against_box.count())]
    assert choices == ["base", "parent", first.id]
    assert "Version 1" in view.against_box.itemText(1)
    view.show()
    view.pick(second.id, first.id)  # compare two versions
    assert view.current_key() == (second.id, first.id)
    assert view.task is not None and view.task_key == (second.id, first.id)
    qtbot.waitUntil(lambda: bool(view.progress_values), timeout=COMPUTE_TIMEOUT_MS)
    task = view.task
    view.cancel_button.click()
    assert task.cancelled and view.task is None
    assert not view.progress_box.isVisible()
    assert "Cancelled" in view.waiting_label.text() and view.compute_button.isVisible()
    assert tasks.wait_all(COMPUTE_TIMEOUT_MS)
    assert cache_files(root) == before  # a cancelled run leaves nothing behind
    # Showing the page again does not restart what the person cancelled.
    view.hide()
    view.show()
    assert view.task is None

    # The comparison names both sides by version, not "before" and "now".
    view.names = {first.id: "Version 1", second.id: "Version 2"}
    result = {"version": second.id, "against": first.id, "preferences": [], "examples": [],
              "probes": [{"prompt": "Hi", "base": "old answer", "adapter": "new answer"}],
              "style": {"sentences": []}, "tokens": {"promoted": [], "demoted": []},
              "layers": [], "fit": {"base_nll": None, "adapter_nll": None, "tokens": 0},
              "summary": ["Its answers to the probe questions read much like before."]}
    assert InsightReport(result, view.names).side_names(result) == ("Version 1", "Version 2")
    view.show_report(result)
    assert list(view.report.sections) == list(SECTIONS)
    assert view.report.comparison_text(result) == "Version 2 compared with Version 1."
    assert view.report.fit_chart is None  # nothing to measure the fit on: said in words instead


def test_empty_state_without_versions_and_on_assistant_change(qtbot, open_view,  # type: ignore[no-untyped-def]
                                                              home) -> None:
    view = open_view(home.root)
    assert view.stack.currentIndex() == 0 and view.empty.text() == EMPTY_TEXT
    assert view.task is None and not view.version_box.isEnabled()
    assert not view.pickers.isVisible()  # nothing to pick from
    # The same page follows the assistant it is given.
    from kindred.core.home.assistants import create_assistant

    other = create_assistant(view.session.store, "Robin")
    view.set_assistant(other)
    assert view.stack.currentIndex() == 0 and view.task is None


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_a_damaged_version_is_reported_and_nothing_changes(qtbot, open_view, session,  # type: ignore[no-untyped-def]
                                                           model_path, home) -> None:
    version = make_version(session, model_path, seed=5)
    activate(session, version)
    path = version_dir(session.home, version.id) / "adapter_model.safetensors"
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.seek(-8, os.SEEK_END)
        handle.write(b"tampered")
    view = open_view(home.root)
    qtbot.waitUntil(lambda: view.task is None, timeout=60_000)
    assert view.stack.currentIndex() == 1
    assert "It was not loaded." in view.waiting_label.text()  # the core's own reason
    assert "Nothing was changed." in view.waiting_label.text()
    assert view.waiting_label.property("error") is True
    assert view.compute_button.isVisible()
    assert cache_files(home.root) == set()


def test_token_labels_are_readable() -> None:
    assert token_label(" the") == "the"
    assert token_label("\n") == "(new line)"
    assert token_label("  ") == "(space)"
    assert token_label("") == "(nothing)"
    assert token_label("<|im_end|>") == "‹|im_end|›"  # not read as markup by the chart
