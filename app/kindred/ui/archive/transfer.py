"""History's Import and Export, as jobs for the background-task helper: each runs on a pool
thread with its own database connection (they hash files)."""

from __future__ import annotations

from pathlib import Path

from kindred.core.archive.versions import Version
from kindred.core.home.assistants import get_assistant


def import_in_home(home: Path, assistant_id: int, path: str) -> Version:
    """Pool thread, own session: archive an adapter file or PEFT folder as a candidate."""
    from kindred.core.archive.adapter_import import import_adapter
    from kindred.core.session import open_session

    session = open_session(home)
    try:
        return import_adapter(session.store, get_assistant(session.store, assistant_id), path)
    finally:
        session.close()


def export_in_home(home: Path, assistant_id: int, path: str) -> object:
    """Pool thread, own session: write the assistant and its whole history to a bundle."""
    from kindred.core.bundles.bundle import export_bundle
    from kindred.core.session import open_session

    session = open_session(home)
    try:
        return export_bundle(session.store, get_assistant(session.store, assistant_id), path)
    finally:
        session.close()
