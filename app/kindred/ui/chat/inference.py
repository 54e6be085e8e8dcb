"""The inference thread: one QThread whose worker owns the llama.cpp engine.

Everything the engine does (load, attach adapters, generate) happens on that one thread, in
order. Streamed pieces and results reach the main thread by queued signals; only `cancel()` is
called across threads, and the engine's cancel is thread-safe. The worker reads the database
through its own connection and never writes: answers are saved by the main thread.
"""

from __future__ import annotations

import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId, ConversationId, VersionId
from kindred.core.basics.sampling import Sampling
from kindred.core.engine.llama import AdapterRef, GenerationStats, Message


@dataclass(frozen=True)
class EngineInfo:
    """What the status bar shows about the loaded engine."""

    assistant_id: AssistantId
    model_name: str
    adapters: list[tuple[str, float]]


class InferenceWorker(QObject):
    """Lives on the inference thread. Slots are invoked through queued signals."""

    loading = Signal(int)                      # assistant id
    loaded = Signal(object)                    # EngineInfo
    load_failed = Signal(int, str)             # assistant id, message
    piece = Signal(int, str)                   # request id, text piece
    finished = Signal(int, str, object)        # request id, full text, GenerationStats
    failed = Signal(int, str)                  # request id, message
    measured = Signal(int, int)                # conversation id, turns left out of memory

    def __init__(self, home: Path) -> None:
        super().__init__()
        self.home = home
        self._session: Any = None
        self._engine: Any = None
        self._engine_key: tuple[str, tuple[tuple[str, float], ...]] | None = None
        self._lock = threading.Lock()
        self._stop_request: int | None = None
        self._answering: Any = None  # the engine generating now (a trial may use another base)
        self._others: dict[str, Any] = {}  # base sha256 -> engine, for cross-base trials
        self.chat_asked = 0     # the chat's answers asked for (main thread) ...
        self.chat_started = 0   # ... and begun here: more asked than begun = the chat waits

    # -- called from the main thread -------------------------------------------------------

    def cancel(self, request_id: int) -> None:
        """Stop request `request_id` (even if it has not started yet). Thread-safe."""
        with self._lock:
            self._stop_request = request_id
            engine = self._answering or self._engine
        if engine is not None:
            engine.cancel()

    # -- slots, run on the inference thread ------------------------------------------------

    @Slot(int)
    def load(self, assistant_id: AssistantId) -> None:
        """Bring the assistant's base model and active adapters into the engine."""
        self.loading.emit(assistant_id)
        try:
            info = self._load(assistant_id)
        except KindredError as exc:
            self.load_failed.emit(assistant_id, str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.load_failed.emit(assistant_id, f"The model could not be loaded ({exc}).")
        else:
            self.loaded.emit(info)

    def _load(self, assistant_id: AssistantId) -> EngineInfo:
        from kindred.core.chat import runtime
        from kindred.core.home.assistants import get_assistant
        from kindred.core.session import open_session

        if self._session is None:
            self._session = open_session(self.home)
        assistant = get_assistant(self._session.store, assistant_id)
        model = self._session.model_for(assistant)
        refs = runtime.adapter_refs_for(self._session, assistant)  # a rollout's blend, if any
        key = (model.sha256, tuple((r.key, r.scale) for r in refs))
        if self._engine is not None and self._engine_key is not None \
                and self._engine_key[0] == model.sha256:
            if self._engine_key != key:
                self._engine.set_adapters(refs)
        else:
            engine = runtime.load_engine(self._session, assistant)
            self._close_engine()
            with self._lock:
                self._engine = engine
        self._engine_key = key
        adapters = [(a.key, a.scale) for a in self._engine.adapters]
        return EngineInfo(assistant_id, model.name, adapters)

    @Slot(int, object, object)
    def generate(self, request_id: int, messages: list[Message],
                 sampling: Sampling) -> None:
        """Stream one answer. Cancelled requests still finish, with what was produced."""
        self.chat_started += 1
        self._generate(request_id, messages, sampling)

    def chat_waiting(self) -> bool:
        """An answer of the chat is queued behind the work on this thread (the local API
        pauses for it: the chat comes first)."""
        return self.chat_asked > self.chat_started

    @Slot(object)
    def run(self, job: Any) -> None:
        """`job(engine)` on this thread (the local API's answers, `ui/sharing`)."""
        job(self._engine)

    @Slot(int, object, object, object)
    def generate_with(self, request_id: int, messages: list[Message], sampling: Sampling,
                      refs: list[AdapterRef]) -> None:
        """One answer through other adapters (a side-by-side trial); the assistant's own set is
        put back afterwards, so the next ordinary answer is unaffected. A version made for
        another base (a migration's trial) answers on that base, in an engine kept for it."""
        from kindred.core.upgrades import trial

        self.chat_started += 1
        engine = self._engine
        if engine is None:
            self.failed.emit(request_id, "The model is not loaded; nothing was sent.")
            return
        try:
            side = VersionId(refs[0].key) if refs else None
            base = trial.side_base(self._session.store, side)
            if side is not None and base is not None:
                if base not in self._others:
                    self._others[base] = trial.side_engine(self._session.store, side,
                                                           engine.n_ctx)
                engine = self._others[base]
            previous = engine.adapters
            engine.set_adapters(refs)
        except KindredError as exc:
            self.failed.emit(request_id, str(exc))
            return
        try:
            self._generate(request_id, messages, sampling, engine)
        finally:
            engine.set_adapters(previous)

    def _generate(self, request_id: int, messages: list[Message],
                  sampling: Sampling, engine: Any = None) -> None:
        engine = engine or self._engine
        if engine is None:
            self.failed.emit(request_id, "The model is not loaded; nothing was sent.")
            return
        with self._lock:
            self._answering = engine
        try:
            generation = engine.chat(messages, sampling)
            for text in generation:
                self.piece.emit(request_id, text)
                if self._stopped(request_id):
                    engine.cancel()  # chat() cleared any cancel that came before it started
            stats: GenerationStats = generation.stats
            if self._stopped(request_id):
                stats.finish_reason = "cancelled"
            self.finished.emit(request_id, generation.partial, stats)
        except KindredError as exc:
            self.failed.emit(request_id, str(exc))
        except Exception as exc:
            traceback.print_exc()
            self.failed.emit(request_id, f"The answer failed ({type(exc).__name__}: {exc}).")
        finally:
            with self._lock:
                self._answering = None

    @Slot(int, object, object)
    def measure(self, conversation_id: ConversationId, messages: list[Message],
                sampling: Sampling) -> None:
        """How many of the conversation's first messages the next answer would not see
        (tokenizing only: nothing is evaluated)."""
        engine = self._engine
        if engine is not None:
            self.measured.emit(conversation_id, engine.left_out(messages, sampling))

    def _stopped(self, request_id: int) -> bool:
        with self._lock:
            return self._stop_request == request_id

    @Slot()
    def close(self) -> None:
        """Free the engine and the worker's database connection (at shutdown)."""
        self._close_engine()
        if self._session is not None:
            self._session.close()
            self._session = None

    def _close_engine(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
            others, self._others = list(self._others.values()), {}
        for one in [engine, *others]:
            if one is not None:
                one.close()


class InferenceThread(QObject):
    """The main thread's handle on the worker: queued requests in, signals out."""

    _load = Signal(int)
    _generate = Signal(int, object, object)
    _generate_with = Signal(int, object, object, object)
    _measure = Signal(int, object, object)
    _run = Signal(object)
    _close = Signal()

    def __init__(self, home: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker_thread = QThread()
        self.worker_thread.setObjectName("kindred-inference")
        self.worker = InferenceWorker(home)
        self.worker.moveToThread(self.worker_thread)
        self._load.connect(self.worker.load)
        self._generate.connect(self.worker.generate)
        self._generate_with.connect(self.worker.generate_with)
        self._measure.connect(self.worker.measure)
        self._run.connect(self.worker.run, Qt.ConnectionType.QueuedConnection)
        self._close.connect(self.worker.close)
        self._next_id = 0
        self.worker_thread.start()

    def load(self, assistant_id: AssistantId) -> None:
        self._load.emit(assistant_id)

    def generate(self, messages: list[Message], sampling: Sampling) -> int:
        """Queue a generation; returns its request id (the signals carry it)."""
        self._next_id += 1
        self.worker.chat_asked += 1
        self._generate.emit(self._next_id, messages, sampling)
        return self._next_id

    def generate_with(self, messages: list[Message], sampling: Sampling,
                      refs: list[AdapterRef]) -> int:
        """Queue a generation through `refs` instead of the assistant's adapters (a trial)."""
        self._next_id += 1
        self.worker.chat_asked += 1
        self._generate_with.emit(self._next_id, messages, sampling, refs)
        return self._next_id

    def run(self, job: Any) -> None:
        """Queue `job(engine)` on the inference thread, after what is queued already (from
        any thread: the local API's server thread, or the inference thread itself)."""
        self._run.emit(job)

    def measure(self, conversation_id: ConversationId, messages: list[Message],
                sampling: Sampling) -> None:
        """Queue a count of the turns left out of memory (answered by `worker.measured`)."""
        self._measure.emit(conversation_id, messages, sampling)

    def cancel(self, request_id: int) -> None:
        self.worker.cancel(request_id)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Stop any answer, free the engine on its own thread, and end the thread."""
        if not self.worker_thread.isRunning():
            return
        self.worker.cancel(self._next_id)
        self._close.emit()
        self.worker_thread.quit()
        self.worker_thread.wait(timeout_ms)
