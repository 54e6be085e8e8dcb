"""Parts of the Training page: following a run's progress file, the live loss chart, the
"a new version is ready" notice.

The training process runs in its own session (it survives the window closing, so quitting the
app never interrupts it); the page follows it through `runs/<id>/progress.jsonl`, which the trainer
appends every event to, so a page opened later (or after a restart) re-attaches and redraws.
"""

from __future__ import annotations

import subprocess
import threading

from PySide6.QtCharts import QLineSeries, QScatterSeries, QValueAxis
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QWidget,
)

from kindred.core.basics.ids import VersionId
from kindred.core.basics.states import RunStatus
from kindred.core.training import runner
from kindred.core.training.run import RunDir, process_alive
from kindred.ui.kit.charts import SERIES_COLORS, ChartView, new_chart, style_axis
from kindred.ui.kit.icons import set_icon

TERMINAL = ("done", "stopped", "error")
POLL_MS = 250
START_GRACE_S = 20.0  # a process that never wrote its state within this is reported dead


class RunFollower(QObject):
    """Reads a run's progress events as the trainer writes them; notices a trainer that died.

    `progressed(dict, replayed)`: `replayed` is True for events already in the file when following
    started (they redraw the chart but announce nothing). `lost(str)`: the process is gone
    without a last word (killed); the message says what is kept.
    """

    progressed = Signal(dict, bool)  # not `event`: that would shadow QObject.event
    lost = Signal(str)

    def __init__(self, run: RunDir, pid: int = 0, parent: QObject | None = None, *,
                 process: subprocess.Popen[bytes] | None = None) -> None:
        super().__init__(parent)
        self.run = run
        self.pid = pid
        self.process = process  # our own child, if we started it: polled, so it is reaped
        self.reaping = False
        self.offset = 0
        self.buffer = b""
        self.finished = False
        self.waited = 0.0
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)

    def start(self) -> None:
        self._read(replayed=True)
        self.timer.start()

    def stop(self) -> None:
        """Stop following. Our own child may still be exiting after its last line: a thread
        waits for it, so it is reaped without blocking the GUI (and its Popen never warns)."""
        self.timer.stop()
        if self.process is not None and not self.reaping and self.process.poll() is None:
            self.reaping = True
            threading.Thread(target=self.process.wait, name="kindred-reap", daemon=True).start()

    def poll(self) -> None:
        self._read(replayed=False)
        if self.finished:
            self.stop()
            return
        self.waited += POLL_MS / 1000
        if self.run.is_running():
            return
        # Not (or no longer) holding the run: gone once its process has exited (so every line
        # it wrote is in the file), or if it never started within the grace period.
        status = self.run.status()
        pid = self.pid or int(self.run.state().get("pid") or 0)
        alive = (self.process.poll() is None if self.process is not None
                 else process_alive(pid))
        if alive or (status == RunStatus.CREATED and self.waited < START_GRACE_S):
            return
        if not self.finished:
            self._read(replayed=False)  # its last lines may have landed meanwhile
            if not self.finished:
                self.finished = True
                self.stop()
                self.lost.emit(self._lost_message(status))

    def _lost_message(self, status: str) -> str:
        last = self.run.last_checkpoint()
        kept = (f"The checkpoint at step {last[0]} is kept; continue from it any time."
                if last else "No checkpoint was written yet; training can start again.")
        log = self.run.path / "stderr.log"
        tail = ""
        if log.is_file():
            lines = [ln for ln in log.read_text("utf-8", "replace").splitlines() if ln.strip()]
            tail = f" ({lines[-1][:200]})" if lines else ""
        message = self.run.state().get("message") if status == RunStatus.FAILED else None
        return (f"Training ended unexpectedly{tail}. " if not message else f"{message} ") + kept

    def _read(self, *, replayed: bool) -> None:
        path = self.run.progress_path
        if not path.is_file():
            return
        with path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        if not data:
            return
        self.offset += len(data)
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            event = runner.parse_line(line)
            if event is None or not _sane(event):
                continue
            if event["event"] in TERMINAL and not replayed:
                self.finished = True
            self.progressed.emit(event, replayed)


_NUMBERS = ("step", "total_steps", "loss", "lr", "tokens", "tokens_per_s", "eta_s",
            "elapsed_s", "load_s", "train_loss", "heldout_loss", "examples", "done", "total",
            "fraction")


def _sane(event: dict[str, object]) -> bool:
    """A damaged progress file (or another program's lines) must not break the page: numeric
    fields must be numbers, and texts text."""
    for key in _NUMBERS:
        value = event.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            return False
    return all(isinstance(event.get(k, ""), str) for k in ("version", "message", "when"))


class LossChart(ChartView):
    """Training loss per step (a line) and the held-out loss before and after (points)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        chart = new_chart(legend=True)
        super().__init__(chart, height=240, parent=parent)
        self.loss = QLineSeries()
        self.loss.setName("training loss")
        self.loss.setColor(QColor(SERIES_COLORS[0]))
        self.heldout = QScatterSeries()
        self.heldout.setName("held-out loss (examples it does not train on)")
        self.heldout.setColor(QColor(SERIES_COLORS[1]))
        self.heldout.setMarkerSize(10)
        chart.addSeries(self.loss)
        chart.addSeries(self.heldout)
        self.x_axis = QValueAxis()
        self.x_axis.setLabelFormat("%d")
        self.y_axis = QValueAxis()
        style_axis(self.x_axis, title="step")
        style_axis(self.y_axis, title="loss (lower is better)")
        chart.addAxis(self.x_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(self.y_axis, Qt.AlignmentFlag.AlignLeft)
        for series in (self.loss, self.heldout):
            series.attachAxis(self.x_axis)
            series.attachAxis(self.y_axis)
        self.total = 1
        self.top = 1.0
        self._show_heldout_in_legend()
        self._rescale()

    def _show_heldout_in_legend(self) -> None:
        """The held-out points are named in the legend once there are some: a run without
        held-out examples never draws them."""
        for marker in self.chart().legend().markers(self.heldout):
            marker.setVisible(self.heldout.count() > 0)

    def clear(self, total: int) -> None:
        self.loss.clear()
        self.heldout.clear()
        self._show_heldout_in_legend()
        self.total = max(total, 1)
        self.top = 1.0
        self._rescale()

    def set_total(self, total: int) -> None:
        if total != self.total:
            self.total = max(total, 1)
            self._rescale()

    def add_step(self, step: int, loss: float) -> None:
        points = [p.x() for p in self.loss.points()]
        if points and step <= points[-1]:  # a resumed run replays from its checkpoint
            keep = [p for p in self.loss.points() if p.x() < step]
            self.loss.replace(keep)
        self.loss.append(step, loss)
        self.top = max(self.top, loss)
        self._rescale()

    def add_heldout(self, step: int, loss: float) -> None:
        self.heldout.append(step, loss)
        self._show_heldout_in_legend()
        self.top = max(self.top, loss)
        self._rescale()

    def _rescale(self) -> None:
        self.x_axis.setRange(0, self.total)
        self.x_axis.setTickCount(min(self.total, 10) + 1 if self.total <= 10 else 6)
        self.y_axis.setRange(0, self.top * 1.1)
        self.y_axis.applyNiceNumbers()


class CandidateNotice(QFrame):
    """A small notice floating at the top right of the window: a new version is ready.

    It sits over whatever page is shown (the person may be chatting) and stays until
    reviewed or dismissed.
    """

    review_requested = Signal(str)

    def __init__(self, host: QWidget) -> None:
        super().__init__(host)
        self.host = host
        self.version_id = ""
        self.setObjectName("banner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.review_button = QPushButton("Review…")
        self.review_button.clicked.connect(lambda: self.review_requested.emit(self.version_id))
        self.review_button.clicked.connect(self.hide)
        close = QToolButton()
        set_icon(close, "close")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss (review it later on the Training page)")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 10, 8, 10)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.review_button)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.setFixedWidth(420)
        host.installEventFilter(self)
        self.hide()

    def announce(self, version_id: VersionId, text: str) -> None:
        self.version_id = version_id
        self.label.setText(text)
        self.adjustSize()
        self._place()
        self.show()
        self.raise_()

    def _place(self) -> None:
        margin = 16  # top right: clear of the message box and its Send button
        self.move(self.host.width() - self.width() - margin, 56)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.host and event.type() == QEvent.Type.Resize and self.isVisible():
            self._place()
        return False
