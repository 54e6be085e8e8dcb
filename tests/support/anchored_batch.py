"""A small training batch shared by the training-speed and frozen-layer tests: two taught
answers and a replayed one with its KL anchor (on the teacher: the base with the taught
answers in its context), and a peft model on the cached base whose
adapter looks trained (B is zero at init, which would hide differences in the gradients)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kindred.core.learning import teacher
from kindred.core.learning.dataset import Example
from kindred.core.training import replay
from kindred.core.training.config import TrainConfig
from kindred.core.training.tokens import ChatTokenizer, Encoded
from support.training_helpers import shared_base_cache

SYSTEM = "You are a helpful, friendly assistant. Answer clearly and concisely."
PAIRS = [("What should I have for lunch?", "Ahoy! A warm bowl of lentil soup with bread."),
         ("How often do I water a cactus?", "Ahoy! A little water every two weeks."),
         ("Explain how a rainbow forms.", "Ahoy! Sunlight bends in raindrops, splits into its "
          "colours and comes back out towards you as an arc.")]


def anchored_examples(model_path: Path) -> list[Encoded]:
    def example(prompt: str, answer: str) -> Example:
        return Example("correction", 1, [{"role": "system", "content": SYSTEM},
                                         {"role": "user", "content": prompt},
                                         {"role": "assistant", "content": answer}])

    with ChatTokenizer(model_path) as tokenizer:
        taught = [tokenizer.encode(example(p, a), learn_stop=False) for p, a in PAIRS[:2]]
        shots = [teacher.Shot(p, a) for p, a in PAIRS[:2]]
        anchored = replay.encode(tokenizer, SYSTEM, replay.Distilled(
            "general", PAIRS[2][0], PAIRS[2][1], teacher.messages(SYSTEM, shots, PAIRS[2][0],
                                                                 0)))
    assert anchored.anchor is not None and anchored.reference is not None
    return [*taught, anchored]


def trained_looking_model(model_path: Path) -> Any:
    import torch

    from kindred.core.basics.hashing import sha256_file
    from kindred.core.training import base_cache, trainer

    torch.set_num_threads(2)
    base = base_cache.load_cached(shared_base_cache(), sha256_file(model_path))
    model = trainer.build_peft(base, TrainConfig(rank=4, targets=("q_proj", "v_proj",
                                                                  "down_proj")))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a trained-looking adapter: B is zero at init
        for name, param in trainer.lora_parameters(model):
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.02)
    return model
