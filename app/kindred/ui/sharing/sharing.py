"""The local API served by the window: started when the person turns it on (and at start-up
if they left it on), stopped when they turn it off or close the window. Off by default: until
then no socket is opened.

After every API answer the rollout's pace is checked (`api.records`); a step taken that way
reaches the chat like one taken after its own answer (the engine follows the new blend).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from kindred.api import settings
from kindred.api.server import ServerThread
from kindred.core.basics.errors import KindredError
from kindred.core.basics.ids import AssistantId
from kindred.core.session import Session
from kindred.ui.chat.chat_controller import ChatController
from kindred.ui.sharing.host import WindowHost


class Sharing(QObject):
    changed = Signal()                 # started or stopped (the dialog shows the state)
    answered = Signal(int, object)     # assistant id, Rollout | None (from the server thread)

    def __init__(self, session: Session, controller: ChatController,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.home = Path(session.home.root)
        self.controller = controller
        self.server: ServerThread | None = None
        self.host: WindowHost | None = None
        self.error = ""
        self.answered.connect(self._answered)  # queued: emitted on the server's thread

    @property
    def settings(self) -> settings.ApiSettings:
        return settings.load(self.home)

    @property
    def running(self) -> bool:
        return self.server is not None

    @property
    def address(self) -> str:
        return self.server.address if self.server else \
            f"http://127.0.0.1:{self.settings.port}/v1"

    def restore(self) -> None:
        """At start-up: serve again if the person left it on."""
        if self.settings.serving:
            self.start(remember=False)

    def start(self, *, remember: bool = True) -> bool:
        """Serve the window's assistant (its base's assistants) on 127.0.0.1."""
        if self.server is not None:
            return True
        assistant = self.controller.assistant
        model = self.session.model_for(assistant)
        host = WindowHost(self.controller.inference, Path(model.path))
        try:
            server = ServerThread(self.home, host, port=self.settings.port,
                                  on_answer=lambda aid, changed: self.answered.emit(aid,
                                                                                    changed))
        except KindredError as exc:
            self.error = str(exc)
            self.changed.emit()
            return False
        self.server, self.host, self.error = server.start(), host, ""
        if remember:
            settings.update(self.home, serving=True, assistant=assistant.name)
        self.changed.emit()
        return True

    def stop(self, *, remember: bool = True) -> None:
        if self.server is not None:
            if self.host is not None:
                self.host.close()
            self.server.stop()
            self.server = self.host = None
        if remember:
            settings.update(self.home, serving=False)
        self.changed.emit()

    def _answered(self, assistant_id: AssistantId, changed: Any) -> None:
        """A rollout step taken after an API answer: the chat follows, as after its own."""
        if changed is not None and assistant_id == self.controller.assistant.id:
            self.controller.follow_rollout(changed)
