"""Bring an assistant to life: its base model in an engine, with its active adapters attached."""

from __future__ import annotations

from kindred.core.engine.llama import AdapterRef, Engine
from kindred.core.home.assistants import Assistant
from kindred.core.session import Session


def adapter_refs_for(session: Session, assistant: Assistant) -> list[AdapterRef]:
    """The adapters the assistant talks through now, verified: a rollout's blend, else its
    active version, if any."""
    from kindred.core.archive import objects as archive

    return archive.adapter_refs(session.store, assistant)


def load_engine(session: Session, assistant: Assistant, *, n_ctx: int | None = None) -> Engine:
    model = session.model_for(assistant)
    kwargs = {"n_ctx": n_ctx} if n_ctx else {}
    engine = Engine(model.path, **kwargs)
    refs = adapter_refs_for(session, assistant)
    if refs:
        engine.set_adapters(refs)
    return engine
