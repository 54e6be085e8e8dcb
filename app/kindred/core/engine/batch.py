"""Greedy answers and answer scores for many prompts at once: several sequences share each
llama.cpp decode.

On a CPU a small model decodes one sequence at a time far below what the cores can do (each
token is a matrix-vector product); decoding many sequences together turns those into
matrix-matrix products, so the measurement passes (quality cards, replayed base answers,
insight) cost a fraction of asking one prompt after another. Answers are what `Engine.chat`
gives with temperature 0 (argmax after llama.cpp's repeat penalty over the last 64 tokens), on a
second context of the engine's own model with the engine's current adapters.

Work is a list of `Job`s (answer a prompt, or score a given sequence) run by `run`:
- continuous batching: each of the `n_seq` slots takes the next job as soon as its job ends, so
  no decode runs with slots idle while a wave's longest answer finishes; scoring jobs ride
  along with the decodes of the answers being generated (`SPREAD`);
- the start every job shares (system prompt, opening of the user's turn) is evaluated once per
  context, kept in a sequence of its own and copied into each slot (a unified cache stores the
  cells once), across runs;
- a job can be given a draft (another model's answer to the same prompt): it is fed whole,
  scored, and kept while the greedy choice agrees with it, so the answer is generated only
  from where it departs (speculative decoding with the comparison's answer as the draft);
- `hold`: an answered job's cache stays in its slot, and a later job that continues the same
  tokens (e.g. scoring another answer to that prompt) starts from it instead of the prompt.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from kindred.core.basics.errors import KindredError
from kindred.core.engine import foreground
from kindred.core.engine.llama import Engine, Message
from kindred.core.engine.window import common_prefix

PENALTY_LAST_N = 64
"""llama.cpp's default window for the repeat penalty: over the tokens generated so far (the
sampler only sees what it sampled, never the prompt)."""
N_BATCH = 512
SPREAD = 48
"""While answers are being generated (one token per sequence per decode), at most this many
other tokens (prompts, drafts, sequences to score) join each decode, so scoring rides along with
the generation's small decodes instead of holding them up. Measured on the insight benchmark
(2 busy cores, 3 runs each): 16.7 s with 48, 16.7 s with none until the answers are done, 18.1 s
with all at once (which also changed the batch shapes enough to lengthen answers): a tie, kept
because it bounds each decode's size."""


@dataclass
class Job:
    """One sequence to run. `limit` > 0: answer greedily after `tokens[:prompt]` (the tokens
    after it are a draft); `start`: the tokens from there on are scored (their log-probabilities
    returned in `scores`); `prior`: log-probabilities of the first scored tokens known already
    (not computed again when a held slot holds what comes before them)."""

    index: int
    tokens: list[int]
    prompt: int
    limit: int = 0
    start: int = -1
    prior: list[float] = field(default_factory=list)
    hold: bool = False
    min_out: int = 0
    """No end of turn before this many answer tokens (the next likeliest token instead)."""
    # results
    out: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    # state
    slot: int = -1
    fed: int = 0
    accepting: bool = True
    finished: bool = False
    cut: int = -1
    history: list[int] = field(default_factory=list)

    @staticmethod
    def answer(index: int, prompt: list[int], limit: int, draft: Sequence[int] = (),
               hold: bool = False) -> Job:
        """Answer `prompt` (greedy, at most `limit` tokens); `draft`: a guess of the answer,
        also scored."""
        return Job(index, [*prompt, *draft[:limit]], len(prompt), max(limit, 1),
                   len(prompt) if draft else -1, hold=hold)

    @staticmethod
    def score(index: int, tokens: list[int], start: int, prior: Sequence[float] = ()) -> Job:
        return Job(index, list(tokens), len(tokens), 0, max(start, 1), list(prior))

    @property
    def first_row(self) -> int:
        """The first position whose logits this job needs."""
        rows = []
        if self.limit:
            rows.append(self.prompt - 1)
        if self.start >= 0:
            rows.append(self.start + len(self.prior) - 1)
        return min(rows) if rows else len(self.tokens) - 1


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
    """A second llama.cpp context on the engine's model, for `n_seq` parallel sequences (plus
    one that holds the shared start)."""

    decoded = 0
    """Tokens decoded by every generator of this process (what the benchmarks count)."""

    def __init__(self, engine: Engine, *, n_seq: int = 8, n_ctx_seq: int = 1024,
                 n_ctx: int | None = None) -> None:
        import llama_cpp

        self.engine = engine
        self.n_seq = n_seq
        self.n_ctx_seq = n_ctx_seq
        self.n_ctx = n_ctx or n_seq * n_ctx_seq
        self.prefix_seq = n_seq
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx
        params.n_batch = params.n_ubatch = N_BATCH
        params.n_seq_max = n_seq + 1
        params.kv_unified = True
        threads = engine.llm.n_threads if hasattr(engine.llm, "n_threads") else 2
        params.n_threads = params.n_threads_batch = int(threads)
        # llama.cpp's default flash attention stays on here (the engine's chat context has it
        # off): insight took 15.3 s with it and 19.2 s without; the price is rounding that turns
        # a few near-tied greedy answers into other words (9 of the card's 33 answers word for
        # word as Engine.chat says them with it, 12 without; the first three words: 27 and 29)
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=False):  # llama.cpp's notes (Gemma's SWA cache)
            self.ctx = llama_cpp.llama_init_from_model(engine.llm._model.model, params)
        if not self.ctx:
            raise KindredError("llama.cpp could not make a context for batched answers.")
        self.n_vocab = engine.llm.n_vocab()
        self.batch = llama_cpp.llama_batch_init(N_BATCH, 0, n_seq + 1)
        self._kept: list[int] = []
        """The tokens the prefix sequence holds from position 0."""
        self._held: dict[int, list[int]] = {}
        """Slots whose cache a finished job left (`Job.hold`): the tokens they hold."""
        self.evaluated = 0
        """Tokens decoded so far (for measurements)."""
        self.waited_s = 0.0
        """Seconds spent holding off while the chat wrote an answer (`foreground`)."""
        self.spread = SPREAD
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

    # -- the simple front ------------------------------------------------------------------

    def chat(self, conversations: Sequence[Sequence[Message]], max_tokens: Sequence[int] | int,
             repeat_penalty: float = 1.1) -> Iterator[tuple[int, str]]:
        """(index, answer) for each conversation, as they finish (greedy)."""
        for answer in self.answers(conversations, max_tokens, repeat_penalty):
            yield answer.index, answer.text

    def answers(self, conversations: Sequence[Sequence[Message]],
                max_tokens: Sequence[int] | int, repeat_penalty: float = 1.1, *,
                scored: bool = False, min_tokens: Sequence[int] | None = None
                ) -> Iterator[Answer]:
        """Each conversation's greedy `Answer`, as they finish; `scored`: with its tokens'
        log-probabilities; `min_tokens`: no end of turn before that many tokens."""
        jobs = self.answer_jobs(conversations, max_tokens)
        for job, least in zip(jobs, min_tokens or (), strict=False):
            job.min_out = min(least, job.limit - 1)
        for job in self.run(jobs, repeat_penalty):
            yield self.answer_of(job, scored)

    def answer_jobs(self, conversations: Sequence[Sequence[Message]],
                    max_tokens: Sequence[int] | int,
                    drafts: Sequence[Sequence[int]] | None = None, hold: bool = False
                    ) -> list[Job]:
        limits = ([max_tokens] * len(conversations) if isinstance(max_tokens, int)
                  else list(max_tokens))
        half = self.n_ctx_seq // 2
        return [Job.answer(i, self.engine.tokenize_chat(list(c))[-half:], min(limits[i], half),
                           drafts[i] if drafts else (), hold)
                for i, c in enumerate(conversations)]

    def answer_of(self, job: Job, scored: bool = True) -> Answer:
        return Answer(job.index, self._text(job.out), list(job.out),
                      list(job.logprobs) if scored else [])

    # -- the scheduler ---------------------------------------------------------------------

    def run(self, jobs: Sequence[Job], penalty: float = 1.1) -> Iterator[Job]:
        """Run `jobs`, yielding each as it finishes (answer in `out`/`logprobs`, scores in
        `scores`). Slots are refilled as jobs end; held slots a job continues are reused."""
        import llama_cpp

        memory = llama_cpp.llama_get_memory(self.ctx)
        jobs = [j for j in jobs if j.tokens]
        reuse = self._match_held(jobs)
        for slot in range(self.n_seq):
            if slot not in reuse.values():
                llama_cpp.llama_memory_seq_rm(memory, slot, -1, -1)
                self._held.pop(slot, None)
        fresh = [j for j in jobs if id(j) not in reuse]
        shared = self._share([j.tokens for j in fresh],
                             min(j.first_row for j in fresh)) if fresh else 0
        queue = [j for j in jobs if id(j) in reuse] + fresh
        active: list[Job] = []
        free = [s for s in range(self.n_seq) if s not in self._held]
        while queue or active:
            while queue:
                job = queue[0]
                if id(job) in reuse:
                    job.slot = reuse[id(job)]
                    del self._held[job.slot]
                    job.fed = job.first_row
                    llama_cpp.llama_memory_seq_rm(memory, job.slot, job.fed, -1)
                elif free and self._fits(active, job, shared):
                    job.slot = free.pop(0)
                    job.fed = shared
                    llama_cpp.llama_memory_seq_cp(memory, self.prefix_seq, job.slot, -1, -1)
                else:
                    break
                job.history = []
                job.scores = list(job.prior)
                active.append(queue.pop(0))
            if not active:
                raise KindredError("llama.cpp's context is too small for these answers.")
            self._step(active, penalty)
            for job in [j for j in active if j.fed >= len(j.tokens) and not self._advance(j)]:
                active.remove(job)
                if job.hold:
                    self._held[job.slot] = job.tokens[:job.fed]
                else:
                    llama_cpp.llama_memory_seq_rm(memory, job.slot, -1, -1)
                    free.append(job.slot)
                yield job

    def _match_held(self, jobs: Sequence[Job]) -> dict[int, int]:
        """Jobs that continue what a held slot holds (as far as their first needed row): job id
        -> slot, one job per slot."""
        found: dict[int, int] = {}
        for slot, held in self._held.items():
            for job in jobs:
                if id(job) not in found and common_prefix(held, job.tokens) >= job.first_row > 0:
                    found[id(job)] = slot
                    break
        return found

    def _fits(self, active: list[Job], job: Job, shared: int) -> bool:
        """Whether the cache has room for `job` beside the active and held ones."""
        def need(j: Job) -> int:
            return len(j.tokens) + j.limit - shared

        used = len(self._kept) + sum(map(need, active)) + sum(
            len(t) for t in self._held.values())
        return not active or used + need(job) <= self.n_ctx - 8

    def _advance(self, job: Job) -> bool:
        """After all of `job.tokens` is fed: whether it goes on (generating)."""
        import llama_cpp

        if job.finished or not job.limit:
            return False
        if job.cut >= 0:  # the draft was left at `cut`: drop the rest from the cache
            llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(self.ctx), job.slot,
                                          job.cut, -1)
            job.tokens = job.tokens[:job.cut] + job.out[job.cut - job.prompt:]
            job.fed, job.cut, job.accepting = job.cut, -1, True
        job.start, job.prior = -1, []  # the draft is scored; from here on, generating
        return True

    def _step(self, active: list[Job], penalty: float) -> None:
        """One decode: every active job's next tokens (generating jobs one each, first), up to
        the batch size; then what each job's rows tell."""
        import llama_cpp

        entries: list[tuple[Job, int, bool]] = []
        generating = sum(len(j.tokens) - j.fed == 1 and j.limit > 0 for j in active)
        budget = min(N_BATCH, generating + self.spread) if generating else N_BATCH
        for job in sorted(active, key=lambda j: (not j.limit, len(j.tokens) - j.fed)):
            room = budget - len(entries)
            if room <= 0:
                break
            end = min(len(job.tokens), job.fed + room)
            first = job.first_row
            entries += [(job, pos, pos >= first) for pos in range(job.fed, end)]
        self._fill([(j.slot, j.tokens[pos], pos) for j, pos, _ in entries],
                   [want for *_, want in entries])
        self._decode()
        for job, pos, _ in entries:
            job.fed = max(job.fed, pos + 1)
        rows = [(job, pos) for job, pos, want in entries if want]
        if not rows:
            return
        vocab = self.engine.llm._model.vocab
        ptr = llama_cpp.llama_get_logits(self.ctx)
        # llama.cpp's own output buffer, overwritten by the next decode: worked in place
        logits = np.ctypeslib.as_array(ptr, shape=(len(rows), self.n_vocab))
        targets = [job.tokens[pos + 1] if pos + 1 < len(job.tokens) and job.start >= 0
                   and pos + 1 >= job.start + len(job.prior) else -1 for job, pos in rows]
        picks = [-1] * len(rows)
        for r, (job, pos) in enumerate(rows):  # in order: each pick sees the ones before
            if not (job.limit and job.accepting and pos >= job.prompt - 1):
                continue
            token = self._pick(logits[r], job.history, penalty)
            if len(job.out) < job.min_out and llama_cpp.llama_vocab_is_eog(vocab, token):
                token = self._pick_beyond_end(logits[r], job.history, penalty, vocab)
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                job.accepting, job.finished = False, True
                continue
            picks[r] = token
            job.out.append(token)
            job.history = [*job.history, token][-PENALTY_LAST_N:]
            if len(job.out) >= job.limit:
                job.accepting, job.finished = False, True
            elif pos + 1 == len(job.tokens):
                job.tokens.append(token)  # generating: fed next
            elif job.tokens[pos + 1] != token:
                job.accepting, job.cut = False, pos + 1  # leaves the draft here
        index = np.arange(len(rows))
        values = logits[index, np.maximum(np.asarray(targets), 0)]
        picked = logits[index, np.maximum(np.asarray(picks), 0)]
        lse = log_sum_exp(logits)
        for r, (job, _) in enumerate(rows):
            if targets[r] >= 0:
                job.scores.append(float(values[r] - lse[r]))
            if picks[r] >= 0:
                job.logprobs.append(float(picked[r] - lse[r]))

    def _share(self, sequences: Sequence[Sequence[int]], limit: int) -> int:
        """Have the prefix sequence hold the start all `sequences` have in common (at most
        `limit` tokens): what it holds of it already is kept, the rest evaluated once. Returns
        its length."""
        import llama_cpp

        shared = max(limit, 0)
        for tokens in sequences[1:]:
            shared = min(shared, common_prefix(sequences[0], tokens))
        prefix = list(sequences[0][:shared]) if sequences else []
        memory = llama_cpp.llama_get_memory(self.ctx)
        keep = common_prefix(self._kept, prefix)
        llama_cpp.llama_memory_seq_rm(memory, self.prefix_seq, keep, -1)
        self._kept = list(prefix[:keep])
        for begin in range(keep, len(prefix), N_BATCH):
            chunk = range(begin, min(begin + N_BATCH, len(prefix)))
            self._fill([(self.prefix_seq, prefix[pos], pos) for pos in chunk],
                       [False] * len(chunk))
            self._decode()
        self._kept = list(prefix)
        return len(prefix)

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

        self.waited_s += foreground.wait_turn()  # an answer being written in the chat first
        self.evaluated += int(self.batch.n_tokens)
        BatchGenerator.decoded += int(self.batch.n_tokens)
        with foreground.computing():
            code = llama_cpp.llama_decode(self.ctx, self.batch)
        if code != 0:
            raise KindredError("llama.cpp could not decode the batched answers (context full).")

    @staticmethod
    def penalized(logits: np.ndarray, history: Sequence[int], penalty: float) -> np.ndarray:
        """`logits` after llama.cpp's repeat penalty over the tokens in `history` (a copy;
        `logits` itself when no penalty applies)."""
        if penalty == 1.0 or not history:
            return logits
        seen = np.unique(np.asarray(history, dtype=np.int64))
        row = logits.copy()
        values = row[seen]
        row[seen] = np.where(values > 0, values / penalty, values * penalty)
        return row

    @staticmethod
    def _pick(logits: np.ndarray, history: list[int], penalty: float) -> int:
        """argmax after the repeat penalty over `history` (`logits` left as they are)."""
        return int(np.argmax(BatchGenerator.penalized(logits, history, penalty)))

    @staticmethod
    def _pick_beyond_end(logits: np.ndarray, history: list[int], penalty: float,
                         vocab: object) -> int:
        """The likeliest token that does not end the turn (after the repeat penalty)."""
        import llama_cpp

        row = BatchGenerator.penalized(logits, history, penalty).copy()
        for _ in range(8):  # a model has a handful of end-of-generation tokens
            token = int(np.argmax(row))
            if not llama_cpp.llama_vocab_is_eog(vocab, token):
                return token
            row[token] = -np.inf
        return token

    def _text(self, tokens: list[int]) -> str:
        return str(self.engine.llm.detokenize(tokens).decode("utf-8", "replace")).strip()


def log_sum_exp(logits: np.ndarray) -> np.ndarray:
    """log Σ exp(row) for each row of `logits`. Works in `logits` (overwritten: no copy of a
    rows x 49,152 matrix)."""
    top = logits.max(axis=1)
    np.subtract(logits, top[:, None], out=logits)
    np.exp(logits, out=logits)
    return np.asarray(top + np.log(logits.sum(axis=1)))


def greedy_answers(engine: Engine, conversations: Sequence[Sequence[Message]],
                   max_tokens: Sequence[int] | int, *, n_seq: int = 8) -> list[str]:
    """Every conversation's greedy answer, in order."""
    answers = [""] * len(conversations)
    with BatchGenerator(engine, n_seq=n_seq) as generator:
        for index, text in generator.chat(conversations, max_tokens):
            answers[index] = text
    return answers
