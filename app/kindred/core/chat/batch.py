"""Greedy answers to many prompts at once: several sequences share each llama.cpp decode.

On a CPU a small model decodes one sequence at a time far below what the cores can do (each
token is a matrix-vector product); decoding eight sequences together turns those into
matrix-matrix products, so the measurement passes (quality cards, replayed base answers) cost a
fraction of asking one prompt after another. Answers are what `Engine.chat` gives with
temperature 0 (argmax after llama.cpp's repeat penalty over the last 64 tokens), on a second
context of the engine's own model with the engine's current adapters.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from kindred.core.chat.engine import Engine, Message
from kindred.core.errors import KindredError

PENALTY_LAST_N = 64
"""llama.cpp's default window for the repeat penalty: over the tokens generated so far (the
sampler only sees what it sampled, never the prompt)."""


@dataclass
class _Seq:
    index: int
    slot: int
    prompt: list[int]
    limit: int
    history: list[int]
    out: list[int] = field(default_factory=list)


class BatchGenerator:
    """A second llama.cpp context on the engine's model, for `n_seq` parallel sequences."""

    def __init__(self, engine: Engine, *, n_seq: int = 8, n_ctx_seq: int = 1024) -> None:
        import llama_cpp

        self.engine = engine
        self.n_seq = n_seq
        self.n_ctx_seq = n_ctx_seq
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_seq * n_ctx_seq
        params.n_batch = 512
        params.n_ubatch = 512
        params.n_seq_max = n_seq
        params.kv_unified = True
        threads = engine.llm.n_threads if hasattr(engine.llm, "n_threads") else 2
        params.n_threads = params.n_threads_batch = int(threads)
        self.ctx = llama_cpp.llama_init_from_model(engine.llm._model.model, params)
        if not self.ctx:
            raise KindredError("llama.cpp could not make a context for batched answers.")
        self.n_vocab = engine.llm.n_vocab()
        self.batch = llama_cpp.llama_batch_init(512, 0, n_seq)
        refs = engine.adapters
        if refs:
            handles = [engine._load_adapter(r.path) for r in refs]
            array = (llama_cpp.llama_adapter_lora_p_ctypes * len(refs))(*handles)
            scales = (ctypes.c_float * len(refs))(*[r.scale for r in refs])
            if llama_cpp.llama_set_adapters_lora(self.ctx, array, len(refs), scales) != 0:
                self.close()
                raise KindredError("llama.cpp refused the adapter set for batched answers.")

    def close(self) -> None:
        import llama_cpp

        if getattr(self, "batch", None) is not None:
            llama_cpp.llama_batch_free(self.batch)
            self.batch = None
        if getattr(self, "ctx", None):
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    def __enter__(self) -> BatchGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- generation -------------------------------------------------------------------------

    def chat(self, conversations: Sequence[Sequence[Message]], max_tokens: Sequence[int] | int,
             repeat_penalty: float = 1.1) -> Iterator[tuple[int, str]]:
        """(index, answer) for each conversation, as they finish (greedy)."""
        limits = ([max_tokens] * len(conversations) if isinstance(max_tokens, int)
                  else list(max_tokens))
        prompts = [self.engine.tokenize_chat(list(c)) for c in conversations]
        for start in range(0, len(prompts), self.n_seq):
            wave = [_Seq(i, slot, p[-(self.n_ctx_seq // 2):],
                         min(limits[i], self.n_ctx_seq // 2), [])
                    for slot, (i, p) in enumerate(
                        enumerate(prompts[start:start + self.n_seq], start))]
            yield from self._wave(wave, repeat_penalty)

    def _wave(self, wave: list[_Seq], penalty: float) -> Iterator[tuple[int, str]]:
        import llama_cpp

        vocab = self.engine.llm._model.vocab
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self.ctx), True)
        outputs = self._prefill(wave)
        while outputs:
            active: list[tuple[_Seq, int]] = []
            for seq, logits in outputs:
                token = self._pick(logits, seq.history, penalty)
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    yield seq.index, self._text(seq.out)
                    continue
                seq.out.append(token)
                seq.history = ([*seq.history, token])[-PENALTY_LAST_N:]
                if len(seq.out) >= seq.limit:
                    yield seq.index, self._text(seq.out)
                    continue
                active.append((seq, token))
            if not active:
                return
            self._fill([(seq.slot, token, len(seq.prompt) + len(seq.out) - 1)
                        for seq, token in active], [True] * len(active))
            self._decode()
            outputs = [(seq, self._logits(j)) for j, (seq, _) in enumerate(active)]

    def _prefill(self, wave: list[_Seq]) -> list[tuple[_Seq, np.ndarray]]:
        """Feed every prompt (in chunks of the batch size); each one's next-token logits."""
        pending = [(seq, token, pos) for seq in wave for pos, token in enumerate(seq.prompt)]
        first: dict[int, np.ndarray] = {}
        for begin in range(0, len(pending), 512):
            chunk = pending[begin:begin + 512]
            last = [pos == len(seq.prompt) - 1 for seq, _, pos in chunk]
            self._fill([(seq.slot, token, pos) for seq, token, pos in chunk], last)
            self._decode()
            for j, (seq, _, _) in enumerate(chunk):
                if last[j]:
                    first[seq.slot] = self._logits(j)
        return [(seq, first[seq.slot]) for seq in wave]

    def _logits(self, row: int) -> np.ndarray:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self.ctx, row)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def _fill(self, tokens: list[tuple[int, int, int]], logits: list[bool]) -> None:
        batch = self.batch
        batch.n_tokens = len(tokens)
        for j, ((slot, token, pos), want) in enumerate(zip(tokens, logits, strict=True)):
            batch.token[j] = token
            batch.pos[j] = pos
            batch.n_seq_id[j] = 1
            batch.seq_id[j][0] = slot
            batch.logits[j] = 1 if want else 0

    def _decode(self) -> None:
        import llama_cpp

        if llama_cpp.llama_decode(self.ctx, self.batch) != 0:
            raise KindredError("llama.cpp could not decode the batched answers (context full).")

    @staticmethod
    def _pick(logits: np.ndarray, history: list[int], penalty: float) -> int:
        if penalty != 1.0 and history:
            seen = np.unique(np.asarray(history, dtype=np.int64))
            values = logits[seen]
            logits[seen] = np.where(values > 0, values / penalty, values * penalty)
        return int(np.argmax(logits))

    def _text(self, tokens: list[int]) -> str:
        return str(self.engine.llm.detokenize(tokens).decode("utf-8", "replace")).strip()


def greedy_answers(engine: Engine, conversations: Sequence[Sequence[Message]],
                   max_tokens: Sequence[int] | int, *, n_seq: int = 8) -> list[str]:
    """Every conversation's greedy answer, in order."""
    answers = [""] * len(conversations)
    with BatchGenerator(engine, n_seq=n_seq) as generator:
        for index, text in generator.chat(conversations, max_tokens):
            answers[index] = text
    return answers
