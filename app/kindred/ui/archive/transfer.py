"""History's Import and Export, as operations (`ui.ops`): they hash files, so they run in the
background with their own session."""

from __future__ import annotations

from kindred.core.archive.versions import Version
from kindred.core.basics.ids import AssistantId
from kindred.core.home.assistants import get_assistant
from kindred.ui.ops.op import OpContext


def import_in_home(op: OpContext, assistant_id: AssistantId, path: str) -> Version:
    """Archive an adapter file or PEFT folder as a candidate."""
    from kindred.core.archive.adapter_import import import_adapter

    store = op.session.store
    return import_adapter(store, get_assistant(store, assistant_id), path)


def export_in_home(op: OpContext, assistant_id: AssistantId, path: str) -> object:
    """Write the assistant and its whole history to a bundle."""
    from kindred.core.bundles.bundle import export_bundle

    store = op.session.store
    return export_bundle(store, get_assistant(store, assistant_id), path)
