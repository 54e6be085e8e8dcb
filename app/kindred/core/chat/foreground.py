"""TEMPORARY shim while work in flight moves: use kindred.core.engine.foreground."""

from kindred.core.engine.foreground import *  # noqa: F403
