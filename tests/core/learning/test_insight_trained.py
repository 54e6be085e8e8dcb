"""Insight on a real adapter trained in the test on a distinctive (pirate) style."""

from __future__ import annotations

import re

import pytest

from kindred.core.engine.llama import Engine
from kindred.core.learning import insight
from kindred.core.learning.feedback import system_prompt
from kindred.core.session import Session
from support.training_helpers import PIRATE, add_examples, fast_config, train_version


@pytest.mark.slow  # a real training or insight: minutes, not seconds
def test_insight_finds_the_taught_style(session: Session, engine: Engine) -> None:
    add_examples(session, PIRATE)
    version = train_version(session, fast_config(steps=24))
    system = system_prompt(session.store, session.assistant())
    result = insight.run(session.store, engine, version, system=system)
    print(result["summary"], result["tokens"]["promoted"][:8], result["style"])
    # evidence: exactly the corrected answers that taught it
    assert sorted(e["prompt"] for e in result["examples"]) == sorted(p for p, _ in PIRATE)
    # fit: the adapter predicts the person's own answers much better than the base
    fit = result["fit"]
    assert fit["adapter_nll"] < 0.8 * fit["base_nll"]
    # words: whole words ("Ahoy", not "oy"), the taught greeting among the most favoured
    promoted = [t["token"] for t in result["tokens"]["promoted"]]
    assert "ahoy" in [w.lower() for w in promoted[:5]], promoted
    words = promoted + [t["token"] for t in result["tokens"]["demoted"]]
    assert all(re.fullmatch(r"[^\W\d_]{2,}(['’][^\W\d_]+)*", w) for w in words), words
    assert "oy" not in [w.lower() for w in words]
    # style: the answers to the probes became more exclamatory (every taught answer ends "arr!")
    assert result["style"]["adapter"]["exclamations"] > result["style"]["base"]["exclamations"]
    # layers: one row per layer of the base; a new adapter changes the upper 0.67 of the 30
    # (9-29), each with the trained modules, and leaves the rows below empty
    assert [row["layer"] for row in result["layers"]] == list(range(30))
    assert all(not row["modules"] and row["total"] == 0 for row in result["layers"][:9])
    assert set(result["layers"][14]["modules"]) == {"attn_q", "attn_v", "ffn_down"}
