"""The migration card: does the version on the new base keep what the old version learned?

Measured with llama.cpp (no torch), greedily, old version on its own base and new version on the
new base, one model loaded at a time:

- *agreement*: on held-out prompts (the person's past questions not trained on, and the shipped
  `card` set), how often the new version shows each mark the old one shows (the taught opening,
  closing, the person's name, favoured words: `learning.markers`); and each side's style share
  (answers showing the main mark);
- *negative flips* (MUSCLE, 2024): taught items the old version reproduces (its answer is close
  to the taught one) that the new version no longer does; positive flips the other way;
- *likelihood factors*: how much likelier the taught answers are with the adapter than with the
  base alone, per token (exp of the mean log-likelihood gain), on each base;
- the new version's quality card (`learning.quality`, measured by the training process), when
  there is one.
Old and new answers are kept side by side for the person to read before deciding.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any

import numpy as np

from kindred.core.archive import objects as archive
from kindred.core.archive.catalog import Version
from kindred.core.basics.ids import VersionId
from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home.assistants import get_assistant
from kindred.core.home.models import Model
from kindred.core.home.store import Store
from kindred.core.learning import markers as marks
from kindred.core.learning.dataset import Example
from kindred.core.learning.markers import Markers
from kindred.core.upgrades.migration_data import Progress, taught_dataset

FORMAT = 1
CARD_TOKENS = 72
GREEDY = Sampling(temperature=0.0, top_k=1, top_p=1.0, repeat_penalty=1.1,
                        max_tokens=CARD_TOKENS)
REPRODUCES = 0.6
"""An answer reproduces a taught one when their word sequences are this similar (difflib)."""


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, marks.words(a), marks.words(b)).ratio()


def _turn(system: str, prompt: str) -> list[dict[str, str]]:
    head = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": prompt}]


def taught_sequence(engine: Engine, system: str, prompt: str, answer: str, limit: int
                    ) -> tuple[list[int], int]:
    """(tokens, start): the chat up to the assistant's turn, then the taught answer's tokens
    (from `start`), at most `limit` tokens in all."""
    head = engine.tokenize_chat(_turn(system, prompt))
    body = list(engine.llm.tokenize(answer.encode("utf-8"), add_bos=False, special=False))
    return (head + body)[:limit], len(head)


def likelihood_factor(base: Sequence[np.ndarray], adapter: Sequence[np.ndarray]
                      ) -> float | None:
    """exp(mean per-token log-likelihood gain of the taught answers, adapter vs base alone),
    from each answer's token log-probabilities on either side."""
    count = sum(len(lp) for lp in base)
    if not count:
        return None
    gain = sum(float(lp.sum()) for lp in adapter) - sum(float(lp.sum()) for lp in base)
    return round(math.exp(gain / count), 3)


def _side(store: Store, model: Model, version: Version, system: str, prompts: Sequence[str],
          taught: Sequence[tuple[str, str]], who: str, span: tuple[float, float]
          ) -> Iterator[Progress | dict[str, Any]]:
    """One version on its own base: answers to the card prompts and the taught prompts, and the
    taught answers' likelihood factor. Batched (`chat.batch`, `learning.scoring`): the answers
    several per llama.cpp decode (what `Engine.chat` says greedily), then the taught answers
    scored on the same context (the adapter's) and on one without the adapter (the base's),
    several sequences per decode, logits only where an answer token is predicted. One prompt
    after another, this took about 15 s per side on SmolLM2."""
    from kindred.core.learning.scoring import Scorer

    refs = [AdapterRef(version.id, archive.verified_path(store, version.id), 1.0)]
    engine = Engine(model.path, n_ctx=512)  # tokenizes; the batched contexts decode
    try:
        engine.set_adapters(refs)
        jobs = [*prompts, *[p for p, _ in taught]]
        answers = [""] * len(jobs)
        with closing(Scorer(engine)) as scorer:
            for done, answer in enumerate(scorer.answers(
                    [_turn(system, p) for p in jobs], CARD_TOKENS, GREEDY.repeat_penalty),
                    start=1):
                answers[answer.index] = answer.text
                yield Progress(span[0] + (span[1] - span[0]) * done / (len(jobs) + 1),
                               f"Asking {who}: {done} of {len(jobs)}")
            sequences = [taught_sequence(engine, system, p, a, scorer.n_ctx_seq)
                         for p, a in taught]
            with_adapter = scorer.score(sequences)
        engine.set_adapters([])
        with closing(Scorer(engine)) as base:
            alone = base.score(sequences)
        yield {"card": answers[:len(prompts)], "taught": answers[len(prompts):],
               "likelihood_factor": likelihood_factor(alone, with_adapter)}
    finally:
        engine.close()


def compute(store: Store, old: Version, new: Version, old_model: Model, new_model: Model,
            card_prompts: Sequence[str]) -> Iterator[Progress | dict[str, Any]]:
    """Progress events, then the card (a dict). Loads one base at a time."""
    from kindred.core.learning.quality import taught_marks

    assistant = get_assistant(store, new.assistant_id)
    dataset = taught_dataset(store, old, assistant)
    found, _, _ = taught_marks(dataset)
    taught_items = [e for e in dataset.examples if e.kind in ("correction", "liked")]
    taught = [(e.messages[-2]["content"], e.answer) for e in taught_items]
    prompts = list(card_prompts)
    sides: dict[str, dict[str, Any]] = {}
    for key, model, version, who, span in (
            ("old", old_model, old, "the old version", (0.0, 0.5)),
            ("new", new_model, new, "the new version", (0.5, 1.0))):
        for item in _side(store, model, version, dataset.system_prompt, prompts, taught, who,
                          span):
            if isinstance(item, dict):
                sides[key] = item
            else:
                yield item
    yield card(found, prompts, taught_items, sides["old"], sides["new"], store, new.id)


def card(found: Markers, prompts: Sequence[str], taught: Sequence[Example],
         old: dict[str, Any], new: dict[str, Any], store: Store | None = None,
         version_id: VersionId | None = None) -> dict[str, Any]:
    """The card from both sides' answers (pure apart from reading the quality card)."""
    main = marks.primary(found)
    old_marks = [marks.shows(a, found) for a in old["card"]]
    new_marks = [marks.shows(a, found) for a in new["card"]]
    shown = [(o, n) for o, n in zip(old_marks, new_marks, strict=True)]
    kept = sum(1 for o, n in shown for k, v in o.items() if v and n.get(k))
    total = sum(1 for o, _ in shown for v in o.values() if v)

    def share(found_marks: list[dict[str, bool]]) -> float | None:
        if main is None or not found_marks:
            return None
        return round(sum(m.get(main, False) for m in found_marks) / len(found_marks), 3)

    flips: list[dict[str, Any]] = []
    positive = 0
    reproduced_old = reproduced_new = 0
    for example, a_old, a_new in zip(taught, old["taught"], new["taught"], strict=True):
        s_old, s_new = similarity(a_old, example.answer), similarity(a_new, example.answer)
        reproduced_old += s_old >= REPRODUCES
        reproduced_new += s_new >= REPRODUCES
        if s_old >= REPRODUCES > s_new:
            flips.append({"prompt": example.messages[-2]["content"], "taught": example.answer,
                          "old": a_old, "new": a_new, "similarity_old": round(s_old, 3),
                          "similarity_new": round(s_new, 3)})
        elif s_new >= REPRODUCES > s_old:
            positive += 1
    quality = None
    if store is not None and version_id is not None:
        row = store.db.execute("SELECT card FROM quality_cards WHERE version_id = ?",
                               [version_id]).fetchone()  # the training process measured it
        quality = json.loads(row[0]) if row else None
    result: dict[str, Any] = {
        "format": FORMAT, "markers": found.to_json(), "described": found.describe(),
        "agreement": round(kept / total, 3) if total else None,
        "style": {"primary": main, "prompts": len(prompts), "old": share(old_marks),
                  "new": share(new_marks)},
        "taught": {"items": len(taught), "reproduced_old": reproduced_old,
                   "reproduced_new": reproduced_new},
        "negative_flips": len(flips), "positive_flips": positive, "flips": flips,
        "likelihood_factor": {"old": old["likelihood_factor"], "new": new["likelihood_factor"]},
        "quality": quality,
        "samples": [{"prompt": p, "old": o, "new": n}
                    for p, o, n in zip(prompts, old["card"], new["card"], strict=True)],
    }
    result["summary"] = summary(result)
    return result


def summary(card: dict[str, Any]) -> list[str]:
    """The card in a few plain sentences."""
    lines = []
    style = card["style"]
    if style["primary"] and style["old"] is not None:
        lines.append(f"Style ({card['described']}): the old version shows it in "
                     f"{style['old']:.0%} of {style['prompts']} new requests, the new version in "
                     f"{style['new']:.0%}.")
    if card["agreement"] is not None:
        lines.append(f"Agreement: the new version keeps {card['agreement']:.0%} of the marks the "
                     "old one shows.")
    taught = card["taught"]
    lines.append(f"Taught answers: the old version reproduces {taught['reproduced_old']} of "
                 f"{taught['items']}, the new version {taught['reproduced_new']} "
                 f"({card['negative_flips']} lost, {card['positive_flips']} gained).")
    factor = card["likelihood_factor"]
    if factor["old"] is not None and factor["new"] is not None:
        lines.append(f"Word for word, your taught answers are {factor['new']:.1f}× as likely "
                     f"with the new version as with its base alone (old version: "
                     f"{factor['old']:.1f}× on its base).")
    quality = card.get("quality")
    if quality and quality.get("facts"):
        facts = quality["facts"]
        lines.append(f"Knowledge: the new version answers {facts['candidate']} of "
                     f"{facts['total']} general questions correctly; its base alone "
                     f"{facts['base']}.")
    return lines

