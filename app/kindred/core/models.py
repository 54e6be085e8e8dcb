"""TEMPORARY shim while work in flight moves: use kindred.core.home.models."""

from kindred.core.home.models import *  # noqa: F403
