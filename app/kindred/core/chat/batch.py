"""Greedy answers to many prompts at once: several sequences share each llama.cpp decode.

On a CPU a small model decodes one sequence at a time far below what the cores can do (each
token is a matrix-vector product); decoding eight sequences together turns those into
matrix-matrix products, so the measurement passes (quality cards, replayed base answers) cost a
fraction of asking one prompt after another. Answers are what `Engine.chat` gives with
temperature 0 (argmax after llama.cpp's repeat penalty over the last 64 tokens), on a second
context of the engine's own model with the engine's current adapters.

The start every prompt shares (the system prompt and the opening of the user's turn, often
more than half of a short request) is evaluated once, in the first slot, and shared with the
others; it stays there for the next wave (and, on a `Scorer`, for the scoring after it), so it
is evaluated once per context, not once per prompt.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from kindred.core.chat.engine import Engine, Message
from kindred.core.chat.window import common_prefix
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
    logprobs: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """A greedy answer, its tokens (end-of-turn not included) and, when asked for, each token's
    log-probability under the model (before the repeat penalty): the answer scored as it was
    written, so whoever scores it on the same context need not evaluate it again."""

    index: int
    text: str
    tokens: list[int]
    logprobs: list[float]


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
        self._kept: list[int] = []
        """The tokens slot 0 holds from position 0 (see `_share`)."""
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
        for answer in self.answers(conversations, max_tokens, repeat_penalty):
            yield answer.index, answer.text

    def answers(self, conversations: Sequence[Sequence[Message]],
                max_tokens: Sequence[int] | int, repeat_penalty: float = 1.1, *,
                scored: bool = False) -> Iterator[Answer]:
        """Each conversation's greedy `Answer`, as they finish; `scored`: with its tokens'
        log-probabilities."""
        limits = ([max_tokens] * len(conversations) if isinstance(max_tokens, int)
                  else list(max_tokens))
        prompts = [self.engine.tokenize_chat(list(c)) for c in conversations]
        for start in range(0, len(prompts), self.n_seq):
            wave = [_Seq(i, slot, p[-(self.n_ctx_seq // 2):],
                         min(limits[i], self.n_ctx_seq // 2), [])
                    for slot, (i, p) in enumerate(
                        enumerate(prompts[start:start + self.n_seq], start))]
            yield from self._wave(wave, repeat_penalty, scored)

    def _wave(self, wave: list[_Seq], penalty: float, scored: bool) -> Iterator[Answer]:
        import llama_cpp

        vocab = self.engine.llm._model.vocab
        outputs = self._prefill(wave)
        while outputs:
            active: list[tuple[_Seq, int]] = []
            for seq, logits in outputs:
                raw = logits.copy() if scored else logits  # _pick applies the penalty in place
                token = self._pick(logits, seq.history, penalty)
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    yield self._answer(seq)
                    continue
                seq.out.append(token)
                if scored:
                    seq.logprobs.append(float(token_logprobs(raw[None, :], [token])[0]))
                seq.history = ([*seq.history, token])[-PENALTY_LAST_N:]
                if len(seq.out) >= seq.limit:
                    yield self._answer(seq)
                    continue
                active.append((seq, token))
            if not active:
                return
            self._fill([(seq.slot, token, len(seq.prompt) + len(seq.out) - 1)
                        for seq, token in active], [True] * len(active))
            self._decode()
            outputs = [(seq, self._logits(j)) for j, (seq, _) in enumerate(active)]

    def _answer(self, seq: _Seq) -> Answer:
        return Answer(seq.index, self._text(seq.out), list(seq.out), list(seq.logprobs))

    def _share(self, sequences: Sequence[Sequence[int]], limit: int) -> int:
        """Leave the start all `sequences` have in common (at most `limit` tokens), and nothing
        else, in slots 0..len(sequences)-1: what slot 0 already holds of it is kept, the rest
        evaluated once there, then the cells are shared with the other slots (a unified cache
        stores them once). Returns its length."""
        import llama_cpp

        shared = limit
        for tokens in sequences[1:]:
            shared = min(shared, common_prefix(sequences[0], tokens))
        prefix = list(sequences[0][:max(shared, 0)])
        slots = len(sequences)
        memory = llama_cpp.llama_get_memory(self.ctx)
        keep = common_prefix(self._kept, prefix)
        for slot in range(1, self.n_seq):
            llama_cpp.llama_memory_seq_rm(memory, slot, -1, -1)
        llama_cpp.llama_memory_seq_rm(memory, 0, keep, -1)
        self._kept = list(prefix[:keep])
        for begin in range(keep, len(prefix), 512):
            chunk = range(begin, min(begin + 512, len(prefix)))
            self._fill([(0, prefix[pos], pos) for pos in chunk], [False] * len(chunk))
            self._decode()
        self._kept = list(prefix)
        for slot in range(1, slots):
            llama_cpp.llama_memory_seq_cp(memory, 0, slot, -1, -1)
        return len(prefix)

    def _prefill(self, wave: list[_Seq]) -> list[tuple[_Seq, np.ndarray]]:
        """Feed every prompt (their shared start once, the rest in chunks of the batch size);
        each one's next-token logits."""
        shared = self._share([seq.prompt for seq in wave],
                             min(len(seq.prompt) - 1 for seq in wave))
        pending = [(seq, token, pos) for seq in wave
                   for pos, token in enumerate(seq.prompt) if pos >= shared]
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


def token_logprobs(logits: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """log softmax(row)[target] for each row of `logits` and its target. Works in `logits`
    (overwritten: no copy of a rows x 49,152 matrix)."""
    rows = np.arange(len(targets))
    top = logits.max(axis=1)
    values = logits[rows, np.asarray(targets)] - top
    np.subtract(logits, top[:, None], out=logits)
    np.exp(logits, out=logits)
    return np.asarray(values - np.log(logits.sum(axis=1)))


def greedy_answers(engine: Engine, conversations: Sequence[Sequence[Message]],
                   max_tokens: Sequence[int] | int, *, n_seq: int = 8) -> list[str]:
    """Every conversation's greedy answer, in order."""
    answers = [""] * len(conversations)
    with BatchGenerator(engine, n_seq=n_seq) as generator:
        for index, text in generator.chat(conversations, max_tokens):
            answers[index] = text
    return answers
