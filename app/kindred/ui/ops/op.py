"""The one way the window runs a core operation in the background (Anki's `CollectionOp`).

The work gets an `OpContext`: its own session on the data home (SQLite connections are per
thread) and, when asked, the llama.cpp engine for an assistant's base, both opened on the pool
thread and closed when the work ends, whatever happens. A slow operation is a generator that
yields `Progress` and returns its result (the one progress rule, `core.basics.progress`); a
quick one just returns. Errors go to `on_error`, or else to the window's one place for them
(`changes.bus().failed`); what it changed is announced on the change bus once it succeeded.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject

from kindred.core.engine.llama import Engine
from kindred.core.home.assistants import Assistant
from kindred.core.session import Session, open_session
from kindred.ui.kit.tasks import Task, run_task
from kindred.ui.ops.changes import Change, announce, bus

Work = Callable[["OpContext"], Any]
"""A function of the context: a result, or a generator of progress returning one."""


@dataclass
class OpContext:
    """What an operation works with, on its pool thread."""

    session: Session
    _engines: dict[Path, Engine] = field(default_factory=dict)

    def engine_for(self, assistant: Assistant, **options: Any) -> Engine:
        """The engine on `assistant`'s base model, loaded once for this operation."""
        path = self.session.model_for(assistant).path
        if path not in self._engines:
            self._engines[path] = Engine(path, **options)
        return self._engines[path]

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines.clear()
        self.session.close()


def in_home(home: Path, work: Work) -> Generator[Any, None, Any]:
    """Run `work` in its own session on `home` (and engines it asks for), closing them after;
    progress passes through, the work's result is the return value."""
    context = OpContext(open_session(home))
    try:
        result = work(context)
        if inspect.isgenerator(result):
            result = yield from result
        return result
    finally:
        context.close()


def run_op(home: Path, work: Work, *, on_done: Callable[[Any], None] | None = None,
           on_error: Callable[[str], None] | None = None,
           on_progress: Callable[[Any], None] | None = None,
           changes: Iterable[Change] = (), parent: QObject | None = None,
           background: bool = False) -> Task:
    """Start `work` on the task pool; callbacks come on the main thread (dropped once `parent`
    is destroyed). `changes`: announced after it succeeded, before `on_done`."""
    said = tuple(changes)

    def done(result: Any) -> None:
        announce(*said)
        if on_done is not None:
            on_done(result)

    return run_task(lambda: in_home(home, work), on_done=done,
                    on_error=on_error if on_error is not None else bus().failed.emit,
                    on_progress=on_progress, parent=parent, background=background)
