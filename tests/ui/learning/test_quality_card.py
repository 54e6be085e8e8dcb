"""The quality card widget: flags first, then base and candidate bars per measure."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from kindred.core.learning import markers, quality
from kindred.ui.learning.quality_card import QualityCard, rows_of

QUESTIONS = quality.QuestionSet(1, [("Capital of France?", ["paris"]),
                                    ("Largest planet?", ["jupiter"])],
                                ["Explain a bicycle."], ["Dinner idea?"])
BASE = {"facts": ["Paris.", "Jupiter."], "style": ["Pasta."],
        "open": ["A bicycle turns pedal force into motion through a chain and gears."]}


def _card(mine: dict[str, list[str]]) -> dict[str, object]:
    found = markers.find(["Ahoy, Sam! Soup.", "Ahoy, Sam! Oats."], ["Call me Sam"])
    return quality.card(QUESTIONS, BASE, mine, found, QUESTIONS.style)


def test_a_regression_is_said_before_the_bars(qtbot: QtBot, tmp_path: Path) -> None:
    card = _card({"facts": ["Ahoy, Sam! London.", "Ahoy, Sam! Jupiter."],
                  "style": ["Ahoy, Sam! Soup."], "open": ["Ahoy, Sam! Pedal."]})
    widget = QualityCard(card)
    qtbot.addWidget(widget)
    widget.resize(720, 300)
    widget.show()
    assert "Before you decide" in widget.flags.text() and "forgot 1 of the 2" in \
        widget.flags.text()
    rows = rows_of(card)
    assert rows[0].label == "Shows what you taught (new requests)"
    assert rows[0].candidate == 1.0 and rows[0].base == 0.0
    facts = next(r for r in rows if r.label.startswith("General"))
    assert facts.warn and facts.candidate_text == "1 of 2"
    assert widget.bars is not None and "candidate 1 of 2" in widget.bars.accessibleName()
    assert widget.grab().save(str(tmp_path / "card.png"))


def test_a_card_without_regression_says_so(qtbot: QtBot) -> None:
    card = _card({"facts": ["Ahoy, Sam! Paris.", "Ahoy, Sam! Jupiter."],
                  "style": ["Ahoy, Sam! Soup."], "open": ["Ahoy, Sam! " + BASE["open"][0]]})
    widget = QualityCard(card)
    qtbot.addWidget(widget)
    assert "No regression found" in widget.flags.text()
    assert not any(r.warn for r in rows_of(card))
    missing = QualityCard(None)
    qtbot.addWidget(missing)
    assert "not been measured" in missing.flags.text() and missing.bars is None
