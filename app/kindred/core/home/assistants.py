"""Assistants: a name, a persona, a base model, sampling settings and the active adapter version."""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, fields
from typing import Any

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.ids import AssistantId, VersionId
from kindred.core.basics.sampling import Sampling
from kindred.core.home import ledger
from kindred.core.home.models import ensure_embedded_model, get_model
from kindred.core.home.store import Store, insert, now

DEFAULT_NAME = "Kindred"
DEFAULT_PERSONA = "You are a helpful, friendly assistant. Answer clearly and concisely."
MAX_NAME = 100


def clean_name(name: str) -> str:
    """An assistant's name as it is stored: text a person reads, one line, no control characters
    (NUL, or ESC that would recolour a terminal), at most MAX_NAME characters."""
    if not isinstance(name, str):
        raise KindredError("An assistant's name must be text. Nothing was changed.")
    name = name.strip()
    if not name:
        raise KindredError("An assistant needs a name.")
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")),
               None)
    if bad is not None:
        raise KindredError(f"An assistant's name cannot hold the control character U+{ord(bad):04X}"
                           ". Nothing was changed.")
    if len(name) > MAX_NAME:
        raise KindredError(f"An assistant's name is at most {MAX_NAME} characters (this one has "
                           f"{len(name)}). Nothing was changed.")
    return name


def parse_key(key: int | str) -> int | str:
    """How a person names an assistant: by its name (text, even `7`), or by id as `#7`."""
    if isinstance(key, str) and key.startswith("#") and key[1:].isdigit():
        return int(key[1:])
    return key


@dataclass(frozen=True)
class Assistant:
    id: AssistantId
    name: str
    persona: str
    model_id: str
    sampling: Sampling
    active_version: VersionId | None
    created_at: float

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Assistant:
        sampling = Sampling(**{f.name: row[f.name] for f in fields(Sampling)})
        return cls(row["id"], row["name"], row["persona"], row["model_id"], sampling,
                   row["active_version"], row["created_at"])

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "persona": self.persona,
                "model": self.model_id, "sampling": asdict(self.sampling),
                "active_version": self.active_version, "created_at": self.created_at}


def create_assistant(store: Store, name: str, *, model_id: str | None = None,
                     persona: str = DEFAULT_PERSONA, sampling: Sampling | None = None
                     ) -> Assistant:
    name = clean_name(name)
    if store.db.execute("SELECT 1 FROM assistants WHERE name = ?", [name]).fetchone():
        raise KindredError(f"There is already an assistant named '{name}'.")
    model = get_model(store, model_id) if model_id else ensure_embedded_model(store)
    values = asdict((sampling or Sampling()).validated())
    with store.tx() as db:
        new_id = insert(db, "assistants",
            {"name": name, "persona": persona, "model_id": model.id, "created_at": now(),
             **values}
        )
        ledger.append(store, "assistant_created", {"name": name, "model": model.id},
                      assistant_id=AssistantId(new_id))
    return get_assistant(store, int(new_id))


def ensure_default_assistant(store: Store) -> Assistant:
    """First run: one assistant on the embedded model, so the app is usable at once."""
    row = store.db.execute("SELECT id FROM assistants ORDER BY id LIMIT 1").fetchone()
    if row is not None:
        return get_assistant(store, int(row[0]))
    return create_assistant(store, DEFAULT_NAME)


def list_assistants(store: Store) -> list[Assistant]:
    return [Assistant.from_row(r) for r in store.db.table("assistants").rows_where(order_by="id")]


def get_assistant(store: Store, key: int | str) -> Assistant:
    """By id (an int, or `#7`) or by name (any other text, even `7`)."""
    key = parse_key(key)
    column = "id" if isinstance(key, int) else "name"
    rows = list(store.db.query(f"SELECT * FROM assistants WHERE {column} = ?", [key]))
    if not rows:
        raise NotFoundError(f"No assistant '{key}'. See `kindred assistants list`.")
    return Assistant.from_row(rows[0])


def update_assistant(store: Store, assistant_id: AssistantId, *, name: str | None = None,
                     persona: str | None = None, sampling: Sampling | None = None
                     ) -> Assistant:
    """Persona and sampling settings; the base model and active adapter change elsewhere."""
    changes: dict[str, Any] = {}
    if name is not None:
        name = clean_name(name)
        clash = store.db.execute(
            "SELECT 1 FROM assistants WHERE name = ? AND id != ?", [name, assistant_id]
        ).fetchone()
        if clash:
            raise KindredError(f"There is already an assistant named '{name}'.")
        changes["name"] = name
    if persona is not None:
        changes["persona"] = persona
    if sampling is not None:
        changes.update(asdict(sampling.validated()))
    get_assistant(store, assistant_id)
    if changes:
        with store.tx() as db:
            db.table("assistants").update(assistant_id, changes)
    return get_assistant(store, assistant_id)
