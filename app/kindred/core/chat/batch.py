"""TEMPORARY shim while work in flight moves: use kindred.core.engine.batch."""

from kindred.core.engine.batch import *  # noqa: F403
