"""Following a training run from a terminal: its consent question, its progress on stderr,
Ctrl+C that asks before stopping, and what its end means (`kindred train` and `kindred migrate`
both drive runs this way).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any

from kindred.cli.output import confirm, say_evidence
from kindred.core.basics.errors import KindredError
from kindred.core.basics.states import RUN_ENDS, TrainingEvent
from kindred.core.home import consent
from kindred.core.session import Session
from kindred.core.training import estimate, runner
from kindred.core.training.run import RunDir, follow

EXIT_REFUSED, EXIT_STOPPED = 1, 3


def ask(session: Session, req: consent.ConsentRequest, question: str, yes: bool
         ) -> consent.Decision:
    print(req.summary, file=sys.stderr)
    say_evidence(session.store, req)
    granted = confirm(question, yes)
    return consent.decide(session.store, req.id, granted=granted,
                          via="cli-flag" if yes else "cli-prompt")


def follow_run(session: Session, run: RunDir, decision: consent.Decision, *, resume: bool) -> int:
    """Run the training process, print its progress, ask before stopping on Ctrl+C."""
    process = runner.launch(run, decision, resume=resume)
    assert process.stdout is not None
    outcome: dict[str, Any] = {}
    with _asking_before_stop(session, run):
        for line in process.stdout:
            event = runner.parse_line(line)
            if event is not None:
                _show(event)
                outcome = event if event["event"] in RUN_ENDS else outcome
        code = process.wait()
    return _conclude(outcome, code, run)


def watch(session: Session, run: RunDir) -> int:
    """Follow a run some other command or window started (through its run folder)."""
    state, total = run.state(), run.plan().get("total_steps", "?")
    title = runner.run_title(run)
    print(f"{title[0].upper()}{title[1:]} is already running (process {state.get('pid', '?')}, "
          f"{total} steps); following it. Ctrl+C asks before stopping it; if this command "
          "ends, the run carries on.", file=sys.stderr)
    outcome: dict[str, Any] = {}
    with _asking_before_stop(session, run):
        for event in follow(run):
            _show(event)
            outcome = event if event["event"] in RUN_ENDS else outcome
    return _conclude(outcome, None, run)


@contextlib.contextmanager
def _asking_before_stop(session: Session, run: RunDir) -> Iterator[None]:
    """While inside: Ctrl+C asks for the `interrupt` consent; refused, training goes on."""
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            print(file=sys.stderr)
            req = runner.request_interrupt(session.store, run)
            answer = ask(session, req, "Stop training?", False)
            if answer.granted:
                runner.interrupt(session.store, run, answer)
        except KindredError as exc:
            print(f"kindred: {exc}", file=sys.stderr)
        finally:
            signal.signal(signal.SIGINT, on_interrupt)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _conclude(outcome: dict[str, Any], code: int | None, run: RunDir) -> int:
    kind = outcome.get("event")
    if kind == TrainingEvent.DONE and code in (0, None):
        print(outcome["version"])
        return 0
    again = "migrate" if run.plan().get("migration") else "train"
    if kind == TrainingEvent.STOPPED:
        print(f"Training stopped at step {outcome['step']}; the checkpoint is kept. "
              f"`kindred {again} --resume` continues it.", file=sys.stderr)
        return EXIT_STOPPED
    message = outcome.get("message") or (
        "The training process ended unexpectedly" + (f" (exit {code})" if code else "")
        + f". Checkpoints are kept; `kindred {again} --resume` continues from the last one.")
    raise KindredError(message)


def _show(event: dict[str, Any]) -> None:
    """Print a progress event; one with missing or mistyped fields (a damaged progress file,
    another trainer's lines) is skipped, never a crash of the command that follows the run."""
    with contextlib.suppress(KeyError, TypeError, ValueError, IndexError, OverflowError):
        _show_event(event)


def _show_event(event: dict[str, Any]) -> None:
    kind = event["event"]
    if kind == TrainingEvent.START and event.get("resumed_from"):
        print(f"Resuming from the checkpoint at step {event['resumed_from']}.", file=sys.stderr)
    elif kind == TrainingEvent.STEP:
        print(f"step {event['step']}/{event['total_steps']}  loss {event['loss']:.3f}  "
              f"{event['tokens_per_s']:.0f} tok/s  ETA {estimate.human(event['eta_s'])}",
              file=sys.stderr, flush=True)
    elif kind == TrainingEvent.LOADED:
        how = "from the cache" if event.get("cached") else "from the GGUF (first time)"
        print(f"Base model loaded {how} in {event.get('load_s', 0):.1f} s.", file=sys.stderr)
    elif kind == TrainingEvent.EVAL:
        held = event.get("heldout_loss")
        extra = f", held-out loss {held:.3f}" if held is not None else ""
        print(f"Loss on the training data ({event['when']}): {event['train_loss']:.3f}{extra}",
              file=sys.stderr)
    elif kind == TrainingEvent.CHECKPOINT:
        print(f"Checkpoint at step {event['step']}.", file=sys.stderr)
    elif kind == TrainingEvent.PAUSED:
        print("Paused (the window asked): waiting between two steps.", file=sys.stderr)
    elif kind == TrainingEvent.RESUMED:
        print("Resumed.", file=sys.stderr)
    elif kind == TrainingEvent.TEACHER and "examples" in event:  # the summary, once
        print(f"The assistant with your examples in mind answered {event['total']} requests; "
              f"{event['examples']} answers are learned from (one that lost a fact or "
              "looped is not).", file=sys.stderr)
    elif kind == TrainingEvent.ARCHIVED:
        print(f"Archived candidate version {event['version'][:12]}. Activate it with "
              f"`kindred versions activate {event['version'][:12]}`.", file=sys.stderr)
