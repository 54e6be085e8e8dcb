"""TEMPORARY shim while work in flight moves: use kindred.core.home.consent."""

from kindred.core.home.consent import *  # noqa: F403
