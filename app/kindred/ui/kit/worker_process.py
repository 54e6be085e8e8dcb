"""The app's own background processes (a base prepared for training, an insight worked out
ahead): started in the worker environment with one output channel read line by line and the
other discarded (the caller gives the environment: the worker one, `runner.training_env()`),
stopped with SIGTERM (and killed if it lingers when the app closes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment

STOP_WAIT_MS = 3000


def make(parent: QObject, argv: Sequence[str], *, env: Mapping[str, str], stderr: bool,
         line: Callable[[bytes], None], ended: Callable[[int, bool], None],
         failed: Callable[[], None]) -> QProcess:
    """The process for `argv` with exactly the environment `env`, ready to `start()` (keep it
    first: `failed` may come at once), deleted once it ended or failed to start. `line` gets
    each line of its stdout (`stderr`: of its stderr), `ended` the exit code and whether it
    exited normally (after the last line), `failed` is called if it could not start at all."""
    process = QProcess(parent)
    environment = QProcessEnvironment()
    for key, value in env.items():
        environment.insert(key, value)
    process.setProcessEnvironment(environment)
    process.setProgram(argv[0])
    process.setArguments(list(argv[1:]))
    process.setProcessChannelMode(QProcess.ProcessChannelMode.SeparateChannels)
    pending = [b""]

    def read() -> None:
        data = process.readAllStandardError() if stderr else process.readAllStandardOutput()
        *lines, pending[0] = (pending[0] + bytes(data.data())).split(b"\n")
        for text in lines:
            line(text)

    if stderr:
        process.setStandardOutputFile(QProcess.nullDevice())
        process.readyReadStandardError.connect(read)
    else:
        process.setStandardErrorFile(QProcess.nullDevice())
        process.readyReadStandardOutput.connect(read)

    def finished(code: int, status: QProcess.ExitStatus) -> None:
        read()
        ended(code, status == QProcess.ExitStatus.NormalExit)
        process.deleteLater()

    def error(kind: QProcess.ProcessError) -> None:
        if kind == QProcess.ProcessError.FailedToStart:
            failed()
            process.deleteLater()

    process.finished.connect(finished)
    process.errorOccurred.connect(error)
    return process


def stop(process: QProcess | None, *, wait: bool = False) -> None:
    """SIGTERM; `wait` (closing the app): give it a moment, then kill it."""
    if process is None:
        return
    process.terminate()
    if wait and not process.waitForFinished(STOP_WAIT_MS):
        process.kill()
        process.waitForFinished(STOP_WAIT_MS)
