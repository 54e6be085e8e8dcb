"""TEMPORARY shim while work in flight moves: use kindred.core.home.ledger_consents."""

from kindred.core.home.ledger_consents import *  # noqa: F403
