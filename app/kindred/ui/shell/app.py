"""Start the desktop app (`kindred`, `kindred gui`), or measure its start-up (`--smoke`).

Start-up is kept lean: Qt and the core's light modules only. llama.cpp is imported on the
inference thread while the window is already on screen; torch is never imported here.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from kindred.ui.shell.startup import since_start

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

SMOKE_TIMEOUT_MS = 120_000


def _bring_forward(window: QWidget) -> None:
    from PySide6.QtCore import Qt

    window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
    window.show()
    window.raise_()
    window.activateWindow()


def run_app(home: str | None, smoke: bool = False) -> int:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Kindred")
    app.setApplicationDisplayName("Kindred")
    app.setDesktopFileName("io.github.kindred.Kindred")
    app.setOrganizationName("Kindred")

    from kindred.ui.kit.icons import app_icon
    from kindred.ui.kit.theme import Theme
    from kindred.ui.shell.main_window import MainWindow

    instance = None
    if not smoke:  # one window per data home: a second start brings the first forward
        from kindred.core.home.paths import resolve_home
        from kindred.ui.shell.single_instance import SingleInstance

        root = resolve_home(home).root
        instance = SingleInstance(root)
        if instance.already_running() or not instance.listen():
            print(f"Kindred is already open for {root}; its window was brought forward.",
                  file=sys.stderr)
            return 0
    Theme(app)
    app.setWindowIcon(app_icon())
    window = MainWindow(home)
    window.show()
    if instance is not None:
        instance.activated.connect(lambda: _bring_forward(window))
        code = int(app.exec())
        window.shutdown()
        instance.close()
        return code

    timings: dict[str, object] = {}
    exit_code = [1]

    def shown() -> None:
        timings["window_shown_s"] = round(since_start(), 3)
        finish_if_done()

    def engine_changed(state: str, detail: str) -> None:
        if state == "ready":
            timings["model_ready_s"] = round(since_start(), 3)
            exit_code[0] = 0
        elif state == "failed":
            timings["model_ready_s"] = None
            timings["error"] = detail
        finish_if_done()

    def finish_if_done() -> None:
        if "window_shown_s" in timings and "model_ready_s" in timings:
            app.quit()

    def give_up() -> None:
        timings.setdefault("model_ready_s", None)
        timings["error"] = "the model was not ready in time"
        app.quit()

    window.controller.engine_changed.connect(engine_changed)
    if window.controller.ready:
        engine_changed("ready", "")
    QTimer.singleShot(0, shown)  # after the first paint of the shown window
    QTimer.singleShot(SMOKE_TIMEOUT_MS, give_up)
    app.exec()
    window.shutdown()
    timings["torch_imported"] = "torch" in sys.modules
    ordered = {k: timings.get(k) for k in ("window_shown_s", "model_ready_s", "torch_imported")}
    ordered.update({k: v for k, v in timings.items() if k not in ordered})
    print(json.dumps(ordered), flush=True)
    return exit_code[0]
