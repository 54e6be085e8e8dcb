"""The one background-task helper: run a slow core function off the event loop.

A task is a plain function, or a generator that yields progress events and returns its result
(the core's one progress rule, `core.basics.progress`). It runs on Qt's global thread pool; the
callbacks (`on_done`, `on_error`, `on_progress`) run on the main thread, so they may touch
widgets and the database freely.
Only `KindredError`s are expected; anything else is reported with its type so it is not lost.
A `background` task (llama.cpp work the person need not wait for while chatting: an insight on
What it learned, a retirement interview) runs on a pool of its own at the lowest priority,
so an answer being written in the chat keeps its speed (bench/contention.py).
"""

from __future__ import annotations

import contextlib
import inspect
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal

from kindred.core.basics.errors import KindredError
from kindred.core.basics.priority import lower_this_thread

_running: set[Task] = set()
_pools: dict[str, QThreadPool] = {}


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(str)
    progress = Signal(object)


class Task(QRunnable):
    """One background job; keep the returned object if you want to `cancel()` it."""

    def __init__(self, fn: Callable[[], Any], background: bool = False) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.fn = fn
        self.background = background
        self.signals = _Signals()
        self.cancelled = False

    def cancel(self) -> None:
        """Ask a generator task to stop at its next progress event; callbacks are skipped."""
        self.cancelled = True

    def run(self) -> None:
        if self.background:
            lower_this_thread()  # for good: this thread only ever runs background tasks
        try:
            result = self.fn()
            if inspect.isgenerator(result):  # the progress rule: events, then a return value
                work = result
                while True:
                    try:
                        event = next(work)
                    except StopIteration as end:
                        result = end.value
                        break
                    if self.cancelled:
                        work.close()
                        return
                    self._emit(self.signals.progress, event)
        except KindredError as exc:
            self._emit(self.signals.failed, str(exc))
        except Exception as exc:  # unexpected: say what it was, keep the app alive
            traceback.print_exc()
            self._emit(self.signals.failed, f"Unexpected error ({type(exc).__name__}): {exc}")
        else:
            self._emit(self.signals.done, result)

    @staticmethod
    def _emit(signal: Any, value: Any) -> None:
        """Emit, unless the application is already gone (a task outliving the app at exit
        has nobody left to tell; its work is either stored or, like an interview, resumed)."""
        with contextlib.suppress(RuntimeError):  # "Signal source has been deleted"
            signal.emit(value)


def run_task(fn: Callable[[], Any], *, on_done: Callable[[Any], None] | None = None,
             on_error: Callable[[str], None] | None = None,
             on_progress: Callable[[Any], None] | None = None,
             parent: QObject | None = None, background: bool = False) -> Task:
    """Start `fn` in the background; callbacks arrive on the main thread.

    With `parent`, callbacks are dropped once the parent is destroyed (a closed dialog).
    `background`: at the lowest priority, behind the chat (see the module docstring).
    """
    task = Task(fn, background)
    _running.add(task)

    def finish() -> None:
        _running.discard(task)

    def done(value: Any) -> None:
        finish()
        if not task.cancelled and on_done is not None:
            on_done(value)

    def failed(message: str) -> None:
        finish()
        if not task.cancelled and on_error is not None:
            on_error(message)

    if parent is not None:
        parent.destroyed.connect(task.cancel)
    # Queued: the callbacks run on the thread that owns `task.signals`, the main thread.
    queued = Qt.ConnectionType.QueuedConnection
    task.signals.done.connect(done, queued)
    task.signals.failed.connect(failed, queued)
    if on_progress is not None:
        task.signals.progress.connect(
            lambda event: None if task.cancelled else on_progress(event), queued)
    _pool(background).start(task)
    return task


def _pool(background: bool) -> QThreadPool:
    """Qt's global pool, or the lowered one (made on first use; its threads stay lowered)."""
    if not background:
        return QThreadPool.globalInstance()
    if "background" not in _pools:
        _pools["background"] = QThreadPool()
        _pools["background"].setMaxThreadCount(2)
    return _pools["background"]


def wait_all(timeout_ms: int = 30000) -> bool:
    """Block until every background task ended (at shutdown and in tests)."""
    done = QThreadPool.globalInstance().waitForDone(timeout_ms)
    return bool(done and all(pool.waitForDone(timeout_ms) for pool in _pools.values()))
