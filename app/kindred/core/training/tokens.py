"""Examples -> token ids with llama.cpp's own tokenizer and the model's chat template.

Tokenizing exactly as the engine does at chat time (same template renderer, same tokenizer,
prompt tokenized on its own) means the adapter is trained on the very token sequences it will see:
the prompt ends with the assistant's turn opened, and the answer's tokens (with the end-of-turn
token, so the model learns where to stop) are the only loss targets. Loads the vocabulary only
(no weights), so this is cheap enough for the GUI's background task; no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kindred.core.basics.errors import KindredError
from kindred.core.engine.template import make_formatter
from kindred.core.learning.dataset import Example


@dataclass(frozen=True)
class Encoded:
    """One example as tokens: `ids[:n_prompt]` is context, `ids[n_prompt:]` the target."""

    ids: list[int]
    n_prompt: int
    anchor: tuple[int, int] | None = None
    """Token positions [start, end) whose target is the base model's own next-token
    distribution (a replayed base answer), not only its greedy token (see `replay`)."""

    def __len__(self) -> int:
        return len(self.ids)

    target_end: int | None = None
    """Targets stop here (None: at the end). A taught answer's end-of-turn is left out when the
    person did not ask for short answers: the model learns what to say, not to stop after one
    line (the replayed base answers keep teaching when to stop)."""

    reference: tuple[list[int], int] | None = None
    """With `anchor`: the sequence the base's reference distribution is computed on, and where
    the anchored span starts in it (the same words, without the taught opening)."""

    def to_json(self) -> list[Any]:
        out: list[Any] = [self.ids, self.n_prompt]
        extra = [list(self.anchor) if self.anchor else None, self.target_end,
                 [self.reference[0], self.reference[1]] if self.reference else None]
        while extra and extra[-1] is None:
            extra.pop()
        return out + extra

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Encoded:
        anchor = (int(data[2][0]), int(data[2][1])) if len(data) > 2 and data[2] else None
        end = int(data[3]) if len(data) > 3 and data[3] is not None else None
        ref = ([int(i) for i in data[4][0]], int(data[4][1])) if len(data) > 4 and data[4] \
            else None
        return cls([int(i) for i in data[0]], int(data[1]), anchor, end, ref)


class ChatTokenizer:
    """The base model's vocabulary and chat template, as llama.cpp applies them."""

    def __init__(self, model_path: str | Path) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaModel

        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        try:
            self._model = LlamaModel(path_model=str(model_path), params=params, verbose=False)
        except ValueError as exc:
            raise KindredError(f"llama.cpp cannot read the vocabulary of {Path(model_path).name}"
                               f": {exc}. Nothing was changed.") from exc
        # the model's chat template, or the plain fallback the engine also uses
        metadata = self._model.metadata()
        self._prompt = make_formatter(self._model, metadata)
        self._full = make_formatter(self._model, metadata, add_generation_prompt=False)

    def tokenize(self, text: str, *, add_bos: bool) -> list[int]:
        return list(self._model.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True))

    def encode(self, example: Example, *, learn_stop: bool = True) -> Encoded:
        """The example as tokens; with `learn_stop` False the end-of-turn after the answer is
        context, not a target."""
        prompt = self._prompt(messages=example.prompt_messages)
        full = self._full(messages=example.messages).prompt
        if not full.startswith(prompt.prompt) or len(full) == len(prompt.prompt):
            raise KindredError("The model's chat template does not put the answer after the "
                               "prompt, so Kindred cannot tell which tokens to learn. "
                               "Nothing was changed.")
        prompt_ids = self.tokenize(prompt.prompt, add_bos=not prompt.added_special)
        rest = full[len(prompt.prompt):]
        answer_ids = self.tokenize(rest, add_bos=False)
        end = None
        at = rest.find(example.answer) if example.answer else -1
        if not learn_stop and at >= 0:
            said = len(self.tokenize(rest[:at + len(example.answer)], add_bos=False))
            if 0 < said < len(answer_ids):
                end = len(prompt_ids) + said
        return Encoded(prompt_ids + answer_ids, len(prompt_ids), None, end)

    def close(self) -> None:
        self._model.close()

    def __enter__(self) -> ChatTokenizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
