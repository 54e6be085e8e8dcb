"""Errors a person can read: every message says what went wrong and that nothing was changed."""


class KindredError(Exception):
    """Base for expected failures: shown to the user as-is, never as a traceback."""


class NotFoundError(KindredError):
    """A named thing (model, assistant, conversation, version) does not exist."""
