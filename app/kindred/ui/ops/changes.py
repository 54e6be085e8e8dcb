"""One signal for "something changed": an operation says what it changed, pages that show it
reload. Pages no longer wire each other's signals by hand; an operation need not know who
shows what it changed (Anki's `operation_did_execute`)."""

from __future__ import annotations

from enum import StrEnum

from PySide6.QtCore import QObject, Signal


class Change(StrEnum):
    SPEAKS = "speaks"  # what the assistant talks through (the chat reloads its engine)
    VERSIONS = "versions"  # archived, activated, retired, deleted, imported
    ROLLOUT = "rollout"  # a phase-in or trial started, stepped, paused, ended
    MODELS = "models"  # a base model added or removed
    FEEDBACK = "feedback"  # ratings, corrections, preferences
    ASSISTANTS = "assistants"  # created, renamed, its settings
    CONVERSATIONS = "conversations"


class ChangeBus(QObject):
    changed = Signal(object)  # frozenset[Change]
    failed = Signal(str)  # an operation's error nobody handled: the window says it


_bus: ChangeBus | None = None


def bus() -> ChangeBus:
    """The application's one bus (made on first use, on the main thread)."""
    global _bus
    if _bus is None:
        _bus = ChangeBus()
    return _bus


def announce(*changes: Change) -> None:
    if changes:
        bus().changed.emit(frozenset(changes))
