"""TEMPORARY shim while work in flight moves: use kindred.core.basics.errors."""

from kindred.core.basics.errors import *  # noqa: F403
