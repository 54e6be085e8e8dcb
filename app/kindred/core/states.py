"""TEMPORARY shim while work in flight moves: use kindred.core.basics.states."""

from kindred.core.basics.states import *  # noqa: F403
