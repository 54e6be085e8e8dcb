"""TEMPORARY shim while work in flight moves: use kindred.core.home.atomic."""

from kindred.core.home.atomic import *  # noqa: F403
