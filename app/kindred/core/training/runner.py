"""Starting, following and stopping training from the GUI or the CLI (no torch here).

Flow (the GUI runs the slow-ish steps in its background-task helper):

    plan = plan_training(session, assistant)            # validates; tokenizes (~1 s); no writes
    req = request_training(store, plan)                 # consent request: counts, base, time
    decision = consent.decide(store, req.id, granted=..., via="gui")
    run = start_training(store, plan, decision)         # refuses unless granted; writes runs/<id>
    process = launch(run, decision)                     # CLI: attached, events on its stdout
    process = launch(run, decision, attached=False)     # window: detached, `run.follow(run)`

The training process consumes the `train` consent itself, so starting it by hand without one
trains nothing. It prints one JSON object per line on stdout (UTF-8); `parse_line` turns a line
into a dict (or None for anything else). Events, in order:

    {"event": "start", "run": ID, "examples": N, "heldout": N, "resumed_from": STEP | null}
    {"event": "loading", "what": "base"}
    {"event": "loaded", "cached": BOOL, "load_s": S, "rss_mb": MB, ...}
    {"event": "precision", "precision": "bf16" | "fp32"}
    {"event": "eval", "when": "start" | "end", "train_loss": X, "heldout_loss": X | null, ...}
    {"event": "step", "step": K, "total_steps": N, "loss": X, "lr": X, "tokens": N,
     "tokens_per_s": X, "eta_s": S, "elapsed_s": S, "cpu_s": S}        # once per step
    {"event": "checkpoint", "step": K, "path": DIR}
    {"event": "paused"} ... {"event": "resumed", "why": "asked" | "pauser gone"}
    {"event": "stopped", "step": K, "total_steps": N, "checkpoint": DIR | null}   # then exit 3
    {"event": "archived", "version": ID}
    {"event": "done", "version": ID, "metrics": {...}}                  # then exit 0
    {"event": "error", "message": TEXT}                                 # then exit 2 (or 1)

Stopping is gated too: `interrupt(store, run, decision)` needs an `interrupt` consent (ask with
`request_interrupt`, which says what is kept) and then sends SIGTERM; the trainer writes a
checkpoint and exits. `request_resume` + `launch(run, id, resume=True)` continue it. Pausing
needs no consent (nothing stops or is lost): `pause(run, by_pid=...)` asks the trainer to wait
between two steps (`run.StopFlag`), `resume(run)` lets it go on.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kindred.core.archive.catalog import names
from kindred.core.basics import processes
from kindred.core.basics.errors import KindredError
from kindred.core.basics.hashing import sha256_bytes
from kindred.core.basics.ids import AssistantId
from kindred.core.basics.states import RESUMABLE
from kindred.core.formats.gguf_info import read_gguf
from kindred.core.home import consent
from kindred.core.home.assistants import Assistant
from kindred.core.home.atomic import write_atomic
from kindred.core.home.consent import ConsentRequest, Decision
from kindred.core.home.models import Model, get_model
from kindred.core.home.store import Store, now
from kindred.core.learning import markers, quality
from kindred.core.learning.dataset import Dataset, Example, build_dataset, describe_counts
from kindred.core.session import Session
from kindred.core.training import estimate, replay
from kindred.core.training.config import TrainConfig
from kindred.core.training.data import schedule, split_holdout
from kindred.core.training.run import RunDir, list_runs
from kindred.core.training.tokens import ChatTokenizer, Encoded

TRAINABLE_ARCHITECTURES = ("llama", "qwen2", "qwen3", "gemma3")
"""Architectures transformers can load from GGUF *and* whose LoRA Kindred can convert back to
llama.cpp (module names q/k/v/o/gate/up/down; llama's q/k row permutation, none for the others;
gemma3 checked against llama.cpp's converter, see tests/core/formats/test_gemma_lora.py)."""
PLAN_FORMAT = "kindred-run/1"


@dataclass(frozen=True)
class TrainingPlan:
    """Everything a run needs, computed before asking: nothing is written until it starts."""

    run_id: str
    assistant_id: AssistantId
    model: Model
    parent: str | None
    dataset: Dataset
    dataset_bytes: bytes
    config: TrainConfig
    train: list[Encoded]
    heldout: list[Encoded]
    total_steps: int
    estimate_s: float
    cached: bool
    warnings: list[str] = field(default_factory=list)
    kind: str = "train"
    """The consent kind that starts it (`migrate` for a move to another base)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Added to the run's plan file (a migration's source version and bases)."""
    mix: dict[str, Any] = field(default_factory=lambda: {"replay": 0})
    parent_name: str = ""
    """The parent as the window names it ("Version 2"), for the consent's words."""

    @property
    def dataset_id(self) -> str:
        return sha256_bytes(self.dataset_bytes)

    @property
    def counts(self) -> dict[str, int]:
        return self.dataset.counts()

    def summary(self) -> str:
        parent = (f"continuing from {self.parent_name or 'version ' + self.parent[:12]} and "
                  "replaying all past data" if self.parent else "starting a new adapter")
        held = f", {len(self.heldout)} held out to measure it" if self.heldout else ""
        if self.mix.get("replay"):
            held += f"; plus {replay.describe(self.mix)}"
        return (f"Train {self.model.name} on {describe_counts(self.counts)} ({len(self.train)} "
                f"training examples{held}), {parent}. {self.total_steps} steps, about "
                f"{estimate.human(self.estimate_s)} on this computer. The result is a candidate "
                "version: nothing changes in your chats until you approve it.")

    def evidence(self) -> dict[str, Any]:
        return {"run": self.run_id, "counts": self.counts, "dataset": self.dataset_id,
                "base": {"id": self.model.id, "name": self.model.name,
                         "sha256": self.model.sha256},
                "parent": self.parent, "examples": len(self.train),
                "heldout": len(self.heldout), "steps": self.total_steps,
                "tokens": sum(len(e) for e in self.train),
                "estimated_s": round(self.estimate_s), "config": self.config.to_json(),
                "mix": {"replay": self.mix.get("replay", 0),
                        "teacher_examples": len(self.mix.get("shots") or []),
                        "reworded": self.mix.get("reworded", 0),
                        "style": markers.Markers.from_json(self.mix.get("markers") or {}
                                                           ).describe()}}


def _parent_for(store: Store, assistant: Assistant, model: Model
                ) -> tuple[str | None, dict[str, Any] | None]:
    """The active version, when it was trained on this same base: training continues from it
    (its LoRA shape is kept) and replays all the data, so learning accumulates."""
    from kindred.core.archive.objects import peft_folder
    from kindred.core.archive.versions import active_version
    from kindred.core.formats.peft_files import CONFIG, read_config

    active = active_version(store, assistant.id)
    if active is None or active.base_sha256 != model.sha256:
        return None, None
    return active.id, read_config(peft_folder(store, active.id) / CONFIG)


def check_trainable(model: Model) -> None:
    if model.architecture not in TRAINABLE_ARCHITECTURES:
        raise KindredError(
            f"Kindred cannot train on {model.name}: its architecture '{model.architecture}' "
            "cannot be loaded for training from GGUF (supported: "
            f"{', '.join(TRAINABLE_ARCHITECTURES)}). Nothing was changed.")
    if not model.path.is_file():
        raise KindredError(f"The base model file {model.path} is missing. Nothing was changed.")


def running_runs(session: Session, assistant_id: AssistantId) -> list[RunDir]:
    return [r for r in list_runs(session.home.runs, assistant_id) if r.is_running()]


def plan_training(session: Session, assistant: Assistant, config: TrainConfig | None = None,
                  *, model: Model | None = None, dataset: Dataset | None = None
                  ) -> TrainingPlan:
    """Validate and prepare a run. Raises a clear KindredError (nothing written) when there is
    nothing to learn, an example does not fit, or the base cannot be trained.

    `model` and `dataset` (a migration): train on another base than the assistant's, from
    given examples instead of the assistant's feedback."""
    store = session.store
    model = model or get_model(store, assistant.model_id)
    check_trainable(model)
    busy = running_runs(session, assistant.id)
    if busy:
        raise KindredError(f"Training run {busy[0].id} is still running for {assistant.name}. "
                           "Wait for it or stop it first. Nothing was changed.")
    cfg = (config or TrainConfig()).validated()
    parent, parent_config = _parent_for(store, assistant, model)
    if parent_config is not None:
        cfg = cfg.with_lora_of(parent_config)
    info = read_gguf(model.path)
    depth = info.arch_int("block_count")
    if depth:  # which layers a new adapter adapts, named in the consent's evidence
        cfg = cfg.for_depth(depth)
    if dataset is None:
        dataset = build_dataset(store, assistant, model.sha256)
    if not dataset.examples:
        raise KindredError(
            f"There is nothing to learn yet for {assistant.name}: correct an answer, like one, "
            "or state a preference first (`kindred examples add`, `kindred teach`). "
            "Nothing was changed.")
    limit = min(cfg.max_length, model.context_length or cfg.max_length)
    # a taught answer's end of turn is context when the teacher's answers teach when to stop
    # (see replay and Encoded.target_end); without them, it is a target
    learn_stop = not cfg.replay
    with ChatTokenizer(model.path) as tokenizer:
        encoded = [tokenizer.encode(e, learn_stop=learn_stop) for e in dataset.examples]
    for example, enc in zip(dataset.examples, encoded, strict=True):
        if len(enc) > limit:
            what = example.messages[-2]["content"][:40].replace("\n", " ")
            raise KindredError(
                f"The {example.kind} example #{example.feedback_id} (\"{what}…\") is "
                f"{len(enc)} tokens long with its prompt; training takes at most {limit} tokens "
                "per example. Shorten or remove it. Nothing was changed.")
    keys = [json.dumps(e.to_json(), sort_keys=True) for e in dataset.examples]
    train_idx, held_idx = split_holdout(keys, cfg)
    train = [encoded[i] for i in train_idx]
    mix = plan_mix(dataset, len(train), [dataset.examples[i] for i in train_idx])
    if not cfg.replay:
        mix.update(replay=0, reworded=0)
    # the replayed answers are made by the training process; until then, a typical length
    typical = encoded[0].n_prompt + replay.answer_tokens()
    replayed = mix["replay"] + (mix["reworded"] if mix["replay"] else 0)
    steps = schedule([len(e) for e in train] + [typical] * replayed, cfg)
    from kindred.core.training.base_cache import is_cached

    cached = is_cached(session.home.cache, model.sha256)
    seconds = (estimate.seconds(info, steps, [len(e) for e in encoded],
                                [len(e) for e in train] + [typical] * replayed,
                                cached=cached) + estimate.replay_seconds(
        mix["replay"], mix["reworded"] if mix["shots"] else 0)
    ) * estimate.measured_factor(session.home.cache, model.sha256)  # this computer's pace
    run_id = f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"
    return TrainingPlan(run_id, assistant.id, model, parent, dataset, dataset.to_bytes(), cfg,
                        train, [encoded[i] for i in held_idx], len(steps), seconds, cached,
                        mix={**mix, "heldout_prompts": [
                            dataset.examples[i].messages[-2]["content"] for i in held_idx
                            if dataset.examples[i].kind != "preference"]},
                        parent_name=names(store, assistant.id).get(parent, "") if parent else "")


def plan_mix(dataset: Dataset, taught: int, trained: list[Example] | None = None
             ) -> dict[str, Any]:
    """What is replayed beside the person's items (see `replay`): how many general requests,
    and the examples the teacher has in mind (the trained items only: the held-out ones measure
    what was learned). Decided here so the consent summary can say it and a resumed run reuses
    it. `markers` only describes what was taught (the consent's evidence); the mix never reads
    it."""
    from kindred.core.learning import teacher
    from kindred.core.learning.pairs import preference_pairs

    found = quality.taught_marks(dataset)[0]
    version, prompts = replay.shipped_prompts()
    part = Dataset(dataset.assistant_id, dataset.base_sha256, dataset.system_prompt,
                   list(dataset.examples if trained is None else trained))
    shots = teacher.shots_of(part)
    return {"replay": replay.replay_count(taught, len(prompts)), "set": version,
            "shots": [s.to_json() for s in shots],
            # other wordings of their requests and new ones of their kind (about half of the
            # asked-for ones are kept)
            "reworded": len(replay.reworded_requests(shots)) + (
                teacher.NEIGHBOURS // 2 if shots else 0),
            "disliked": [[p.prompt, p.rejected] for p in preference_pairs(dataset)
                         if p.chosen is None][-replay.MAX_REWORDED:],
            "pairs": len(preference_pairs(dataset)), "markers": found.to_json()}


def request_training(store: Store, plan: TrainingPlan) -> ConsentRequest:
    """Ask to train (kind `train`, subject: the run id), with what data, which base, how long."""
    return consent.request(store, "train", plan.assistant_id, plan.run_id, plan.summary(),
                           plan.evidence())


def start_training(session: Session, plan: TrainingPlan, decision: Decision | int | None
                   ) -> RunDir:
    """Write the dataset snapshot and the run folder once consent is granted (else raise,
    writing nothing). The caller then launches `training_command(run, decision)`."""
    from kindred.core.archive.objects import put_dataset

    # checked, not used up: the training process uses it when it starts
    consent.check(session.store, decision, plan.kind, plan.assistant_id, plan.run_id)
    dataset_id = put_dataset(session.store, plan.dataset_bytes)
    run = RunDir(session.home.runs / plan.run_id)
    run.path.mkdir(parents=True)
    write_atomic(run.tokens_path, json.dumps({
        "train": [e.to_json() for e in plan.train],
        "heldout": [e.to_json() for e in plan.heldout]}).encode())
    write_atomic(run.plan_path, json.dumps({
        "format": PLAN_FORMAT, "run": plan.run_id, "home": str(session.home.root),
        "cache_root": str(session.home.cache), "assistant_id": plan.assistant_id,
        "base": {"id": plan.model.id, "path": str(plan.model.path),
                 "sha256": plan.model.sha256, "architecture": plan.model.architecture},
        "parent": plan.parent, "dataset": dataset_id, "counts": plan.counts, "mix": plan.mix,
        "system": plan.dataset.system_prompt,
        "config": plan.config.to_json(), "total_steps": plan.total_steps,
        "estimate_s": plan.estimate_s, "created_at": now(), "consent_kind": plan.kind,
        **plan.extra}, indent=1).encode())
    run.write_state(status="created", total_steps=plan.total_steps)
    return run


def training_command(run: RunDir, decision: Decision | int, *, resume: bool = False,
                     python: str | None = None) -> list[str]:
    """argv of the training process (pure: testable, and what QProcess needs)."""
    consent_id = decision if isinstance(decision, int) else decision.id
    if python is None and getattr(sys, "frozen", False):  # the desktop bundle: no Python in it
        from kindred.core.training import WORKER_ARG

        worker = [sys.executable, WORKER_ARG]
    else:
        worker = [python or sys.executable, "-m", "kindred.core.training"]
    argv = [*worker, str(run.path), "--consent", str(consent_id)]
    return [*argv, "--resume"] if resume else argv


def training_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for it: offline (never download), unbuffered, quiet libraries."""
    env = dict(os.environ if base is None else base)
    if getattr(sys, "frozen", False) and "LD_LIBRARY_PATH_ORIG" in env:
        env["LD_LIBRARY_PATH"] = env["LD_LIBRARY_PATH_ORIG"]  # the bundle's loader sets its own
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false",
               TRANSFORMERS_NO_ADVISORY_WARNINGS="1", PYTHONIOENCODING="utf-8",
               TQDM_DISABLE="1", OMP_WAIT_POLICY="PASSIVE")
    return env


def launch(run: RunDir, decision: Decision | int, *, resume: bool = False,
           attached: bool = True) -> subprocess.Popen[bytes]:
    """Start the training process. `attached` (the CLI): its events are read from its stdout
    as they come; detached (the window): it writes them only to the run folder, which any view
    follows (`run.follow`), and its stderr to the run's `stderr.log`, so it outlives whoever
    started it. Its own session either way: a Ctrl+C in the terminal reaches only the CLI,
    which then asks before interrupting."""
    argv = training_command(run, decision, resume=resume)
    if attached:
        return processes.start(argv, training_env(), stdout="pipe", stderr="inherit")
    return processes.start(argv, training_env(), stderr=run.path / "stderr.log")


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} in a progress line")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400 reads as infinity
        raise ValueError(f"{text} in a progress line")
    return value


def parse_line(line: str | bytes) -> dict[str, Any] | None:
    """One progress event from a line of the training process's stdout, or None."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:  # NaN and Infinity are refused: the trainer never writes them (allow_nan=False)
        event = json.loads(line, parse_constant=_not_a_number, parse_float=_finite)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("event"), str) else None


# -- resuming and interrupting --------------------------------------------------------------


def resumable_run(session: Session, assistant_id: AssistantId) -> RunDir | None:
    """The assistant's newest run if it is unfinished (stopped, failed or killed): a finished
    or still running newest run means there is nothing to resume."""
    runs = list_runs(session.home.runs, assistant_id)
    if runs and runs[-1].status() in RESUMABLE:
        return runs[-1]
    return None


def run_title(run: RunDir) -> str:
    """"the training started Dec 07 15:22", or "the move to MODEL (started ...)": a person
    knows a run by when it began; its id stays in the consent's technical details."""
    started = float(run.plan().get("created_at") or 0)
    when = time.strftime("%b %d %H:%M", time.localtime(started)) if started else run.id
    to_base = (run.plan().get("migration") or {}).get("to_base") or {}
    if to_base:
        return f"the move to {to_base.get('name') or 'another model'} (started {when})"
    return f"the training started {when}"


WHY = {"stopped": "stopped when asked", "failed": "stopped by an error",
       "killed": "cut off (the app or computer closed)", "created": "not started yet"}


def describe_run(run: RunDir) -> str:
    """Where a resumable run stands and where it would go on from, in words."""
    plan = run.plan()
    last = run.last_checkpoint()
    where = (f"from step {last[0]} of {plan.get('total_steps', '?')}" if last else
             "from the beginning (it stopped before its first checkpoint)")
    status = str(run.status())
    return f"{run_title(run)}, {WHY.get(status, status)}, {where}"


def request_resume(store: Store, run: RunDir) -> ConsentRequest:
    plan = run.plan()
    if run.is_running():
        raise KindredError(f"Training run {run.id} is already running. Nothing was changed.")
    summary = (f"Resume {describe_run(run)}. The result is a candidate version: nothing changes "
               "in your chats until you approve it.")
    return consent.request(store, str(plan.get("consent_kind", "train")),
                           AssistantId(plan["assistant_id"]), run.id, summary,
                           {"run": run.id, "resume": True, "counts": plan.get("counts", {}),
                            "dataset": plan.get("dataset"), "parent": plan.get("parent")})


def request_interrupt(store: Store, run: RunDir) -> ConsentRequest:
    """Ask before stopping: says what is kept (the checkpoint) and how to continue."""
    plan, state = run.plan(), run.state()
    last = run.last_checkpoint()
    kept = (f"the checkpoint at step {last[0]}" if last else "no checkpoint yet (it is written "
            "when training stops)")
    summary = (f"Stop training run {run.id} (step {state.get('step', '?')} of "
               f"{plan.get('total_steps', '?')}). A checkpoint is written before it stops; kept: "
               f"{kept} and all your data. Resume continues from the checkpoint. Nothing is "
               "archived until a run finishes.")
    return consent.request(store, "interrupt", AssistantId(plan["assistant_id"]), run.id, summary,
                           {"run": run.id, "checkpoint": last[0] if last else None})


def interrupt(store: Store, run: RunDir, decision: Decision | int | None) -> None:
    """Stop a running training (kind `interrupt`): SIGTERM, the trainer checkpoints and exits."""
    plan = run.plan()
    pid = int(run.state().get("pid") or 0)
    if not run.is_running() or pid <= 0:
        raise KindredError(f"Training run {run.id} is not running. Nothing was changed.")
    consent.require(store, decision, "interrupt", AssistantId(plan["assistant_id"]),
                    run.id)
    os.kill(pid, signal.SIGTERM)


def pause(run: RunDir, *, by_pid: int) -> None:
    """Ask a running training to wait between two steps (no consent: nothing stops or is
    lost, and it goes on by itself if the process `by_pid` that asked goes away)."""
    if not run.is_running():
        raise KindredError(f"Training run {run.id} is not running. Nothing was changed.")
    run.request_pause(by_pid)


def resume(run: RunDir) -> None:
    """Let a paused training go on from the step where it waits."""
    run.withdraw_pause()
