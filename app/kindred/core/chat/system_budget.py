"""TEMPORARY shim while work in flight moves: use kindred.core.engine.system_budget."""

from kindred.core.engine.system_budget import *  # noqa: F403
