"""The API's settings for one data home, in `api.json` (mode 0600): the access key, whether the
window serves, which assistant, the port, and whether API conversations are kept in the history.

The key is random (`secrets`), made the first time it is asked for, and regenerated only on
request. Nothing here opens a socket: the file says what the person chose.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

FILE = "api.json"
DEFAULT_PORT = 8477
LOOPBACK = "127.0.0.1"
KEY_PREFIX = "kindred-"


@dataclass(frozen=True)
class ApiSettings:
    key: str = ""
    serving: bool = False          # the window serves (off by default)
    assistant: str = ""            # the assistant's name ("" = the first one)
    port: int = DEFAULT_PORT
    keep_content: bool = False     # API conversations kept in the history (default: counted only)


def _path(home: Path) -> Path:
    return Path(home) / FILE


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)


def load(home: Path) -> ApiSettings:
    """The saved settings (defaults where the file is missing or unreadable), with a key."""
    path = _path(home)
    try:
        data = json.loads(path.read_text("utf-8"))
        fields = set(ApiSettings.__dataclass_fields__)
        settings = ApiSettings(**{k: v for k, v in data.items() if k in fields})
        if not isinstance(settings.port, int) or not 1 <= settings.port <= 65535:
            settings = replace(settings, port=DEFAULT_PORT)
    except (OSError, ValueError, TypeError):
        settings = ApiSettings()
    if not settings.key:
        settings = replace(settings, key=new_key())
        save(home, settings)
    return settings


def save(home: Path, settings: ApiSettings) -> ApiSettings:
    """Write atomically, readable by the person only (the key is a secret)."""
    path = _path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".api-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(settings), out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return settings


def update(home: Path, **changes: object) -> ApiSettings:
    return save(home, replace(load(home), **changes))  # type: ignore[arg-type]


def regenerate_key(home: Path) -> ApiSettings:
    """A new key: apps using the old one are refused from the next request on."""
    return update(home, key=new_key())
