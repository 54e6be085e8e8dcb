"""The llama.cpp engine: the base model loaded once, adapters attached at runtime, streamed chat.

One Engine is driven from one thread at a time (the GUI's inference worker, or the CLI). Only
`cancel()` may be called from another thread. Adapters go through llama.cpp's low-level API so a
switch costs milliseconds instead of a model reload.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kindred.core.basics.errors import KindredError
from kindred.core.basics.sampling import Sampling
from kindred.core.engine import foreground
from kindred.core.engine.system_budget import fit_system_message, system_limit
from kindred.core.engine.window import common_prefix, shift_plan, stable_cut
from kindred.core.formats.adapters_check import AdapterMismatchError, check_adapter_fits
from kindred.core.formats.gguf_info import GGUFInfo, read_gguf

DEFAULT_CTX = 4096
Message = dict[str, str]


@dataclass(frozen=True)
class AdapterRef:
    """One adapter of the active set: `key` names it in records (a version id); `path`: its GGUF."""

    key: str
    path: Path
    scale: float = 1.0


@dataclass
class GenerationStats:
    adapters: list[tuple[str, float]]
    tokens_in: int = 0
    tokens_out: int = 0
    ttft_s: float | None = None
    tok_s: float | None = None
    finish_reason: str = "stop"
    dropped_messages: int = 0   # turns left out of the prompt (the oldest ones)
    tokens_evaluated: int = 0   # prompt tokens llama.cpp had to evaluate (the rest was cached)
    system_note: str | None = None  # persona/preferences left out to fit (system_budget)


@dataclass
class Generation:
    """A streamed answer: iterate for text pieces; `stats` is complete once iteration ends."""

    _pieces: Iterator[str]
    stats: GenerationStats
    text: str = ""
    _parts: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[str]:
        for piece in self._pieces:
            self._parts.append(piece)
            yield piece
        self.text = "".join(self._parts)

    @property
    def partial(self) -> str:
        """What was streamed so far (all of it once iteration ended)."""
        return "".join(self._parts)

    def read(self) -> str:
        for _ in self:
            pass
        return self.text


class Engine:
    """A base model in llama.cpp plus a runtime-switchable set of LoRA adapters."""

    def __init__(self, model_path: str | Path, *, n_ctx: int = DEFAULT_CTX,
                 n_threads: int | None = None, seed: int = 0) -> None:
        from llama_cpp import Llama

        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise KindredError(f"Model file not found: {self.model_path}")
        threads = n_threads or max(1, min(os.cpu_count() or 1, 8))
        try:
            self.llm = Llama(
                model_path=str(self.model_path), n_ctx=n_ctx, n_threads=threads,
                n_threads_batch=threads, seed=seed, use_mmap=True, verbose=False,
            )
        except ValueError as exc:  # llama.cpp could not read it: damaged or replaced since added
            raise KindredError(
                f"llama.cpp could not load {self.model_path}: the file is damaged, or is no "
                "longer the model that was added. Put the original file back, or add the model "
                "again. Nothing was changed.") from exc
        # every evaluation (a prompt, each token of an answer) takes its turn with the other
        # engines of this process (`foreground.computing`); `Llama.generate` calls `self.eval`
        self.llm.eval = foreground.one_at_a_time(self.llm.eval)
        self.n_ctx = self.llm.n_ctx()
        self._cancel = threading.Event()
        self._loaded: dict[Path, Any] = {}
        self._active: list[AdapterRef] = []
        self._base_info: GGUFInfo | None = None
        self._formatter = self._make_formatter()
        self._overhead: int | None = None
        self.system_note: str | None = None  # what the last prompt's system part left out

    # -- chat formatting --------------------------------------------------------------------

    def _make_formatter(self) -> Any:
        # the model's chat template, or Kindred's plain one for models without (chat/template.py)
        from kindred.core.engine.template import make_formatter

        return make_formatter(self.llm._model, self.llm.metadata)

    def tokenize_chat(self, messages: Sequence[Message]) -> list[int]:
        """The prompt tokens for `messages`, ending with the assistant's turn opened."""
        result = self._formatter(messages=list(messages))
        return list(self.llm.tokenize(result.prompt.encode("utf-8"),
                                      add_bos=not result.added_special, special=True))

    def fit_messages(self, messages: Sequence[Message], room: int
                     ) -> tuple[list[Message], list[int], int]:
        """The messages that fit with `room` tokens left free: the system prompt, then the turns
        from a stable cut point on (see `window`), so the prompt's start, and llama.cpp's cache
        of it, stays the same from turn to turn. Returns the kept messages, their tokens and
        how many turns were left out.
        """
        kept = list(messages)
        system = [m for m in kept[:1] if m["role"] == "system"]
        turns = kept[len(system):]
        budget = self.n_ctx - room
        self.system_note = None
        if system:  # a persona or preferences too long for the context (see system_budget)
            fitted = fit_system_message(system[0]["content"], system_limit(budget),
                                        self._system_tokens)
            system = [{"role": "system", "content": fitted.text}] if fitted.text else []
            self.system_note = fitted.note
        fixed = len(self.tokenize_chat(system)) if system else 0
        overhead = self._message_overhead()
        costs = [len(self.llm.tokenize(m["content"].encode("utf-8"), add_bos=False,
                                       special=False)) + overhead for m in turns]
        dropped = stable_cut(costs, [m["role"] for m in turns], fixed, budget)
        while True:  # the costs are upper bounds; this only guards against a template's quirks
            tokens = self.tokenize_chat(system + turns[dropped:])
            if len(tokens) <= budget or dropped >= len(turns) - 1:
                break
            dropped += 1
        turns = turns[dropped:]
        if len(tokens) > budget and turns:
            # One message alone is too long: keep its end, which is what is being asked.
            last = dict(turns[-1])
            body = self.llm.tokenize(last["content"].encode("utf-8"), add_bos=False)
            overflow = len(tokens) - budget
            last["content"] = self.llm.detokenize(body[overflow:]).decode("utf-8", "ignore")
            turns = [last]
            tokens = self.tokenize_chat(system + turns)
        return system + turns, tokens, dropped

    def _system_tokens(self, text: str) -> int:
        return len(self.tokenize_chat([{"role": "system", "content": text}]))

    def _message_overhead(self) -> int:
        """Tokens a message costs beyond its text (role markers, BOS, the answer's opening),
        measured once on this model's template: an upper bound per message."""
        if self._overhead is None:
            probe = "x"
            with_template = len(self.tokenize_chat([{"role": "user", "content": probe}]))
            self._overhead = with_template - len(self.llm.tokenize(probe.encode(),
                                                                   add_bos=False)) + 1
        return int(self._overhead)

    def room_for(self, sampling: Sampling) -> int:
        """Tokens kept free for the answer."""
        return int(min(sampling.max_tokens, max(16, self.n_ctx // 4)))

    def left_out(self, messages: Sequence[Message], sampling: Sampling | None = None
                 ) -> int:
        """How many of the turns (after the system prompt) the next answer would not see."""
        dropped: int = self.fit_messages(messages, self.room_for(sampling or Sampling()))[2]
        return dropped

    # -- generation -------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the answer being generated (safe from any thread)."""
        self._cancel.set()

    def chat(self, messages: Sequence[Message], sampling: Sampling | None = None
             ) -> Generation:
        sampling = sampling or Sampling()
        _, tokens, dropped = self.fit_messages(messages, self.room_for(sampling))
        stats = GenerationStats(adapters=[(a.key, a.scale) for a in self._active],
                                tokens_in=len(tokens), dropped_messages=dropped,
                                system_note=self.system_note)
        max_new = min(sampling.max_tokens, self.n_ctx - len(tokens))
        self._cancel.clear()
        return Generation(self._stream(tokens, sampling, max_new, stats), stats)

    def continue_chat(self, messages: Sequence[Message], written: str, sampling: Sampling,
                      written_tokens: int) -> Generation:
        """Go on with an answer paused after `written` (its `written_tokens` counted against
        `sampling.max_tokens`): the same prompt with the text so far, the same sampling and the
        chat's foreground hold. The local API pauses its answers for the window's chat."""
        _, tokens, _ = self.fit_messages(messages, self.room_for(sampling))
        tokens += list(self.llm.tokenize(written.encode("utf-8"), add_bos=False, special=False))
        left = max(1, min(sampling.max_tokens - written_tokens, self.n_ctx - len(tokens)))
        stats = GenerationStats(adapters=[(a.key, a.scale) for a in self._active],
                                tokens_in=len(tokens))
        self._cancel.clear()
        return Generation(self._stream(tokens, sampling, left, stats), stats)

    def _stream(self, tokens: list[int], sampling: Sampling, max_new: int,
                stats: GenerationStats) -> Iterator[str]:
        # batched work on other threads holds off until the answer is written (`foreground`)
        with foreground.answering():
            yield from self._answer(tokens, sampling, max_new, stats)

    def _answer(self, tokens: list[int], sampling: Sampling, max_new: int,
                stats: GenerationStats) -> Iterator[str]:
        import llama_cpp

        vocab = self.llm._model.vocab
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        start = time.perf_counter()
        first: float | None = None
        stats.finish_reason = "length"
        self._shift_cache(tokens)
        reused = common_prefix(self.llm._input_ids.tolist(), tokens)
        stats.tokens_evaluated = len(tokens) - (reused - 1 if reused == len(tokens) else reused)
        generator = self.llm.generate(
            tokens, top_k=sampling.top_k, top_p=sampling.top_p, min_p=0.0,
            temp=sampling.temperature, repeat_penalty=sampling.repeat_penalty,
        )
        try:
            for token in generator:
                foreground.touch()
                if first is None:
                    first = time.perf_counter()
                    stats.ttft_s = first - start
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    stats.finish_reason = "stop"
                    break
                stats.tokens_out += 1
                piece = decoder.decode(self.llm.detokenize([token]))
                if piece:
                    yield piece
                if self._cancel.is_set():
                    stats.finish_reason = "cancelled"
                    break
                if stats.tokens_out >= max_new:
                    break
        finally:
            generator.close()
            tail = decoder.decode(b"", final=True)
            if first is not None and stats.tokens_out > 1:
                stats.tok_s = (stats.tokens_out - 1) / max(time.perf_counter() - first, 1e-9)
        if tail:
            yield tail

    def _shift_cache(self, tokens: list[int]) -> None:
        """When the window's cut moved, drop the left-out turns from llama.cpp's cache and shift
        the kept ones into place (llama.cpp's context shift), so they are not evaluated again."""
        import llama_cpp

        llm = self.llm
        plan = shift_plan(llm._input_ids.tolist(), tokens)
        memory = llm._ctx.memory
        if plan is None or memory is None or not llama_cpp.llama_memory_can_shift(memory):
            return
        start, gap = plan
        n = llm.n_tokens
        if not llm._ctx.kv_cache_seq_rm(0, start, start + gap):
            return
        llm._ctx.kv_cache_seq_shift(0, start + gap, n, -gap)
        llm.input_ids[start:n - gap] = llm.input_ids[start + gap:n].copy()
        llm.n_tokens = n - gap

    def next_token_logits(self, text: str) -> np.ndarray:
        """Logits for the token after `text` under the current adapters (for tests and insight)."""
        import llama_cpp

        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        self.llm.reset()
        self.llm.eval(ids)
        ptr = llama_cpp.llama_get_logits_ith(self.llm._ctx.ctx, -1)
        n_vocab = self.llm.n_vocab()
        return np.ctypeslib.as_array(ptr, shape=(n_vocab,)).copy()

    def sequence_logits(self, tokens: Sequence[int]) -> np.ndarray:
        """Logits at every position of `tokens` (row i predicts token i+1), under the current
        adapters. Used to score answers (fit, promoted tokens) without torch."""
        import llama_cpp
        from llama_cpp._internals import LlamaBatch

        ids = list(tokens)[: self.n_ctx]
        n_vocab = self.llm.n_vocab()
        out = np.empty((len(ids), n_vocab), dtype=np.float32)
        self.llm._ctx.kv_cache_clear()
        self.llm.reset()
        step = self.llm.n_batch
        batch = LlamaBatch(n_tokens=step, embd=0, n_seq_max=1)
        try:
            for start in range(0, len(ids), step):
                chunk = ids[start:start + step]
                batch.set_batch(chunk, n_past=start, logits_all=True)
                with foreground.computing():
                    self.llm._ctx.decode(batch)
                ptr = llama_cpp.llama_get_logits(self.llm._ctx.ctx)
                out[start:start + len(chunk)] = np.ctypeslib.as_array(
                    ptr, shape=(len(chunk), n_vocab))
        finally:
            batch.close()
            self.llm._ctx.kv_cache_clear()
            self.llm.reset()
        return out

    # -- adapters ---------------------------------------------------------------------------

    @property
    def base_info(self) -> GGUFInfo:
        if self._base_info is None:
            self._base_info = read_gguf(self.model_path)
        return self._base_info

    @property
    def adapters(self) -> list[AdapterRef]:
        return list(self._active)

    def check_adapter(self, path: str | Path) -> GGUFInfo:
        """Refuse, with a clear message, an adapter that does not fit this base."""
        info = read_gguf(path)
        check_adapter_fits(info, self.base_info)
        return info

    def _load_adapter(self, path: Path) -> Any:
        import llama_cpp

        handle = self._loaded.get(path)
        if handle is None:
            self.check_adapter(path)
            handle = llama_cpp.llama_adapter_lora_init(self.llm._model.model,
                                                       str(path).encode("utf-8"))
            if not handle:
                raise AdapterMismatchError(f"llama.cpp could not load the adapter {path.name}.")
            self._loaded[path] = handle
        return handle

    def set_adapters(self, refs: Sequence[AdapterRef]) -> None:
        """Make `refs` (adapters with scales) the active set; an empty list means the bare base.

        All adapters are loaded and checked before anything changes, so a bad one leaves the
        current set in place.
        """
        import llama_cpp

        refs = [AdapterRef(r.key, Path(r.path).resolve(), float(r.scale)) for r in refs]
        handles = [self._load_adapter(r.path) for r in refs]
        ctx = self.llm._ctx.ctx
        # llama.cpp skips the update when the adapter list is unchanged even if scales differ,
        # so clear first: a scale-only change then always applies.
        llama_cpp.llama_set_adapters_lora(ctx, None, 0, None)
        if refs:
            array = (llama_cpp.llama_adapter_lora_p_ctypes * len(refs))(*handles)
            scales = (ctypes.c_float * len(refs))(*[r.scale for r in refs])
            if llama_cpp.llama_set_adapters_lora(ctx, array, len(refs), scales) != 0:
                self._active = []
                raise KindredError("llama.cpp refused the adapter set; the bare base is active.")
        self._active = refs
        self.llm._ctx.kv_cache_clear()
        self.llm.reset()

    def close(self) -> None:
        import llama_cpp

        llama_cpp.llama_set_adapters_lora(self.llm._ctx.ctx, None, 0, None)
        for handle in self._loaded.values():
            llama_cpp.llama_adapter_lora_free(handle)
        self._loaded.clear()
        self.llm.close()

