"""Errors a person can read: every message says what went wrong and that nothing was changed."""


class KindredError(Exception):
    """Base for expected failures: shown to the user as-is, never as a traceback."""


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
