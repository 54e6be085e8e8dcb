"""`kindred chat`: talk to an assistant in the terminal, or get one reply with `-m`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.cli.rollout import interview_now
from kindred.core.archive import versions
from kindred.core.basics.ids import ConversationId
from kindred.core.basics.states import RolloutState
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import create_conversation
from kindred.core.chat.runtime import adapter_refs_for, load_engine
from kindred.core.engine.llama import Engine
from kindred.core.home.assistants import Assistant, get_assistant
from kindred.core.session import Session, open_session
from kindred.core.upgrades import rollout, trial


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("chat", parents=[common], help="chat in the terminal")
    p.add_argument("-m", "--message", help="send one message, print the reply, exit")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    session = open_session(args.home)
    assistant = session.assistant(args.assistant)
    engine = load_engine(session, assistant)
    conversation = create_conversation(session.store, assistant.id)
    interactive = args.message is None
    if interactive:
        print(f"Chatting with {assistant.name} ({session.model_for(assistant).name}, "
              f"{_using(session, engine, assistant)}). Ctrl+D to quit, Ctrl+C stops an answer.",
              file=sys.stderr)
    while True:
        if interactive:
            try:
                text = input("> ")
            except EOFError:
                print(file=sys.stderr)
                return 0
            if not text.strip():
                continue
        else:
            text = args.message
        if trial.current(session.store, assistant.id) is not None:
            _trial_round(session, engine, assistant, conversation.id, text)
            if not interactive:
                return 0
            continue
        turn = chat.prepare(session.store, assistant, conversation.id, text)
        generation = engine.chat(turn.messages, turn.sampling)
        if generation.stats.system_note:  # the persona or preferences did not all fit
            print(generation.stats.system_note, file=sys.stderr)
        try:
            for piece in generation:
                sys.stdout.write(piece)
                sys.stdout.flush()
        except KeyboardInterrupt:
            engine.cancel()
            generation.stats.finish_reason = "cancelled"
        sys.stdout.write("\n")
        sys.stdout.flush()
        chat.save_answer(session.store, conversation.id, generation.partial,
                         generation.stats)
        print(f"({_using(session, engine, assistant)})", file=sys.stderr)
        _after_answer(session, engine, assistant)
        if not interactive:
            return 0


def _using(session: Session, engine: Engine, assistant: Assistant) -> str:
    """The blend answering, as the small print says it: "Version 3 50 % + Version 4 50 %"
    (the names of the assistant chatted with: `-a` may name another than the first)."""
    if not engine.adapters:
        return "no adapter"
    named = versions.names(session.store, assistant.id)
    return rollout.blend_label(named, [(a.key, a.scale) for a in engine.adapters])


def _after_answer(session: Session, engine: Engine, assistant: Assistant) -> None:
    """The rollout's pace: a step that is due is taken (the engine follows); a finished
    rollout's outgoing version is interviewed at once."""
    changed = rollout.advance_if_due(session.store, assistant.id)
    if changed is None:
        return
    if changed.state == RolloutState.STOPPED:
        print(changed.reason, file=sys.stderr)
        return
    named = versions.names(session.store, assistant.id)
    print(f"Rollout: now {rollout.blend_label(named, changed.adapters)}.", file=sys.stderr)
    engine.set_adapters(adapter_refs_for(session, get_assistant(session.store, assistant.id)))
    if changed.state == RolloutState.FINISHED and changed.from_version:
        interview_now(session, changed.from_version)


def _trial_round(session: Session, engine: Engine, assistant: Assistant,
                 conversation_id: ConversationId, text: str) -> None:
    """Both versions answer, unnamed and in random order; the person picks (blind)."""
    round_ = trial.run_round(session.store, engine, assistant, conversation_id, text)
    first, second = trial.answers(session.store, round_)
    for label, message in (("1", first), ("2", second)):
        print(f"--- Answer {label} ---\n{message.content if message else ''}")
    sys.stdout.flush()  # the answers before the question, also when stdout is a pipe
    sys.stderr.write("Which is better? [1/2/s(ame)] ")
    sys.stderr.flush()
    pick = {"1": "first", "2": "second", "s": "same", "same": "same"}.get(
        sys.stdin.readline().strip().lower())
    if pick is None:
        print("No pick: the round stays open (pick later in the app).", file=sys.stderr)
        return
    decided = trial.choose(session.store, round_.id, pick)
    running = trial.get_trial(session.store, decided.trial_id)
    names = trial.labels(session.store, running)
    print(f"Answer 1 was {names[decided.first_is]}, answer 2 was "
          f"{names[decided.version_of('second')]}. Tally: "
          f"{trial.tally(session.store, assistant.id, running.a_version, running.b_version).text}"
          ".", file=sys.stderr)
