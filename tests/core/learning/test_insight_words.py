"""Whole words from token pieces: what "words it favours/avoids" is made of."""

from __future__ import annotations

from kindred.core.learning.words import WordTally, word_changes


def test_pieces_merge_into_the_words_they_belong_to() -> None:
    pieces = [b"Ah", b"oy", b",", b" mat", b"ey", b"!", b" A", b" caf", b"\xc3", b"\xa9", b" 42"]
    deltas = [2.0, 1.0, 0.5, 0.25, 0.25, 0.1, 3.0, 1.0, 0.5, 0.5, 9.0]
    assert word_changes(pieces, deltas) == [("Ahoy", 3.0), ("matey", 0.5), ("café", 2.0)]


def test_words_are_ranked_by_mean_change_and_small_changes_are_left_out() -> None:
    tally = WordTally()
    tally.add([("Ahoy", 3.0), ("ahoy", 2.0), ("sea", 0.01), ("Hello", -1.0), ("Ahoy", 4.0)])
    tally.add([("matey", 1.0), ("hello", -2.0)])
    ranked = tally.ranked(5)
    assert ranked["promoted"] == [{"token": "Ahoy", "score": 3.0, "count": 3},
                                  {"token": "matey", "score": 1.0, "count": 1}]
    assert ranked["demoted"] == [{"token": "Hello", "score": -1.5, "count": 2}]
