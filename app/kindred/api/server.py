"""uvicorn running the API: in the foreground (`kindred serve`) or on a thread (the window).

Binds 127.0.0.1 unless another address is asked for explicitly (`allow_remote`): another
computer on the network could then reach the assistant with the key alone.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from kindred.api.app import Service, create_app
from kindred.api.hosts import Host
from kindred.api.settings import LOOPBACK
from kindred.core.basics.errors import KindredError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse an address other programs on the network could reach, unless asked for."""
    if not is_loopback(host) and not allow_remote:
        raise KindredError(
            f"Serving on {host} would let other computers on the network talk to your "
            "assistant (with the key). Kindred serves on 127.0.0.1 only unless you add "
            "--allow-remote. Nothing was started.")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, opened here so a port in use is a clear message."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise KindredError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Choose "
                           "another port (--port). Nothing was started.") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(home: Path, host_engine: Host, sock: socket.socket,
                on_answer: Callable[[int, Any], None] | None = None
                ) -> tuple[uvicorn.Server, Service]:
    service = Service(Path(home), host_engine, on_answer)
    config = uvicorn.Config(create_app(service), log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=3)
    return uvicorn.Server(config), service


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/v1"


class ServerThread:
    """The API on a thread of its own (the window): `start`, `stop`; the socket is open only
    between the two."""

    def __init__(self, home: Path, host_engine: Host, *, port: int, host: str = LOOPBACK,
                 on_answer: Callable[[int, Any], None] | None = None) -> None:
        self.sock = bind(host, port)
        self.server, self.service = make_server(home, host_engine, self.sock, on_answer)
        self.address = address(self.sock)
        self._thread = threading.Thread(target=self._run, name="kindred-api", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        finally:
            self.service.close()

    def start(self) -> ServerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.sock.close()
