"""Versions kept forever: History, the ledger, usage, comparing two versions, importing an
assistant.
"""
