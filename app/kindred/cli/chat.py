"""`kindred chat`: talk to an assistant in the terminal, or get one reply with `-m`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kindred.core.archive import versions
from kindred.core.chat import turns as chat
from kindred.core.chat.conversations import create_conversation
from kindred.core.chat.runtime import load_engine
from kindred.core.session import open_session


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
        active = versions.active_version(session.store, assistant.id)
        using = versions.name_of(session.store, active) if active else "no adapter"
        print(f"Chatting with {assistant.name} ({session.model_for(assistant).name}, {using}). "
              "Ctrl+D to quit, Ctrl+C stops an answer.", file=sys.stderr)
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
        if not interactive:
            return 0
