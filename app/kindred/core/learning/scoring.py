"""Scoring answers fast: the log-probability of each answer token under one adapter set.

Insight used to ask llama.cpp for all 49,152 logits at every position of one sequence per decode,
and to clear the cache (system prompt included) at every adapter switch. Here each adapter set
gets its own context on the engine's model (the adapters never change on it, so nothing is
evaluated twice), several sequences share each decode, their common start (the system prompt)
is evaluated once per context and shared with the others (see `BatchGenerator._share`), and
logits are requested only where an answer token is predicted; of each row only that token's
log-probability is kept. An answer generated on the same context was scored as it was written
(`BatchGenerator.answers(scored=True)`) and is not evaluated again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kindred.core.chat.batch import BatchGenerator, token_logprobs


class Scorer(BatchGenerator):
    """A context with the engine's adapters at creation: generates (greedy, batched) and
    scores (`score`)."""

    def score(self, sequences: Sequence[tuple[list[int], int]]) -> list[np.ndarray]:
        """For each (tokens, start): log p(tokens[i] | tokens[:i]) for i >= start."""
        out: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * len(sequences)
        for first in range(0, len(sequences), self.n_seq):
            wave = [(list(t)[: self.n_ctx_seq], s) for t, s in
                    sequences[first:first + self.n_seq]]
            for j, values in enumerate(self._score_wave(wave)):
                out[first + j] = values
        return out

    def _score_wave(self, wave: list[tuple[list[int], int]]) -> list[np.ndarray]:
        shared = self._share([tokens for tokens, _ in wave],
                             min(min(len(t), max(s - 1, 0)) for t, s in wave))
        pending = [(slot, tokens[pos], pos,
                    tokens[pos + 1] if start - 1 <= pos < len(tokens) - 1 else -1)
                   for slot, (tokens, start) in enumerate(wave)
                   for pos in range(shared, len(tokens))]
        results: list[list[float]] = [[] for _ in wave]
        for slot, value in self._feed(pending):
            results[slot].append(value)
        return [np.asarray(r, dtype=np.float32) for r in results]

    def _feed(self, pending: list[tuple[int, int, int, int]]) -> list[tuple[int, float]]:
        """Decode `pending` (slot, token, position, next token or -1) in batches; for each
        item with a next token: (slot, its log-probability), in order."""
        import llama_cpp

        found: list[tuple[int, float]] = []
        for begin in range(0, len(pending), 512):
            chunk = pending[begin:begin + 512]
            self._fill([(slot, token, pos) for slot, token, pos, _ in chunk],
                       [target >= 0 for *_, target in chunk])
            self._decode()
            wanted = [(slot, target) for slot, _, _, target in chunk if target >= 0]
            if not wanted:
                continue
            ptr = llama_cpp.llama_get_logits(self.ctx)
            # llama.cpp's own output buffer, overwritten by the next decode: worked in place
            logits = np.ctypeslib.as_array(ptr, shape=(len(wanted), self.n_vocab))
            values = token_logprobs(logits, [t for _, t in wanted])
            found += [(slot, float(v)) for (slot, _), v in zip(wanted, values, strict=True)]
        return found
