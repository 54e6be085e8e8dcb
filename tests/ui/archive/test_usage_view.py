"""The Usage page: days together, a row per version, messages per day stacked by version and
ratings per day, all from the real database after real messages and ratings are written."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from PySide6.QtCore import Qt

from kindred.core.chat import conversations
from kindred.core.chat.conversations import GenerationStats
from kindred.core.learning import feedback
from kindred.core.session import Session
from kindred.ui.archive.usage_view import UsageView, day_range
from support.archive_helpers import activate, make_version

DAY = 86400


def write_chat(session: Session, version_id: str | None, answers: int, days_ago: int,
               rate: list[int] | None = None) -> list[int]:
    """A conversation of `answers` exchanges answered by `version_id` (None: the base), dated
    `days_ago`; `rate` gives a rating per answer (0: none). Returns the answer ids."""
    assistant = session.assistant()
    conv = conversations.create_conversation(session.store, assistant.id)
    ids = []
    adapters = [(version_id, 1.0)] if version_id else []
    for i in range(answers):
        conversations.add_message(session.store, conv.id, "user", f"question {i}")
        answer = conversations.add_message(session.store, conv.id, "assistant", f"answer {i}",
                                           GenerationStats(adapters, 10, 20, 0.1, 50.0, "stop"))
        ids.append(answer.id)
    for answer_id, value in zip(ids, rate or [], strict=False):
        if value:
            feedback.rate(session.store, answer_id, value)
    db = session.store.db
    with session.store.tx():
        db.execute("UPDATE messages SET created_at = created_at - ? WHERE conversation_id = ?",
                   [days_ago * DAY, conv.id])
        db.execute("UPDATE feedback SET created_at = created_at - ? WHERE message_id IN "
                   f"({','.join('?' * len(ids))})", [days_ago * DAY, *ids])
    return ids


def bar_sets(view: UsageView, chart: str) -> dict[str, list[float]]:
    chart_view = getattr(view, chart)
    assert chart_view is not None
    series = chart_view.chart().series()
    assert len(series) == 1
    return {s.label(): [s.at(i) for i in range(s.count())] for s in series[0].barSets()}


def categories(view: UsageView, chart: str) -> list[str]:
    axis = getattr(view, chart).chart().axes(Qt.Orientation.Horizontal)[0]
    return list(axis.categories())


@pytest.fixture
def view(qtbot, session: Session) -> UsageView:  # type: ignore[no-untyped-def]
    widget = UsageView(session)
    qtbot.addWidget(widget)
    widget.resize(1000, 900)
    widget.show()
    return widget


def test_empty_home_says_so(view: UsageView) -> None:
    assert view.together.text() == "1 day together"
    assert view.messages_chart is None and view.ratings_chart is None
    assert "No messages yet" in view._messages_widget.text()
    assert view.cards["messages"].text() == "0"


def test_charts_count_the_messages_written_per_day_and_version(qtbot, view, session,  # type: ignore[no-untyped-def]
                                                               model_path) -> None:
    first = make_version(session, model_path, seed=1)
    activate(session, first)
    second = make_version(session, model_path, seed=2, parent=first.id)
    write_chat(session, None, 3, days_ago=4, rate=[1, -1, 0])
    write_chat(session, first.id, 2, days_ago=2, rate=[1, 1])
    write_chat(session, first.id, 4, days_ago=0)
    write_chat(session, second.id, 1, days_ago=0, rate=[-1])
    with session.store.tx():
        session.store.db.execute("UPDATE assistants SET created_at = ?", [time.time() - 9 * DAY])
    view.hide()
    view.show()  # showing the page re-reads the database

    assert view.together.text() == "10 days together"
    sets = bar_sets(view, "messages_chart")
    assert list(sets) == ["Base model", "Version 1", "Version 2"]
    # Five days from the first to the last message, the empty ones included.
    assert len(categories(view, "messages_chart")) == 5
    assert all(len(values) == 5 for values in sets.values())
    assert sets["Base model"] == [3, 0, 0, 0, 0]
    assert sets["Version 1"] == [0, 0, 2, 0, 4]
    assert sets["Version 2"] == [0, 0, 0, 0, 1]
    assert sum(sum(v) for v in sets.values()) == 10

    ratings = bar_sets(view, "ratings_chart")
    assert list(ratings) == ["Liked", "Disliked"]
    assert ratings["Liked"] == [1, 0, 2, 0, 0]
    assert ratings["Disliked"] == [1, 0, 0, 0, 1]

    assert view.cards["messages"].text() == "10"
    assert view.cards["conversations"].text() == "4"
    assert view.cards["versions"].text() == "3"
    assert view.cards["ratings_up"].text() == "3"
    assert view.cards["ratings_down"].text() == "2"
    table = {view.table.item(r, 0).text(): [view.table.item(r, c).text() for c in range(1, 9)]
             for r in range(view.table.rowCount())}
    assert table["Version 1"][0] == "active" and table["Version 1"][3] == "6"
    assert table["Version 2"][0] == "candidate" and table["Version 2"][3] == "1"
    assert table["Base model"][3] == "3"
    assert table["Version 1"][5:7] == ["2", "0"]  # its liked and disliked


def test_new_messages_show_when_the_page_is_shown_again(view, session) -> None:  # type: ignore[no-untyped-def]
    write_chat(session, None, 2, days_ago=0)
    assert view.messages_chart is None  # not re-read while hidden from the page's point of view
    view.hide()
    view.show()
    assert bar_sets(view, "messages_chart") == {"Base model": [2]}
    assert view.ratings_chart is None


def test_day_range_fills_gaps_and_keeps_the_last_month() -> None:
    today = date(2024, 3, 31)
    days = [(today - timedelta(days=n)).isoformat() for n in (0, 3, 90)]
    shown = day_range(days)
    assert len(shown) == 31 and shown[-1] == "2024-03-31" and shown[0] == "2024-03-01"
    assert day_range(["2024-01-01", "2024-01-03"]) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert day_range([]) == []


def test_main_window_has_both_pages_and_follows_the_assistant(make_window) -> None:  # type: ignore[no-untyped-def]
    from kindred.core.home.assistants import create_assistant
    from kindred.ui.learning.insight_view import InsightView

    window = make_window(ready=False)
    usage_page = window.pages["Usage"]
    insight_page = window.pages["What it learned"]
    assert isinstance(usage_page, UsageView) and isinstance(insight_page, InsightView)
    window.show_page("Usage")
    assert usage_page.isVisible()
    first = window.session.assistant()
    other = create_assistant(window.session.store, "Robin", model_id=first.model_id)
    window.controller.select_assistant(other.id)
    assert usage_page.assistant.id == other.id
    assert insight_page.assistant.id == other.id
    assert usage_page.title.text() == "Time together with Robin"
