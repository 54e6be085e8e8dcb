"""The vocabularies of the assistant's state, as types: one place says which words exist.

StrEnum members compare equal to their strings, so rows read from SQLite and JSON written by
earlier versions keep working; what changes is that a transition table can be written, read and
checked (`archive.assistant_state.TRANSITIONS`), and mypy sees a misspelt status.
"""

from __future__ import annotations

from enum import StrEnum


class VersionStatus(StrEnum):
    """Where an archived adapter version stands. `deleted` is final (a tombstone)."""

    CANDIDATE = "candidate"  # new, awaiting the person's decision
    TRIAL = "trial"  # being phased in by a rollout
    ACTIVE = "active"  # what the assistant talks through (at most one per assistant)
    REFUSED = "refused"  # the person said no; weights kept
    RETIRED = "retired"  # no longer used; weights kept, restorable
    DELETED = "deleted"  # weights removed with consent; the row stays with every hash


class VersionSource(StrEnum):
    TRAINED = "trained"
    IMPORTED = "imported"
    MIGRATED = "migrated"


class RolloutState(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    HELD = "held"  # a side-by-side trial says the incoming version loses
    STOPPED = "stopped"  # a damaged version was found at a step
    FINISHED = "finished"
    ROLLED_BACK = "rolled_back"


OPEN_ROLLOUT = (RolloutState.RUNNING, RolloutState.PAUSED, RolloutState.HELD,
                RolloutState.STOPPED)


class TrialState(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class ConsentKind(StrEnum):
    TRAIN = "train"
    ACTIVATE = "activate"
    RESTORE = "restore"
    ROLLOUT = "rollout"
    MIGRATE = "migrate"
    INTERRUPT = "interrupt"
    DELETE = "delete"
    RETIRE = "retire"
    REMOVE_MODEL = "remove_model"


class ConsentVia(StrEnum):
    GUI = "gui"
    CLI_PROMPT = "cli-prompt"
    CLI_FLAG = "cli-flag"


STATEFUL_KINDS = (ConsentKind.ACTIVATE, ConsentKind.RESTORE, ConsentKind.RETIRE,
                  ConsentKind.DELETE, ConsentKind.ROLLOUT)
"""Consents that change what the assistant talks through or what it keeps: each names the state
it was granted against, and is refused as stale when that state changed before it is used."""
