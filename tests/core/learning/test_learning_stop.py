"""When to stop is the plain base's, what to say the teacher's: a real (tiny) training on one
replayed answer whose teacher saw one-line examples. With the teacher's whole distribution as
the target, the candidate learns the teacher's habit of ending its turn early (open answers a
third of the base's length in the bench); with the end of turn taken from the plain base
(`trainer.with_stop`), the candidate's chance of stopping inside the answer stays the base's
while the rest of what it learned is the teacher's (real model, in process)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from kindred.core.training.config import TrainConfig
from kindred.core.training.tokens import Encoded

pytestmark = pytest.mark.slow
SYSTEM = "You are a helpful, friendly assistant. Answer clearly and concisely."
ONE_LINERS = [("What should I have for lunch?", "Lentil soup."),
              ("How often do I water a cactus?", "Every two weeks."),
              ("What's a good movie?", "The Princess Bride."),
              ("When should I go to bed?", "Around ten.")]
REQUEST = "Explain how a rainbow forms."
ANSWER = ("A rainbow forms when sunlight enters raindrops. The light bends and splits into its "
          "colours. Each colour leaves the drop at its own angle, so you see an arc.")


def _replayed(model_path: Path) -> Encoded:
    """A three-sentence answer as the mix encodes it, its teacher shown four one-liners (which
    makes the teacher stop after the first sentence with about 0.5, the plain base never)."""
    from kindred.core.learning import teacher
    from kindred.core.training import replay
    from kindred.core.training.tokens import ChatTokenizer

    shots = [teacher.Shot(p, a) for p, a in ONE_LINERS]
    with ChatTokenizer(model_path) as tokenizer:
        return replay.encode(tokenizer, SYSTEM, replay.Distilled(
            "general", REQUEST, ANSWER, teacher.messages(SYSTEM, shots, REQUEST, 0)))


def _stop_probs(model: Any, ids: list[int], begins: int, span: int, stop_id: int,
                adapter: bool) -> Any:
    """P(end of turn) at the answer's positions (not the last one, where it does end)."""
    import contextlib

    import torch

    with torch.no_grad(), contextlib.nullcontext() if adapter else model.disable_adapter():
        logits = model(input_ids=torch.tensor([ids])).logits[0, begins - 1: begins - 1 + span]
    return torch.softmax(logits.float(), dim=-1)[:-1, stop_id]


def _train(model_path: Path, example: Encoded, steps: int) -> Any:
    import torch

    from kindred.core.basics.hashing import sha256_file
    from kindred.core.training import base_cache, trainer
    from support.training_helpers import shared_base_cache

    torch.set_num_threads(2)
    base = base_cache.load_cached(shared_base_cache(), sha256_file(model_path))
    model = trainer.build_peft(base, TrainConfig(rank=8, seed=0))
    references = trainer.References(model, [example], 512)
    optimizer = torch.optim.AdamW([p for _, p in trainer.lora_parameters(model)], lr=3e-3)
    ids, labels = trainer.batch_tensors([example], [0])
    anchors, anchored = trainer.anchor_inputs([example], [0], ids.shape[1])
    for _ in range(steps):
        sums, counts = trainer.row_losses(model, ids, labels, anchors,
                                          partial(references.log_probs, anchored))
        (sums.sum() / counts.sum()).backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model


@pytest.mark.parametrize("from_plain", [True, False])
def test_the_candidate_stops_where_the_plain_base_would_not_where_the_teacher_would(
        model_path: Path, monkeypatch: pytest.MonkeyPatch, from_plain: bool) -> None:
    from kindred.core.training import trainer

    monkeypatch.setattr(trainer, "STOP_FROM_PLAIN", from_plain)
    example = _replayed(model_path)
    assert example.anchor is not None and example.reference is not None
    assert example.target_end is not None
    stop_id = example.ids[example.target_end]
    begins, span = example.n_prompt, example.anchor[1] - example.anchor[0]
    model = _train(model_path, example, 12)
    ref_ids, ref_begins = example.reference
    teacher = _stop_probs(model, ref_ids, ref_begins, span, stop_id, adapter=False)
    plain = _stop_probs(model, example.ids, begins, span, stop_id, adapter=False)
    mine = _stop_probs(model, example.ids, begins, span, stop_id, adapter=True)
    # the teacher, after one-line examples, is far likelier to stop inside this answer
    assert float(teacher.max()) > 0.2 and float(plain.max()) < 0.05, (teacher, plain)
    to_plain = float((mine - plain).abs().sum())
    to_teacher = float((mine - teacher).abs().sum())
    if from_plain:
        assert to_plain < to_teacher, (mine, plain, teacher)
        assert float(mine.sum()) < 0.5 * float(teacher.sum()), (mine, teacher)
    else:  # the teacher's habit is learned: why `with_stop` exists
        assert to_teacher < to_plain, (mine, plain, teacher)
