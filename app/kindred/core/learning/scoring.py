"""Scoring answers fast: the log-probability of each answer token under one adapter set.

Insight used to ask llama.cpp for all 49,152 logits at every position of one sequence per decode,
and to clear the cache (system prompt included) at every adapter switch. Here each adapter set
gets its own context on the engine's model (the adapters never change on it, so nothing is
evaluated twice), many sequences share each decode (`BatchGenerator.run`), their common start
(the system prompt) is evaluated once per context, and logits are requested only where an answer
token is predicted; of each row only that token's log-probability is kept. What is known
already is not evaluated again: an answer generated on the context was scored as it was written
(`answers(scored=True)`), a draft given to a generating job is scored while it is verified, and
another answer to a prompt answered on the context continues from that prompt's cache, past the
tokens both answers share (`prior`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kindred.core.engine.batch import BatchGenerator, Job


class Scorer(BatchGenerator):
    """A context with the engine's adapters at creation: generates (greedy, batched) and
    scores (`score`)."""

    def score(self, sequences: Sequence[tuple[list[int], int]],
              prior: Sequence[Sequence[float]] | None = None) -> list[np.ndarray]:
        """For each (tokens, start): log p(tokens[i] | tokens[:i]) for i >= start; `prior`:
        for each, the first of those values if known already."""
        return [np.asarray(job.scores, dtype=np.float32)
                for job in sorted(self.run(self.score_jobs(sequences, prior)),
                                  key=lambda j: j.index)]

    def score_jobs(self, sequences: Sequence[tuple[list[int], int]],
                   prior: Sequence[Sequence[float]] | None = None, first: int = 0
                   ) -> list[Job]:
        """`Job`s scoring `sequences` (indexes from `first`), cut to the context's share."""
        return [Job.score(first + i, list(tokens)[: self.n_ctx_seq], start,
                          prior[i] if prior else ())
                for i, (tokens, start) in enumerate(sequences)]
