"""Dialogs: each does one thing through the core and says clearly when it could not."""
