"""TEMPORARY shim while work in flight moves: use kindred.core.basics.hashing."""

from kindred.core.basics.hashing import *  # noqa: F403
