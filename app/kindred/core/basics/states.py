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


class FeedbackKind(StrEnum):
    """What the person gives (`learning.feedback`)."""

    RATING = "rating"  # a thumbs up (1) or down (-1) on an answer
    CORRECTION = "correction"  # a better answer written in place of one
    PREFERENCE = "preference"  # something stated once, kept in the system prompt


class TaughtKind(StrEnum):
    """What training learns from (`learning.dataset` examples made of the feedback)."""

    CORRECTION = "correction"
    LIKED = "liked"  # an answer rated up
    PREFERENCE = "preference"


TAUGHT_KINDS = tuple(TaughtKind)


class RunStatus(StrEnum):
    """A training run's recorded status (`training.run.RunDir.status`)."""

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"  # asked to stop: checkpoint written, resumable
    FAILED = "failed"  # an error it could explain; resumable
    DONE = "done"  # archived as a candidate version
    KILLED = "killed"  # said running, but no trainer holds it: resumable


RESUMABLE = (RunStatus.CREATED, RunStatus.STOPPED, RunStatus.FAILED, RunStatus.KILLED)


class TrainingEvent(StrEnum):
    """The kinds of event a training (or preparation) process writes, one JSON line each
    (their fields: `training.runner`'s docstring)."""

    START = "start"
    LOADING = "loading"
    LOADED = "loaded"
    PRECISION = "precision"
    TEACHER = "teacher"  # the teacher-with-context answering (progress)
    REPLAY = "replay"  # the base's replayed answers (progress)
    EVAL = "eval"
    STEP = "step"
    CHECKPOINT = "checkpoint"
    PAUSED = "paused"
    RESUMED = "resumed"
    QUALITY = "quality"  # the quality card being made (progress)
    LEARNED = "learned"
    ARCHIVED = "archived"
    PROGRESS = "progress"  # a preparation's progress
    BUSY = "busy"  # a preparation found another at work
    STOPPED = "stopped"
    DONE = "done"
    ERROR = "error"


RUN_ENDS = (TrainingEvent.DONE, TrainingEvent.STOPPED, TrainingEvent.ERROR)
"""The events after which a process writes nothing more."""


STATEFUL_KINDS = (ConsentKind.ACTIVATE, ConsentKind.RESTORE, ConsentKind.RETIRE,
                  ConsentKind.DELETE, ConsentKind.ROLLOUT)
"""Consents that change what the assistant talks through or what it keeps: each names the state
it was granted against, and is refused as stale when that state changed before it is used."""
