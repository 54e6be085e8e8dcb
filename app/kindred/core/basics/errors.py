"""Errors a person can read: every message says what went wrong and that nothing was changed."""

import re

_REPEATED = re.compile(r"(\.?) Nothing was changed\.(?:\.? Nothing was changed\.)+\.?")


def said_once(message: str) -> str:
    """The message with "Nothing was changed." said once: an error that quotes another may
    repeat it ("...: Bad name. Nothing was changed.. Nothing was changed.")."""
    return _REPEATED.sub(r"\1 Nothing was changed.", message)


class KindredError(Exception):
    """Base for expected failures: shown to the user as-is, never as a traceback. Its message
    says "Nothing was changed." at most once, whoever shows it (the window or the CLI)."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (said_once(args[0]),)
        super().__init__(*args)


class NotFoundError(KindredError):
    """A named thing (model, assistant, conversation, version) does not exist."""


class DiskFullError(KindredError):
    """The disk (or the user's quota) is full: the write was undone, nothing was lost."""


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC/EDQUOT from the OS, SQLite's "database or disk is full", or a library's wrapped
    ENOSPC (safetensors reports "No space left on device (os error 28)")."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return any(s in text for s in ("database or disk is full", "No space left on device",
                                   "Disk quota exceeded"))


def disk_full(where: object) -> DiskFullError:
    return DiskFullError(f"The disk holding {where} is full. The write was undone and nothing "
                         "was lost; free some space and try again.")
