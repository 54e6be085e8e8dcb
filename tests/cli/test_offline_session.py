"""No network, proven for a whole session: teach, train (its own process), chat, what a version
learned (insight), usage, export and import, each a real `kindred` process with an audit hook
(tests/support/netwatch) recording any socket connection or name lookup. None may happen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kindred.core.home.paths import DataHome
from kindred.core.session import Session
from support.training_helpers import PIRATE, add_examples, use_shared_cache

WATCH = Path(__file__).parents[1] / "support" / "netwatch"


@pytest.mark.slow
def test_a_whole_session_opens_no_network_socket(home: DataHome, session: Session,
                                                 tmp_path: Path) -> None:
    use_shared_cache(home, session.model_for(session.assistant()).sha256)
    add_examples(session, PIRATE[:3])
    log = tmp_path / "net.log"
    env = {**os.environ, "KINDRED_NET_LOG": str(log), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(WATCH), os.environ.get("PYTHONPATH", "")])}

    def kindred(*args: str, timeout: float = 600) -> str:
        out = subprocess.run([sys.executable, "-m", "kindred", *args, "--home", str(home.root)],
                             capture_output=True, text=True, env=env, timeout=timeout,
                             check=False)
        assert out.returncode == 0, (args, out.stderr[-2000:])
        return out.stdout

    probe = subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo("
                            "'example.org', 80)"], env=env, capture_output=True, check=False)
    assert "socket.getaddrinfo" in log.read_text()  # the watch works (the lookup may fail)
    assert probe.returncode in (0, 1)
    log.unlink()

    kindred("teach", "Answer like a pirate.")
    version = kindred("train", "--yes", "--steps", "3").strip().splitlines()[-1]
    kindred("versions", "activate", version, "--yes")
    kindred("chat", "-m", "Hello!")
    kindred("learned", "--json")
    kindred("usage")
    kindred("export", "#1", str(tmp_path / "all.bundle"))
    other = tmp_path / "other"
    subprocess.run([sys.executable, "-m", "kindred", "import", str(tmp_path / "all.bundle"),
                    "--home", str(other)], env=env, capture_output=True, timeout=600,
                   check=True)
    assert not log.exists(), log.read_text()
