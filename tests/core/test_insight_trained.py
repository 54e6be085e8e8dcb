"""Insight on a real adapter trained in the test on a distinctive (pirate) style."""

from __future__ import annotations

from kindred.core.chat.engine import Engine
from kindred.core.learning import insight
from kindred.core.learning.feedback import system_prompt
from kindred.core.session import Session
from support.training_helpers import PIRATE, add_examples, fast_config, train_version

PIRATE_TOKENS = {"ah", "ahoy", "oy", "mate", "matey", "arr", "!", "be"}


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
    # tokens: a taught token is among the most promoted
    promoted = [t["token"].strip().lower() for t in result["tokens"]["promoted"]]
    assert PIRATE_TOKENS & set(promoted), promoted
    # style: the answers to the probes became more exclamatory (every taught answer ends "arr!")
    assert result["style"]["adapter"]["exclamations"] > result["style"]["base"]["exclamations"]
    # layers: one row per layer, each with the trained modules
    assert [row["layer"] for row in result["layers"]] == list(range(30))
    assert set(result["layers"][5]["modules"]) == {"attn_q", "attn_v", "ffn_down"}
