"""TEMPORARY shim while work in flight moves: use kindred.core.home.store."""

from kindred.core.home.store import *  # noqa: F403
