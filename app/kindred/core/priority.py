"""TEMPORARY shim while work in flight moves: use kindred.core.basics.priority."""

from kindred.core.basics.priority import *  # noqa: F403
