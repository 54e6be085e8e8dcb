"""`kindred serve`: other apps on this computer talk to an assistant through an
OpenAI-compatible API (http://127.0.0.1:PORT/v1, the data home's key as Bearer). Foreground;
Ctrl+C stops it. `--show-key` and `--new-key` print the key (the second makes a new one)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from kindred.cli.numbers import whole
from kindred.core.basics.errors import KindredError


def register(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "serve", parents=[common],
        help="let other apps on this computer talk to an assistant (OpenAI-compatible API)")
    p.add_argument("-a", "--assistant", help="assistant name (default: the first)")
    p.add_argument("--port", type=whole(1, 65535), default=None,
                   help="port to listen on (default: the one saved, 8477)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this computer only)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow an address other computers can reach (with the key)")
    p.add_argument("--threads", type=whole(1, 256), default=None,
                   help="llama.cpp threads (default: the cores, up to 8)")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--show-key", action="store_true", help="print the access key and exit")
    keys.add_argument("--new-key", action="store_true",
                      help="make a new access key (apps using the old one are refused), "
                           "print it and exit")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from kindred.api import settings
    from kindred.core.home.paths import resolve_home

    home = resolve_home(args.home).root
    if args.show_key or args.new_key:
        saved = settings.regenerate_key(home) if args.new_key else settings.load(home)
        print(saved.key)
        return 0
    from kindred.api import server
    from kindred.api.hosts import ThreadHost
    from kindred.core.session import open_session

    server.check_host(args.host, args.allow_remote)
    saved = settings.load(home)
    session = open_session(home)
    try:
        assistant = session.assistant(args.assistant)
        model = session.model_for(assistant)
    finally:
        session.close()
    sock = server.bind(args.host, args.port or saved.port)
    try:
        engine_host = ThreadHost(model.path, n_threads=args.threads)
    except KindredError:
        sock.close()
        raise
    api, service = server.make_server(home, engine_host, sock)

    async def serve() -> None:
        try:
            await api.serve(sockets=[sock])
        finally:
            service.close()  # its database connection belongs to this loop's thread

    if not server.is_loopback(args.host):
        print(f"Warning: listening on {args.host}: other computers on the network can reach "
              f"{assistant.name} with the key.", file=sys.stderr)
    print(f"Serving {assistant.name} at {server.address(sock)} (model 'kindred/"
          f"{assistant.name}'). Key: `kindred serve --show-key`. Ctrl+C stops.",
          file=sys.stderr, flush=True)
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        engine_host.close()
        sock.close()
    print("Stopped.", file=sys.stderr)
    return 0
