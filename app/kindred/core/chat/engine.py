"""TEMPORARY shim while work in flight moves: use kindred.core.engine.llama."""

from kindred.core.engine.llama import *  # noqa: F403
