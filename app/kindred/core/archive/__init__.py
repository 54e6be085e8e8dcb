"""Versions kept forever: archive, catalog, verification, lifecycle, ledger, bundles, recovery."""
