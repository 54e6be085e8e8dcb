"""TEMPORARY shim while work in flight moves: use kindred.core.home.paths."""

from kindred.core.home.paths import *  # noqa: F403
