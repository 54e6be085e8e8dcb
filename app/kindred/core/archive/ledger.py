"""TEMPORARY shim while work in flight moves: use kindred.core.home.ledger."""

from kindred.core.home.ledger import *  # noqa: F403
