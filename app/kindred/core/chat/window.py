"""TEMPORARY shim while work in flight moves: use kindred.core.engine.window."""

from kindred.core.engine.window import *  # noqa: F403
