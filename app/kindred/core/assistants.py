"""TEMPORARY shim while work in flight moves: use kindred.core.home.assistants."""

from kindred.core.home.assistants import *  # noqa: F403
