"""Loaded into every Python process of a watched session (PYTHONPATH): records any attempt to
reach the network (a non-local socket connection, a name lookup) in $KINDRED_NET_LOG."""

import os
import socket
import sys

_LOG = os.environ.get("KINDRED_NET_LOG")
_NETWORK = ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
            "socket.sendmsg", "socket.gethostbyaddr", "urllib.Request", "http.client.connect")


def _hook(event: str, args: tuple) -> None:  # type: ignore[type-arg]
    if not _LOG or event not in _NETWORK:
        return
    if event == "socket.connect" and getattr(args[0], "family", None) == socket.AF_UNIX:
        return  # a local socket (e.g. the desktop session), not the network
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()} {' '.join(sys.argv)[:120]}: {event} {args[1:]!r}\n")


sys.addaudithook(_hook)
