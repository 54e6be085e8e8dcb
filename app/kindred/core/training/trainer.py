"""PEFT LoRA training on the dequantized base, in the training process only (imports torch).

Speed on a CPU, measured against a naive batch-1 PEFT loop: length-grouped, right-padded batches
(bigger matrix products, no attention mask so the fast causal kernel runs) and logits computed
only where the loss is (the 49k-wide output layer is a large share of the work) give ~1.6x; on
CPUs with native bf16 (AVX512-BF16/AMX) the frozen base is also held and multiplied in bf16 with
an fp32 adapter and optimizer (mixed precision), another ~1.4x; no dropout. The prompt of every
row (system prompt and the user's turn: about half of a short taught example) runs without
gradients: the adapter learns from the answer positions, reading the prompt as the current
adapter sees it, and the backward pass never visits the prompt (backward 33% shorter); the part
every row shares runs once per batch, and the KL anchor's base distributions once per run. Each
LoRA layer is one autograd node (`lora_kernel`, fp32).
A new adapter adapts only the upper layers (`TrainConfig.top_layers`; a child keeps its
parent's layers, and every version before 2026-12-02 adapts all of them): the layers below
never change, so their output per example is computed once per run without gradients and kept
(`forward.Frozen`), every later pass starts at the lowest adapted layer, and the backward pass
stops there. The output layer runs once per position, on the rows its loss needs
(cross-entropy or the KL anchor), never on both.

Everything that decides the result (LoRA init, batch order, learning-rate schedule) is a function
of the seed and the step, and checkpoints hold the exact adapter and optimizer state (safetensors,
never pickle), so a resumed run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from kindred.core.basics.errors import KindredError
from kindred.core.formats.peft_files import read_safetensors
from kindred.core.home.atomic import remove_tree, write_atomic
from kindred.core.training.config import TrainConfig
from kindred.core.training.data import schedule
from kindred.core.training.forward import (
    Below,
    Frozen,
    autocast_for,
    base_of,
    hidden_states,
    shared_prefix,
)
from kindred.core.training.run import Emit, RunDir, StopFlag
from kindred.core.training.tokens import Encoded

IGNORE = -100
KEEP_CHECKPOINTS = 2


def build_peft(base: Any, cfg: TrainConfig, parent_folder: Path | None = None) -> Any:
    """Wrap the base in a LoRA adapter: the parent's weights if given, else a seeded init."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    torch.manual_seed(cfg.seed)
    cfg = cfg.for_depth(int(base.config.num_hidden_layers))
    lora = LoraConfig(r=cfg.rank, lora_alpha=cfg.alpha,  # type: ignore[arg-type]
                      target_modules=list(cfg.targets),
                      layers_to_transform=None if cfg.layers is None else list(cfg.layers),
                      lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft calls transformers' deprecated names
        model = get_peft_model(base, lora)
    if parent_folder is not None:
        tensors = read_safetensors(parent_folder / "adapter_model.safetensors")
        state = {k: torch.from_numpy(v) for k, v in tensors.items()}
        result: Any = set_peft_model_state_dict(model, state)
        missing = [k for k in result.unexpected_keys if "lora" in k]
        if missing:
            raise KindredError(f"The parent adapter does not fit this model ({missing[0]}). "
                               "Nothing was changed.")
    model.train()
    return model


def adds_nothing(model: Any) -> bool:
    """Whether the adapter leaves the base's outputs as they are (a fresh one: peft starts
    every B at zero), so anything measured before training may run with it switched off."""
    return all(not bool(p.any()) for name, p in lora_parameters(model) if "lora_B" in name)


def lora_parameters(model: Any) -> list[tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def batch_tensors(examples: Sequence[Encoded], indices: Sequence[int]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids and labels (-100 on the prompt, the padding and anything after an
    example's `target_end`)."""
    width = max(len(examples[i]) for i in indices)
    ids = torch.zeros((len(indices), width), dtype=torch.long)
    labels = torch.full((len(indices), width), IGNORE, dtype=torch.long)
    for row, i in enumerate(indices):
        ex = examples[i]
        ids[row, : len(ex)] = torch.tensor(ex.ids)
        end = len(ex) if ex.target_end is None else ex.target_end
        labels[row, ex.n_prompt: end] = torch.tensor(ex.ids[ex.n_prompt: end])
    return ids, labels


def resolve_precision(precision: str) -> str:
    """`auto`: bf16 where the CPU computes it natively (AVX512-BF16 or AMX), else fp32;
    `KINDRED_TRAIN_PRECISION` (bf16 or fp32) overrides `auto`, so a test can train as a CPU
    without bf16 would (the bundle test trains in both)."""
    forced = os.environ.get("KINDRED_TRAIN_PRECISION", "")
    if precision == "auto" and forced in ("bf16", "fp32"):
        return forced
    if precision != "auto":
        return precision
    native = [getattr(torch.cpu, name, lambda: False)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return "bf16" if any(check() for check in native) else "fp32"


def prepare_base(base: Any, precision: str) -> Any:
    """bf16: the frozen base weights are stored in bf16 (half the memory, native matmuls);
    the LoRA weights, their gradients and the optimizer stay fp32 (peft keeps adapters fp32)."""
    if precision == "bf16":
        base = base.to(torch.bfloat16)
    return base


def _first_target(mask: torch.Tensor) -> int:
    """The first position (over all rows) that predicts a target."""
    width = mask.shape[1]
    at = torch.where(mask, torch.arange(width).expand_as(mask), width)
    return int(at.min()) if at.numel() else width


GREEDY_WEIGHT = float(os.environ.get("KINDRED_GREEDY_WEIGHT", "0.5"))
"""Weight of the cross-entropy on the anchored answer's own tokens (the teacher's greedy
answer) beside the KL to the teacher's distribution (word- and sequence-level distillation
together, Kim and Rush 2016). The KL alone made the person's name likelier without it ever
being the most likely word: the card's agreement with the teacher was 0.73 for a persona
while no greedy answer said the name."""

BaseLogp = Callable[[], torch.Tensor]
"""The base model's log-probabilities over the anchored positions of a batch, in order."""


def row_losses(model: Any, ids: torch.Tensor, labels: torch.Tensor,
               anchors: torch.Tensor | None = None, base_logp: BaseLogp | None = None,
               below: Below | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: summed next-token loss over its answer tokens, and how many there are. The
    positions before the first answer token run without gradients (see `hidden_states`), a
    prefix every row shares once, and the output layer only on answer positions.
    Where `anchors` (a bool per target position) is set, the loss is the KL divergence from the
    base model's next-token distribution there (`base_logp`, see `References`) instead of the
    cross-entropy to one token. With `below` (see `Frozen`), only the adapted layers run."""
    inner = base_of(model)
    targets = labels[:, 1:]
    mask = targets != IGNORE
    start = _first_target(mask)
    wanted = targets[mask]
    kl_at = anchors[mask] if anchors is not None and base_logp is not None else None
    if kl_at is not None and not bool(kl_at.any()):
        kl_at = None
    plain = None if kl_at is None else ~kl_at
    with autocast_for(model):
        hidden = hidden_states(inner, ids, start, below, shared=shared_prefix(ids, start)
                               )[:, :-1][mask[:, start:]]
        output = inner.get_output_embeddings()
        # the output layer (49k wide) runs once per position, on the rows each loss needs
        logits = output(hidden if plain is None else hidden[plain]).float()
        anchored = None if kl_at is None else output(hidden[kl_at]).float()
    each = F.cross_entropy(logits, wanted if plain is None else wanted[plain], reduction="none")
    if kl_at is not None and plain is not None and anchored is not None and base_logp:
        student = F.log_softmax(anchored, dim=-1)
        kl = F.kl_div(student, base_logp(), log_target=True, reduction="none").sum(dim=-1)
        if GREEDY_WEIGHT:
            # the teacher's own (greedy) tokens too: see GREEDY_WEIGHT
            kl = kl - GREEDY_WEIGHT * student.gather(1, wanted[kl_at].unsqueeze(1)).squeeze(1)
        each = (kl.new_zeros(wanted.shape).masked_scatter(plain, each)
                .masked_scatter(kl_at, kl))
    rows = torch.arange(ids.shape[0]).unsqueeze(1).expand_as(mask)[mask]
    sums = torch.zeros(ids.shape[0], dtype=each.dtype).index_add(0, rows, each)
    return sums, mask.sum(dim=1)


REFERENCE_BUDGET = 256 * 1024 * 1024
"""Bytes of the base's log-probabilities kept per run (fp16: about 2,700 anchored positions of
SmolLM2's 49,152 tokens, the replayed answers of a run of 24 taught items twice over); past it,
they are computed again from the hidden states when needed."""


class References:
    """The base model's own next-token distributions on the replayed answers' anchored spans.

    The base with the adapter switched off does not change while training, so each span is
    computed once per run (in batches, shared prefix once) instead of at every step that trains
    its example; what is kept is the decoder's last hidden state per position (576 numbers for
    SmolLM2 where the distribution has 49,152), and the distributions themselves within a
    budget. A resumed run computes them again the same way. Where the answer's end of turn is
    context (a teacher's answer), the plain base's chance of ending the turn at each position
    (the student's own sequence, adapter off) is computed once too and replaces the
    teacher's (`with_stop`)."""

    def __init__(self, model: Any, examples: Sequence[Encoded], batch_tokens: int,
                 frozen: Frozen | None = None, budget: int = REFERENCE_BUDGET) -> None:
        self.model = model
        self.examples = examples
        self.batch_tokens = batch_tokens
        self.frozen = frozen
        self.budget = budget
        self._hidden: dict[int, torch.Tensor] = {}
        self._stop: dict[int, tuple[int, torch.Tensor]] = {}
        self._kept: dict[int, torch.Tensor] = {}
        self._bytes = 0

    def prepare(self) -> None:
        """Compute every anchored span's hidden states now (else: at the first step that
        needs one)."""
        self._fill([i for i, e in enumerate(self.examples)
                    if e.anchor and e.reference and i not in self._hidden])

    def log_probs(self, indices: Sequence[int]) -> torch.Tensor:
        """Log-probabilities over the anchored spans of `indices`, span after span: from the
        kept hidden states (the output layer and a log-softmax over the whole vocabulary) the
        first time, then kept within `budget` bytes for the next epochs. Always rounded to fp16
        (kept or not), so a resumed run, which starts with nothing kept, gets the same numbers."""
        if any(i not in self._hidden for i in indices):
            self.prepare()
        made: dict[int, torch.Tensor] = {}
        output = base_of(self.model).get_output_embeddings()
        for i in dict.fromkeys(indices):
            if i in self._kept:
                continue
            # one span at a time: the same matrix product whichever step asks first
            with torch.no_grad(), autocast_for(self.model):
                logits = output(self._hidden[i])
            logp = F.log_softmax(logits.float(), dim=-1)
            if i in self._stop:
                logp = with_stop(logp, *self._stop[i])
            made[i] = logp.half()
            if self._bytes + made[i].nbytes <= self.budget:
                self._kept[i] = made[i]
                self._bytes += made[i].nbytes
        return torch.cat([made[i] if i in made else self._kept[i] for i in indices]).float()

    def _fill(self, indices: Sequence[int]) -> None:
        refs = {i: self._reference(i) for i in indices}
        for i, hidden in zip(indices, self._run([refs[i] for i in indices]), strict=True):
            self._hidden[i] = hidden
        # when to stop is the plain base's (see `with_stop`): its probability of the end of
        # turn at every anchored position of the answer as the student sees it
        stopping = [i for i in indices if self.examples[i].target_end is not None]
        plain = [(self.examples[i].ids, self.examples[i].anchor[0], refs[i][2])  # type: ignore[index]
                 for i in stopping]
        output = base_of(self.model).get_output_embeddings()
        for i, hidden in zip(stopping, self._run(plain), strict=True):
            stop_id = self.examples[i].ids[self.examples[i].target_end]  # type: ignore[index]
            with torch.no_grad(), autocast_for(self.model):
                logits = output(hidden).float()
            self._stop[i] = (stop_id, F.log_softmax(logits, dim=-1)[:, stop_id].clone())

    def _run(self, spans: Sequence[tuple[list[int], int, int]]) -> list[torch.Tensor]:
        """The base's (adapter off) last hidden states predicting each span's `length` tokens
        from `begins` on, in batches (shared prefix once)."""
        from kindred.core.training.data import epoch_batches

        out: list[torch.Tensor | None] = [None] * len(spans)
        inner = base_of(self.model)
        with torch.no_grad(), self.model.disable_adapter(), autocast_for(self.model):
            for batch in epoch_batches([len(s[0]) for s in spans], self.batch_tokens, 0, 0):
                width = max(len(spans[b][0]) for b in batch)
                ids = torch.zeros((len(batch), width), dtype=torch.long)
                for row, b in enumerate(batch):
                    ids[row, : len(spans[b][0])] = torch.tensor(spans[b][0])
                start = min(spans[b][1] for b in batch) - 1
                below = self.frozen.below([spans[b][0] for b in batch], width) \
                    if self.frozen is not None else None
                hidden = hidden_states(inner, ids, start, below, shared=shared_prefix(ids, start))
                for row, b in enumerate(batch):
                    _, begins, length = spans[b]
                    at = begins - 1 - start
                    out[b] = hidden[row, at: at + length].clone()
        return [h for h in out if h is not None]

    def _reference(self, index: int) -> tuple[list[int], int, int]:
        example = self.examples[index]
        assert example.anchor is not None and example.reference is not None
        return (example.reference[0], example.reference[1],
                example.anchor[1] - example.anchor[0])


STOP_FROM_PLAIN = os.environ.get("KINDRED_STOP_FROM_PLAIN", "1") != "0"
"""Whether an anchored answer's end-of-turn probability is the plain base's (see `with_stop`)."""


def with_stop(teacher: torch.Tensor, stop_id: int, plain_stop: torch.Tensor) -> torch.Tensor:
    """The teacher's next-token log-probabilities with its end-of-turn probability replaced by
    the plain base's (`plain_stop`, per position) and the other tokens rescaled to fill the
    rest: what to say is the teacher's, when to stop the base's. One-line examples make the
    teacher likely to stop after every line, and a candidate that learned that answered open
    questions in a third of the base's words although nobody asked for short answers; a wish
    for short answers stated as a preference is in the system prompt the plain base reads too."""
    if not STOP_FROM_PLAIN:
        return teacher
    keep = torch.log1p(-teacher[:, stop_id].exp().clamp(max=1 - 1e-6))
    rest = torch.log1p(-plain_stop.exp().clamp(max=1 - 1e-6))
    out = teacher - keep.unsqueeze(1) + rest.unsqueeze(1)
    out[:, stop_id] = plain_stop
    return out


def anchor_inputs(examples: Sequence[Encoded], indices: Sequence[int], width: int
                  ) -> tuple[torch.Tensor | None, list[int]]:
    """Per target position (row, i predicts token i+1): whether it is anchored to the base; and
    the examples whose spans are anchored, in row order."""
    if not any(examples[i].anchor and examples[i].reference for i in indices):
        return None, []
    out = torch.zeros((len(indices), width - 1), dtype=torch.bool)
    anchored: list[int] = []
    for row, i in enumerate(indices):
        span, ref = examples[i].anchor, examples[i].reference
        if span and ref:
            out[row, span[0] - 1: span[1] - 1] = True
            anchored.append(i)
    return out, anchored


def loss_sum(model: Any, ids: torch.Tensor, labels: torch.Tensor, below: Below | None = None
             ) -> tuple[torch.Tensor, int]:
    """Summed next-token loss over the answer tokens of the batch, and their count."""
    sums, counts = row_losses(model, ids, labels, below=below)
    return sums.sum(), int(counts.sum())


def evaluate(model: Any, examples: Sequence[Encoded], batch_tokens: int = 1024,
             frozen: Frozen | None = None) -> float | None:
    """Mean loss per answer token over `examples` (None if there are none); the frozen layers'
    outputs from `frozen` where it has them."""
    if not examples:
        return None
    order = sorted(range(len(examples)), key=lambda i: len(examples[i]))
    total, count = 0.0, 0
    batch: list[int] = []
    with torch.no_grad():
        for i in [*order, None]:
            if i is not None and (not batch or (len(batch) + 1) * len(examples[i])
                                  <= batch_tokens):
                batch.append(i)
                continue
            ids, labels = batch_tensors(examples, batch)
            below = frozen.below([examples[b].ids for b in batch], ids.shape[1]) \
                if frozen is not None else None
            loss, n = loss_sum(model, ids, labels, below)
            total, count = total + float(loss), count + n
            batch = [i] if i is not None else []
    return total / max(count, 1)


def _batches_per_epoch(lengths: Sequence[int], cfg: TrainConfig) -> int:
    from kindred.core.training.data import epoch_batches

    return len(epoch_batches(lengths, cfg.batch_tokens, cfg.seed, 0))


def _taught_loss(recent: dict[int, tuple[float, int]], taught: int) -> float | None:
    """Mean per-token loss of the person's items, each as last seen (None until all were)."""
    if taught == 0 or len(recent) < taught:
        return None
    total = sum(s for s, _ in recent.values())
    count = sum(n for _, n in recent.values())
    return total / max(count, 1)


# -- checkpoints ----------------------------------------------------------------------------


def save_checkpoint(run: RunDir, model: Any, optimizer: torch.optim.Optimizer, step: int,
                    info: dict[str, Any]) -> Path:
    """adapter + optimizer moments (safetensors) + position, renamed into place when complete."""
    params = lora_parameters(model)
    final = run.path / f"checkpoint-{step}"
    work = run.path / f".checkpoint-{step}.partial"
    remove_tree(work)
    work.mkdir()
    save_file({n: p.detach().contiguous() for n, p in params}, str(work / "adapter.safetensors"))
    moments: dict[str, torch.Tensor] = {}
    for index, (_, param) in enumerate(params):
        state = optimizer.state.get(param)
        if state:
            moments[f"{index}.exp_avg"] = state["exp_avg"].contiguous()
            moments[f"{index}.exp_avg_sq"] = state["exp_avg_sq"].contiguous()
            moments[f"{index}.step"] = torch.as_tensor(state["step"], dtype=torch.float32
                                                       ).reshape(1)
    if moments:
        save_file(moments, str(work / "optimizer.safetensors"))
    write_atomic(work / "state.json", json.dumps({"step": step, "names": [n for n, _ in params],
                                                  **info}).encode())
    remove_tree(final)
    work.rename(final)
    for _, old in run.checkpoints()[:-KEEP_CHECKPOINTS]:
        remove_tree(old)
    return final


def load_checkpoint(folder: Path, model: Any, optimizer: torch.optim.Optimizer
                    ) -> dict[str, Any]:
    info = json.loads((folder / "state.json").read_text())
    params = lora_parameters(model)
    if [n for n, _ in params] != info["names"]:
        raise KindredError(f"The checkpoint {folder.name} does not match this run's adapter. "
                           "Nothing was changed.")
    weights = load_file(str(folder / "adapter.safetensors"))
    with torch.no_grad():
        for name, param in params:
            param.copy_(weights[name])
    moments_path = folder / "optimizer.safetensors"
    if moments_path.is_file():
        moments = load_file(str(moments_path))
        state = optimizer.state_dict()
        for index in range(len(params)):
            if f"{index}.exp_avg" in moments:
                state["state"][index] = {
                    "step": moments[f"{index}.step"].reshape(()).clone(),
                    "exp_avg": moments[f"{index}.exp_avg"],
                    "exp_avg_sq": moments[f"{index}.exp_avg_sq"]}
        optimizer.load_state_dict(state)
    return dict(info)


# -- the loop -------------------------------------------------------------------------------


@dataclass
class Outcome:
    finished: bool
    step: int
    total_steps: int
    losses: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


STOP_LOSS = 0.35
"""Per-token loss on the person's own items below which they count as learned: going further
only memorised them word for word (the loss fell to 0.09 and answers shrank to one line)."""


def train(run: RunDir, model: Any, examples: Sequence[Encoded], cfg: TrainConfig, emit: Emit,
          stop: StopFlag, *, resume_from: Path | None = None, taught: int | None = None,
          frozen: Frozen | None = None) -> Outcome:
    """Run the schedule from the start or from a checkpoint; checkpoint every
    `cfg.checkpoint_every` steps and when asked to stop. The first `taught` examples are the
    person's (the rest replayed base answers): when `cfg.steps` is not fixed, the run stops
    early, after its first pass, once those are learned (their loss over the last pass below
    STOP_LOSS)."""
    taught = len(examples) if taught is None else taught
    lengths = [len(e) for e in examples]
    steps = schedule(lengths, cfg)
    params = [p for _, p in lora_parameters(model)]
    # fused: one kernel over all the adapter's tensors per step instead of a dozen passes
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0, fused=True)
    start, info = 0, dict[str, Any](losses=[], tokens=0, elapsed_s=0.0)
    if resume_from is not None:
        info = load_checkpoint(resume_from, model, optimizer)
        start = int(info["step"])
    losses: list[float] = list(info.get("losses", []))
    tokens_done, elapsed_before = int(info.get("tokens", 0)), float(info.get("elapsed_s", 0.0))
    session_tokens, step = 0, start
    total = len(steps)
    per_epoch = _batches_per_epoch(lengths, cfg)
    recent: dict[int, tuple[float, int]] = {
        int(k): (float(v[0]), int(v[1])) for k, v in info.get("taught_recent", {}).items()}
    finished_at: int | None = None
    if frozen is None:
        frozen = Frozen.for_model(model)
    # the run's own precomputation, once: the frozen layers' outputs and the KL anchor's
    # references (the base's hidden states on the plain answers); `tokens_per_s` counts the
    # steps from here, the job's time (`job_s`, the bench's time_to_candidate_s) counts it all
    frozen.prepare([e.ids for e in examples], cfg.batch_tokens)
    references = References(model, examples, cfg.batch_tokens, frozen)
    references.prepare()
    began, cpu_began = time.perf_counter(), time.process_time()

    def snapshot(at: int) -> Path:
        return save_checkpoint(run, model, optimizer, at, {
            "losses": losses, "tokens": tokens_done,
            "elapsed_s": elapsed_before + time.perf_counter() - began,
            "taught_recent": {str(k): list(v) for k, v in recent.items()}})

    for step in range(start, total):
        if stop.requested:
            break
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(step, total)
        ids, labels = batch_tensors(examples, steps[step])
        anchors, anchored = anchor_inputs(examples, steps[step], ids.shape[1])
        sums, counts = row_losses(model, ids, labels, anchors,
                                  functools.partial(references.log_probs, anchored),
                                  frozen.below([examples[i].ids for i in steps[step]],
                                               ids.shape[1]))
        count = int(counts.sum())
        mean = sums.sum() / max(count, 1)
        seen = sums.detach()  # read as plain numbers, outside the graph
        for row, index in enumerate(steps[step]):
            if index < taught:
                recent[index] = (float(seen[row]), int(counts[row]))
        mean.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        real = sum(lengths[i] for i in steps[step])
        tokens_done += real
        session_tokens += real
        losses.append(round(mean.item(), 6))
        spent = time.perf_counter() - began
        rate = session_tokens / max(spent, 1e-9)
        per_step = spent / (step + 1 - start)
        if not math.isfinite(losses[-1]):
            raise KindredError(f"Training diverged at step {step + 1} (the loss is not a "
                               "number). Try a lower learning rate. Nothing was archived.")
        emit({"event": "step", "step": step + 1, "total_steps": total, "loss": losses[-1],
              "lr": cfg.lr_at(step, total), "tokens": tokens_done,
              "tokens_per_s": round(rate, 1), "eta_s": round(per_step * (total - step - 1), 1),
              "elapsed_s": round(elapsed_before + spent, 1),
              "cpu_s": round(time.process_time() - cpu_began, 2)})
        done = step + 1
        learned = _taught_loss(recent, taught)
        if (cfg.steps is None and done >= per_epoch and done < total and learned is not None
                and learned < STOP_LOSS):
            finished_at = done
            emit({"event": "learned", "step": done, "total_steps": total,
                  "taught_loss": round(learned, 4)})
            break
        if done < total and (done % cfg.checkpoint_every == 0 or stop.requested):
            path = snapshot(done)
            emit({"event": "checkpoint", "step": done, "path": str(path)})
    else:
        finished_at = total
    if finished_at is not None:
        return Outcome(True, finished_at, total, losses, {
            "tokens": tokens_done, "elapsed_s": elapsed_before + time.perf_counter() - began,
            "tokens_per_s": session_tokens / max(time.perf_counter() - began, 1e-9),
            "stopped_early": finished_at < total, "taught_loss": _taught_loss(recent, taught)})
    # stopped before the end: make sure the position reached is saved
    last = run.last_checkpoint()
    if step > 0 and (last is None or last[0] != step):
        emit({"event": "checkpoint", "step": step, "path": str(snapshot(step))})
    return Outcome(False, step, total, losses, {"tokens": tokens_done})
