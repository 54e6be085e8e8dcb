"""The training shortcuts change the speed, not the numbers: a prefix every row of a batch
shares is computed once, the base's reference distributions for the KL anchor are computed
once per run, and each LoRA layer runs as one autograd node; losses and gradients match
computing every row in full with peft's own layers (real model, in process). The prompt runs
without gradients: the losses are still exactly the model's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kindred.core.training.tokens import Encoded
from support.anchored_batch import anchored_examples, trained_looking_model

pytestmark = pytest.mark.slow
def _losses_and_grads(model: Any, examples: list[Encoded], references: Any
                      ) -> tuple[Any, dict[str, Any]]:
    from functools import partial

    from kindred.core.training import trainer

    model.zero_grad(set_to_none=True)
    rows = list(range(len(examples)))
    ids, labels = trainer.batch_tensors(examples, rows)
    anchors, anchored = trainer.anchor_inputs(examples, rows, ids.shape[1])
    sums, _ = trainer.row_losses(model, ids, labels, anchors,
                                 partial(references.log_probs, anchored))
    sums.sum().backward()
    return sums.detach(), {n: p.grad.clone() for n, p in trainer.lora_parameters(model)}


def test_shared_prefix_and_cached_references_give_the_same_losses_and_gradients(
        model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from kindred.core.training import forward, trainer

    examples = anchored_examples(model_path)
    model = trained_looking_model(model_path)
    ids, labels = trainer.batch_tensors(examples, [0, 1, 2])
    prefix = forward.shared_prefix(ids, trainer._first_target(labels[:, 1:] != trainer.IGNORE))
    assert prefix >= 20  # the system prompt and the opening of the user's turn

    fast, fast_grads = _losses_and_grads(model, examples,
                                         trainer.References(model, examples, 512))
    # the reference the old way: the base (adapter off) on the plain answer, row by row, in full
    ref_ids, start = examples[2].reference  # type: ignore[misc]
    span = examples[2].anchor[1] - examples[2].anchor[0]  # type: ignore[index]
    with torch.no_grad(), model.disable_adapter():
        logits = model(input_ids=torch.tensor([ref_ids])).logits[0, start - 1: start - 1 + span]
    expected = torch.log_softmax(logits.float(), dim=-1)
    # ...with its end of turn as likely as the plain base (no examples) makes it there
    plain, begins, stop_at = examples[2].ids, examples[2].n_prompt, examples[2].target_end
    assert stop_at is not None
    with torch.no_grad(), model.disable_adapter():
        plain_logits = model(input_ids=torch.tensor([plain])).logits[0, begins - 1:
                                                                      begins - 1 + span]
    plain_stop = torch.log_softmax(plain_logits.float(), dim=-1)[:, plain[stop_at]]
    assert float((expected[:, plain[stop_at]] - plain_stop).abs().max()) > 0.01
    expected = trainer.with_stop(expected, plain[stop_at], plain_stop)
    references = trainer.References(model, examples, 512)
    cached = references.log_probs([2])
    assert cached.shape == expected.shape
    torch.testing.assert_close(cached, expected, rtol=1e-3, atol=1e-3)  # kept in fp16
    # kept or made again (nothing kept: as after a resume), the numbers are the same
    assert torch.equal(references.log_probs([2]), cached)
    assert torch.equal(trainer.References(model, examples, 512, budget=0).log_probs([2]), cached)

    monkeypatch.setattr(forward, "MIN_SHARED", 10**6)  # every row computed in full
    slow, slow_grads = _losses_and_grads(model, examples,
                                         trainer.References(model, examples, 512))
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-4)
    assert float(slow[2]) > 0 and fast_grads.keys() == slow_grads.keys()
    for name, grad in slow_grads.items():
        assert float(grad.abs().max()) > 0, name
        # fp32 rounding only (measured: at most 8e-6 of the gradient's norm)
        assert float((fast_grads[name] - grad).norm()) <= 1e-4 * float(grad.norm()), name


def test_the_losses_are_the_model_s_own_with_the_prompt_run_without_gradients(
        model_path: Path) -> None:
    import torch
    import torch.nn.functional as F

    from kindred.core.training import trainer

    examples = anchored_examples(model_path)[:2]  # taught rows: plain cross-entropy
    model = trained_looking_model(model_path)
    ids, labels = trainer.batch_tensors(examples, [0, 1])
    sums, counts = trainer.row_losses(model, ids, labels)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, :-1].float()
    expected = F.cross_entropy(logits.transpose(1, 2), labels[:, 1:], ignore_index=trainer.IGNORE,
                               reduction="none").sum(dim=1)
    torch.testing.assert_close(sums.detach(), expected, rtol=1e-4, atol=1e-4)
    assert counts.tolist() == (labels[:, 1:] != trainer.IGNORE).sum(dim=1).tolist()
    sums.sum().backward()
    grads = [p.grad for _, p in trainer.lora_parameters(model)]
    assert all(g is not None and float(g.abs().max()) > 0 for g in grads)


def test_fused_lora_layers_give_peft_s_losses_and_gradients(model_path: Path) -> None:
    import torch

    from kindred.core.training import lora_kernel, trainer

    examples = anchored_examples(model_path)
    model = trained_looking_model(model_path)
    plain, plain_grads = _losses_and_grads(model, examples,
                                           trainer.References(model, examples, 512))
    assert lora_kernel.fuse(model) == 21 * 3  # q, v and down on the upper 21 of 30 layers
    assert lora_kernel.fuse(model) == 0  # once is enough
    # (the references run the base with the adapter off: peft's path, inside the fused model)
    fused, fused_grads = _losses_and_grads(model, examples,
                                           trainer.References(model, examples, 512))
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
    for name, grad in plain_grads.items():
        assert float(grad.abs().max()) > 0, name
        assert float((fused_grads[name] - grad).norm()) <= 1e-4 * float(grad.norm()), name
