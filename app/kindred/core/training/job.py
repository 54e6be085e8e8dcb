"""One training job, start to archive, as the training process runs it.

Order matters for consent and preservation: the run's lock is taken, then the `train` consent is
used up (so starting the process by hand without a granted consent trains nothing); the base and
the parent adapter load; training runs (checkpointing as it goes); the finished PEFT folder is
written completely, then archived as a **candidate** with its metrics. It never activates
anything. A resumed job that finds a finished `final/` folder (killed while archiving) archives it
without training again, and one whose version is already archived just reports it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.home import consent
from kindred.core.home.atomic import remove_tree, write_atomic
from kindred.core.home.paths import DataHome
from kindred.core.home.store import Store, open_store
from kindred.core.training import estimate
from kindred.core.training.config import TrainConfig
from kindred.core.training.run import Emit, RunDir, StopFlag
from kindred.core.training.tokens import Encoded

METRICS = "kindred-metrics.json"


def run_job(run: RunDir, consent_id: int, *, resume: bool, emit: Emit, stop: StopFlag) -> bool:
    """True when the candidate is archived, False when stopped on request (resumable)."""
    plan = run.plan()
    store = open_store(DataHome(Path(plan["home"])))
    try:
        with run.hold():
            consent.require(store, consent_id, str(plan.get("consent_kind", "train")),
                            AssistantId(plan["assistant_id"]), run.id)
            run.write_state(status="running", pid=os.getpid(), message=None)
            try:
                return _job(store, run, plan, resume=resume, emit=emit, stop=stop)
            except BaseException as exc:
                message = str(exc) if isinstance(exc, KindredError) else (
                    f"Training crashed: {type(exc).__name__}: {exc}")
                run.write_state(status="failed", message=message)
                raise
    finally:
        store.close()


def _existing_version(store: Store, run: RunDir) -> VersionId | None:
    row = store.db.execute("SELECT id FROM versions WHERE json_extract(manifest, "
                           "'$.training.run') = ? LIMIT 1", [run.id]).fetchone()
    return None if row is None else VersionId(row[0])


def _job(store: Store, run: RunDir, plan: dict[str, Any], *, resume: bool, emit: Emit,
         stop: StopFlag) -> bool:
    began = time.monotonic()
    version_id = _existing_version(store, run)
    if version_id is None and not (resume and (run.final_dir / METRICS).is_file()):
        metrics = _train(store, run, plan, resume=resume, emit=emit, stop=stop)
        if metrics is None:
            return False
    if version_id is None:
        version_id = _archive(store, run, plan)
        emit({"event": "archived", "version": version_id})
    metrics = json.loads((run.final_dir / METRICS).read_text()) if (
        run.final_dir / METRICS).is_file() else {}
    card = _quality(store, version_id, emit, review=not plan.get("migration"))
    run.write_state(status="done", version=version_id, message=None)
    if not resume and not stop.was_paused and plan.get("estimate_s"):
        # the next consent's estimate learns from what this one took on this computer
        estimate.record(store.home.cache, str(plan["base"]["sha256"]),
                        float(plan["estimate_s"]), time.monotonic() - began)
    for _, folder in run.checkpoints():
        remove_tree(folder)
    remove_tree(run.final_dir)
    emit({"event": "done", "version": version_id, "metrics": metrics,
          "quality": {k: card[k] for k in ("summary", "flags")} if card else None})
    return True


def _train(store: Store, run: RunDir, plan: dict[str, Any], *, resume: bool, emit: Emit,
           stop: StopFlag) -> dict[str, Any] | None:
    import torch

    from kindred.core.archive import objects as archive
    from kindred.core.training import base_cache, forward, lora_kernel, trainer

    began = time.perf_counter()
    cfg = TrainConfig.from_json(plan["config"])
    torch.set_num_threads(cfg.threads)
    tokens = run.tokens()
    train_set = [Encoded.from_json(e) for e in tokens["train"]]
    held_out = [Encoded.from_json(e) for e in tokens["heldout"]]
    checkpoint = run.last_checkpoint() if resume else None
    emit({"event": "start", "run": run.id, "examples": len(train_set),
          "heldout": len(held_out), "resumed_from": checkpoint[0] if checkpoint else None})
    replayed = _replay_set(run, plan, emit)
    taught = len(train_set)
    train_set = train_set + replayed
    emit({"event": "loading", "what": "base"})
    base, load = base_cache.load_base(Path(plan["base"]["path"]), plan["base"]["sha256"],
                                      Path(plan["cache_root"]), plan["base"]["architecture"])
    emit({"event": "loaded", "rss_mb": peak_rss_mb(),
          **{k: round(v, 3) if isinstance(v, float) else v for k, v in load.items()}})
    if stop.requested:
        _stopped(run, emit, 0, None)
        return None
    precision = trainer.resolve_precision(cfg.precision)
    base = trainer.prepare_base(base, precision)
    emit({"event": "precision", "precision": precision})
    parent = archive.peft_folder(store, plan["parent"]) if plan.get("parent") else None
    model = trainer.build_peft(base, cfg, parent)
    lora_kernel.fuse(model)
    # the frozen layers' outputs, computed once for the whole run (the same way on a resume)
    frozen = forward.Frozen.for_model(model)
    frozen.prepare([e.ids for e in train_set], cfg.batch_tokens)
    if checkpoint is None:
        # a fresh adapter adds nothing yet (every B is zero): the base alone gives the same
        # numbers without the adapter's matrix products
        fresh = trainer.adds_nothing(model)
        with model.disable_adapter() if fresh else contextlib.nullcontext():
            start = {"train_loss_start": trainer.evaluate(model, train_set[:taught],
                                                          frozen=frozen),
                     "heldout_loss_start": trainer.evaluate(model, held_out, frozen=frozen)}
        run.write_state(start_metrics=start)
    else:
        start = dict(run.state().get("start_metrics") or {})
    emit({"event": "eval", "when": "start", "train_loss": start.get("train_loss_start"),
          "heldout_loss": start.get("heldout_loss_start")})
    outcome = trainer.train(run, model, train_set, cfg, emit, stop,
                            resume_from=checkpoint[1] if checkpoint else None,
                            taught=taught, frozen=frozen)
    if not outcome.finished:
        last = run.last_checkpoint()
        _stopped(run, emit, outcome.step, last[1] if last else None, outcome.total_steps)
        return None
    end = {"train_loss": trainer.evaluate(model, train_set[:taught], frozen=frozen),
           "heldout_loss": trainer.evaluate(model, held_out, frozen=frozen)}
    emit({"event": "eval", "when": "end", **end, "rss_mb": peak_rss_mb()})
    metrics = {**start, **end, "precision": precision,
               "steps": outcome.step, "planned_steps": outcome.total_steps,
               "stopped_early": outcome.info.get("stopped_early"),
               "examples": taught, "replayed": len(replayed),
               "heldout_examples": len(held_out), "tokens": outcome.info["tokens"],
               "tokens_per_s": round(outcome.info["tokens_per_s"], 1),
               "train_s": round(outcome.info["elapsed_s"], 1),
               "job_s": round(time.perf_counter() - began, 1),
               "final_step_loss": outcome.losses[-1] if outcome.losses else None}
    _save_final(run, model, metrics)
    return metrics


def _replay_set(run: RunDir, plan: dict[str, Any], emit: Emit) -> list[Encoded]:
    """The teacher's answers (the base with the person's examples in its context) to general
    requests and to other wordings of the person's requests, made once per run (kept in the run
    folder, so a resumed run trains on exactly the same mix); see `replay`."""
    from kindred.core.engine.llama import Engine
    from kindred.core.learning import teacher
    from kindred.core.training import replay
    from kindred.core.training.tokens import ChatTokenizer

    mix = plan.get("mix") or {}
    if not mix.get("replay"):
        return []
    path = run.path / "replay.json"
    if path.is_file():
        return [Encoded.from_json(e) for e in json.loads(path.read_text())["replay"]]
    version, shipped = replay.shipped_prompts()
    prompts = replay.spread(shipped, int(mix["replay"]))
    system = str(plan.get("system", ""))
    shots = [teacher.Shot(str(p), str(a)) for p, a in mix.get("shots") or []]
    disliked = [(str(p), str(r)) for p, r in mix.get("disliked") or []]
    model_path = Path(plan["base"]["path"])
    began = time.perf_counter()

    def progress(done: int, total: int) -> None:
        emit({"event": "replay", "done": done, "total": total})

    sha, cache_root = plan["base"]["sha256"], Path(plan["cache_root"])
    base = replay.base_answers(model_path, sha, system, prompts, version, cache_root, progress)
    reworded: list[str] = []
    asked: list[replay.Request] = []
    said: list[str] = []
    brevity = False
    if shots:
        # what the stated preferences do to the plain base's length (the person's wish read
        # by the model itself): a wish for short answers keeps the teacher's end of turn
        alone = replay.systems(system)[1:]
        brevity = bool(alone) and replay.wished_brevity(base, replay.base_answers(
            model_path, sha, alone[0], prompts, version, cache_root))
        engine = Engine(model_path, n_ctx=512, n_threads=teacher.threads())
        try:
            own = replay.reworded_requests(shots)
            reworded = [r for found in teacher.rewordings(engine, own) for r in found]
            reworded += teacher.neighbours(engine, own)
            asked = replay.requests_for(system, shots, prompts, base, reworded, disliked)
            least = replay.least_tokens(asked, lambda text: len(engine.llm.tokenize(
                text.encode(), add_bos=False, special=False)), brevity)
            said = [replay.whole_sentences(text) for text, _, _ in teacher.generate(
                engine, [r.context for r in asked], replay.answer_tokens(),
                lambda done, total: emit({"event": "teacher", "done": done, "total": total}),
                min_tokens=least)]
        finally:
            engine.close()
    items, counts = replay.select(system, shots, prompts, base, asked, said)
    counts["brevity"] = int(brevity)
    with ChatTokenizer(model_path) as tokenizer:
        encoded = [replay.encode(tokenizer, system, item, brevity=brevity) for item in items]
    limit = int(TrainConfig.from_json(plan["config"]).max_length)
    encoded = [e for e in encoded if len(e) <= limit]
    write_atomic(path, json.dumps({"replay": [e.to_json() for e in encoded],
                                   "texts": [i.to_json() for i in items],
                                   "counts": counts}).encode())
    emit({"event": "teacher", "done": len(asked), "total": len(asked),
          "examples": len(encoded), **counts, "seconds": round(time.perf_counter() - began, 1)})
    return encoded


def _quality(store: Store, version_id: VersionId, emit: Emit, *, review: bool = True
             ) -> dict[str, Any] | None:
    """Measure the candidate's quality card with llama.cpp before anyone is asked to approve
    it (see `learning.quality`), then (`review`) the review's side-by-side answers, so that
    Review opens at once. A failure here leaves the candidate archived without them: the app
    works them out again when it is shown. A move's version is reviewed on its own card."""
    from kindred.core.archive import cards
    from kindred.core.archive.catalog import get_version
    from kindred.core.engine.llama import Engine
    from kindred.core.home.assistants import get_assistant
    from kindred.core.home.models import get_model
    from kindred.core.learning import quality
    from kindred.core.learning.teacher import threads
    from kindred.core.training.evidence import review_answers

    version = get_version(store, version_id)
    card: dict[str, Any] | None = cards.get_card(store, version_id)
    engine = Engine(get_model(store, version.base_sha256).path, n_ctx=2048, n_threads=threads())
    try:
        if card is None:
            try:
                for item in quality.for_version(store, engine, version):
                    if isinstance(item, dict):
                        card = item
                    else:
                        emit({"event": "quality", "fraction": round(item.fraction * 0.8, 3),
                              "message": item.message})
            except KindredError as exc:
                emit({"event": "quality", "fraction": 0.8, "message": f"Not measured: {exc}"})
        if review:
            emit({"event": "quality", "fraction": 0.8,
                  "message": "both versions answer a few of your questions for the review"})
            try:
                review_answers(store, engine, get_assistant(store, version.assistant_id),
                               version.id)
            except KindredError as exc:
                emit({"event": "quality", "fraction": 1.0, "message": f"Not answered: {exc}"})
    finally:
        engine.close()
    return card


def peak_rss_mb() -> float | None:
    """This process's peak resident memory so far (for the benchmark and the log)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / 1024, 1)


def _stopped(run: RunDir, emit: Emit, step: int, checkpoint: Path | None,
             total: int | None = None) -> None:
    run.write_state(status="stopped", step=step, checkpoint=str(checkpoint) if checkpoint else None)
    emit({"event": "stopped", "step": step, "total_steps": total,
          "checkpoint": str(checkpoint) if checkpoint else None})


def _save_final(run: RunDir, model: Any, metrics: dict[str, Any]) -> None:
    """The finished PEFT folder, complete before it gets its final name."""
    work = run.path / ".final.partial"
    remove_tree(work)
    remove_tree(run.final_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no config file near the base": expected, it is a GGUF
        model.save_pretrained(str(work), safe_serialization=True)
    write_atomic(work / METRICS, json.dumps(metrics).encode())
    work.rename(run.final_dir)


def _archive(store: Store, run: RunDir, plan: dict[str, Any]) -> VersionId:
    from kindred.core.archive import objects as archive
    from kindred.core.home.assistants import get_assistant
    from kindred.core.home.models import get_model

    assistant = get_assistant(store, AssistantId(plan["assistant_id"]))
    # a migration trains for another base than the assistant's (see upgrades/migration)
    migration = plan.get("migration")
    base = get_model(store, plan["base"]["sha256"] if migration else assistant.model_id)
    if base.sha256 != plan["base"]["sha256"]:
        raise KindredError(f"The assistant's base model changed during training; this run "
                           f"trained for {plan['base']['sha256'][:12]}. The finished adapter is "
                           f"kept in {run.final_dir}; nothing was archived.")
    metrics = json.loads((run.final_dir / METRICS).read_text())
    training = {"run": run.id, "config": plan["config"], "counts": plan.get("counts", {}),
                "started_from": "parent" if plan.get("parent") else "scratch"}
    version = archive.archive_peft_folder(
        store, assistant, run.final_dir, source="migrated" if migration else "trained",
        parent=migration["from_version"] if migration else plan.get("parent"),
        dataset=plan["dataset"], metrics=metrics, training=training,
        model=base if migration else None, migrated=migration)
    return version.id
