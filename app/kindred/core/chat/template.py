"""TEMPORARY shim while work in flight moves: use kindred.core.engine.template."""

from kindred.core.engine.template import *  # noqa: F403
