"""TEMPORARY shim while work in flight moves: use kindred.core.basics.progress."""

from kindred.core.basics.progress import *  # noqa: F403
