"""Opening a data home: the database, the default model and the default assistant, ready to use."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kindred.core.archive.objects import recover
from kindred.core.home.assistants import Assistant, ensure_default_assistant, get_assistant
from kindred.core.home.models import Model, ensure_embedded_model, get_model
from kindred.core.home.paths import DataHome, resolve_home
from kindred.core.home.store import Store, open_store


@dataclass
class Session:
    home: DataHome
    store: Store

    def assistant(self, key: int | str | None = None) -> Assistant:
        """The named assistant (by name, or by id as an int or `#7`), or the first one."""
        if key is None:
            return ensure_default_assistant(self.store)
        return get_assistant(self.store, key)

    def model_for(self, assistant: Assistant) -> Model:
        return get_model(self.store, assistant.model_id)

    def close(self) -> None:
        self.store.close()


def open_session(home: str | os.PathLike[str] | Path | None = None) -> Session:
    """First run registers the embedded model and creates the default assistant."""
    data_home = resolve_home(home)
    store = open_store(data_home)
    recover(store)  # leftovers of a killed process: scratch folders, half-done deletions
    ensure_embedded_model(store)
    ensure_default_assistant(store)
    return Session(data_home, store)
