# PySide6 ships no py.typed, so mypy sees Qt classes as Any:
# mypy: disable-error-code="misc, untyped-decorator"
"""What it learned: for one version, in words first, then the evidence, then the charts.

Written for someone who has never heard of LoRA: the summary sentences come first, then what
taught it (their own preferences and corrections), then its answers before and now, and only
then the charts (words it favours, where inside the model it changed, how well it predicts what
the person wants). The insight is computed by `kindred.core.insight` in the background with its
own engine and its own database connection, so the chat stays usable; results are cached per
version by the core, so opening the page again is instant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from kindred.core import versions
from kindred.core.assistants import Assistant, get_assistant
from kindred.core.session import Session
from kindred.ui.charts import (
    BAD,
    GOOD,
    Bars,
    ChartView,
    Heatmap,
    bar_chart,
    section,
    unique_labels,
    version_names,
)
from kindred.ui.tasks import Task, run_task
from kindred.ui.widgets import MarkdownView

EMPTY_TEXT = "Teach your assistant, then train it, to see what it learned."
MODULE_NAMES = {  # llama.cpp tensor names, in reading order, with plain names
    "attn_q": "attention · query", "attn_k": "attention · key", "attn_v": "attention · value",
    "attn_output": "attention · output", "ffn_gate": "feed-forward · gate",
    "ffn_up": "feed-forward · up", "ffn_down": "feed-forward · down",
}
EXAMPLES_SHOWN = 5
TOKENS_SHOWN = 10


class _LazyEngine:
    """The page's own Engine, loaded on first use: a cached insight never needs the model."""

    def __init__(self, model_path: Path) -> None:
        self.model_path = model_path
        self._engine: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._engine is None:
            from kindred.core.engine import Engine

            self._engine = Engine(self.model_path)
        return getattr(self._engine, name)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def insight_job(home: Path, assistant_id: int, version_id: str, against: str
                ) -> Iterator[Any]:
    """Runs on a pool thread: its own session and engine; yields the core's progress, then the
    result. Closing the generator (Cancel) stops at the next step and frees both."""
    from kindred.core import insight
    from kindred.core.feedback import system_prompt
    from kindred.core.session import open_session

    session = open_session(home)
    engine = None
    try:
        assistant = get_assistant(session.store, assistant_id)
        engine = _LazyEngine(session.model_for(assistant).path)
        yield from insight.compute(session.store, engine, version_id,  # type: ignore[arg-type]
                                   against=against,
                                   system=system_prompt(session.store, assistant))
    finally:
        if engine is not None:
            engine.close()
        session.close()


def token_label(text: str) -> str:
    """What a person can read of a token: the word itself, or what kind of blank it is."""
    stripped = text.strip()
    if stripped:
        return stripped
    if "\n" in text:
        return "(new line)"
    return "(space)" if text else "(nothing)"


def _label(text: str, *, muted: bool = False, bold: bool = False, size: float = 1.0) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if muted:
        label.setObjectName("emptyHint")
    if bold or size != 1.0:
        font = label.font()
        font.setBold(bold)
        font.setPointSizeF(font.pointSizeF() * size)
        label.setFont(font)
    return label


class InsightView(QWidget):
    computed = Signal(dict)  # a result was shown (from the cache or freshly computed)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.assistant: Assistant = session.assistant()
        self.task: Task | None = None
        self.task_key: tuple[str, str] | None = None
        self.result: dict[str, Any] | None = None
        self.names: dict[str, str] = {}
        self.shown_key: tuple[str, str] | None = None
        self.cancelled_key: tuple[str, str] | None = None
        self.started_at = 0.0
        self.elapsed = 0.0
        self.progress_values: list[int] = []
        self.sections: dict[str, QFrame] = {}
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)

        self.title = QLabel("What it learned")
        self.title.setObjectName("pageTitle")
        subtitle = _label("How a version of your assistant differs from before, and what "
                          "taught it.", muted=True)
        self.version_box = QComboBox()
        self.version_box.setMinimumWidth(260)
        self.against_box = QComboBox()
        self.against_box.setMinimumWidth(260)
        self.version_box.currentIndexChanged.connect(lambda _i: self._version_picked())
        self.against_box.currentIndexChanged.connect(lambda _i: self._picked())
        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Version"))
        pickers.addWidget(self.version_box)
        pickers.addSpacing(12)
        pickers.addWidget(QLabel("compared with"))
        pickers.addWidget(self.against_box)
        pickers.addStretch(1)

        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(True)
        self.progress_label = _label("", muted=True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.progress_box = QWidget()
        row = QHBoxLayout(self.progress_box)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        progress_column = QVBoxLayout()
        progress_column.addWidget(self.progress_box)
        progress_column.addWidget(self.progress_label)
        self.progress_box.hide()

        # The three states: nothing to show, waiting (computing, cancelled, failed), the result.
        self.empty = _label(EMPTY_TEXT, size=1.3)
        self.empty.setObjectName("emptyTitle")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.waiting_label = _label("", size=1.1)
        self.waiting_label.setObjectName("dialogStatus")  # muted; red for an error
        self.waiting_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.compute_button = QPushButton("Work it out")
        self.compute_button.clicked.connect(self.start)
        waiting = QWidget()
        wl = QVBoxLayout(waiting)
        wl.addStretch(1)
        wl.addWidget(self.waiting_label)
        wl.addWidget(self.compute_button, 0, Qt.AlignmentFlag.AlignHCenter)
        wl.addStretch(2)
        self.body = QWidget()
        self.body.setObjectName("page")
        self.body_layout = QVBoxLayout(self.body)
        self.body_layout.setContentsMargins(0, 4, 8, 12)
        self.body_layout.setSpacing(14)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.body)
        self.stack = QStackedWidget()
        for widget in (self.empty, waiting, self.scroll):
            self.stack.addWidget(widget)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 12)
        layout.setSpacing(10)
        layout.addWidget(self.title)
        layout.addWidget(subtitle)
        layout.addLayout(pickers)
        layout.addLayout(progress_column)
        layout.addWidget(self.stack, 1)
        self.refresh()

    # -- pickers -----------------------------------------------------------------------------

    def set_assistant(self, assistant: Assistant) -> None:
        if assistant.id != self.assistant.id:
            self.cancel()
            self.cancelled_key = None
        self.assistant = assistant
        self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.refresh()

    def refresh(self) -> None:
        """Re-read the versions (training may have added one) and show the picked one."""
        store = self.session.store
        self.assistant = get_assistant(store, self.assistant.id)
        all_versions = versions.list_versions(store, self.assistant.id)
        self.names = version_names(v.id for v in all_versions)
        usable = [v for v in all_versions if v.status != "deleted"]
        current = self.version_box.currentData()
        wanted = current if current in {v.id for v in usable} else self.assistant.active_version
        self.version_box.blockSignals(True)
        self.version_box.clear()
        for v in reversed(usable):  # newest first
            when = datetime.fromtimestamp(v.created_at).strftime("%b %d, %H:%M")
            self.version_box.addItem(f"{self.names[v.id]} · {v.status} · {when}", v.id)
        index = self.version_box.findData(wanted) if wanted else -1
        self.version_box.setCurrentIndex(index if index >= 0 else 0)
        self.version_box.blockSignals(False)
        self._fill_against()
        self._picked()

    def _fill_against(self) -> None:
        key = self.version_box.currentData()
        current = self.against_box.currentData()
        self.against_box.blockSignals(True)
        self.against_box.clear()
        if key:
            version = versions.get_version(self.session.store, key)
            self.against_box.addItem("the base model (before any learning)", "base")
            others = [v for v in versions.list_versions(self.session.store, self.assistant.id)
                      if v.status != "deleted" and v.id != key]
            if version.parent and version.parent in {v.id for v in others}:
                self.against_box.addItem(f"its parent, {self.names[version.parent]}", "parent")
            for other in reversed(others):
                self.against_box.addItem(self.names[other.id], other.id)
        index = self.against_box.findData(current)
        self.against_box.setCurrentIndex(index if index >= 0 else 0)
        self.against_box.blockSignals(False)

    def _version_picked(self) -> None:
        self._fill_against()
        self._picked()

    def current_key(self) -> tuple[str, str] | None:
        version, against = self.version_box.currentData(), self.against_box.currentData()
        return (str(version), str(against or "base")) if version else None

    def pick(self, version_id: str, against: str = "base") -> None:
        """Choose a version and a comparison (as the pickers would)."""
        self.version_box.setCurrentIndex(self.version_box.findData(version_id))
        self.against_box.setCurrentIndex(self.against_box.findData(against))

    def _picked(self) -> None:
        key = self.current_key()
        has_versions = key is not None
        self.version_box.setEnabled(has_versions)
        self.against_box.setEnabled(has_versions)
        if not has_versions:
            self.cancel()
            self.stack.setCurrentIndex(0)
            return
        if key == self.shown_key:
            self.stack.setCurrentIndex(2)
            return
        if self.task is not None and key == self.task_key:
            return  # already being worked out
        if self.isVisible() and key != self.cancelled_key:
            self.start()
        elif self.task is None:
            self._waiting("Press “Work it out” to see what this version learned.", button=True)

    # -- computing ---------------------------------------------------------------------------

    def start(self) -> None:
        """Compute (or load from the cache) the insight for the picked version, in the
        background; anything already running for another pick is cancelled."""
        key = self.current_key()
        if key is None:
            return
        if self.task is not None:
            self.task.cancel()
        self.cancelled_key = None
        self.progress_values = []
        self.started_at = time.monotonic()
        self.progress.setValue(0)
        self.progress_label.setText("Starting…")
        self.progress_box.show()
        self.progress_label.show()
        self._waiting("Working out what it learned: it answers a few questions the old way and "
                      "the new way, and compares. This takes a minute or so; you can keep "
                      "chatting meanwhile.", button=False)
        home, aid = self.session.home.root, self.assistant.id
        version_id, against = key
        task: Task | None = None

        def done(result: Any) -> None:
            if task is self.task:
                self._done(key, result)

        def failed(message: str) -> None:
            if task is self.task:
                self._failed(message)

        task = run_task(lambda: insight_job(home, aid, version_id, against),
                        on_done=done, on_error=failed, on_progress=self._progress, parent=self)
        self.task, self.task_key = task, key

    def _progress(self, event: Any) -> None:
        fraction = getattr(event, "fraction", None)
        if fraction is None:
            return  # the result itself; `done` shows it
        value = round(float(fraction) * 100)
        self.progress_values.append(value)
        self.progress.setValue(value)
        self.progress_label.setText(str(getattr(event, "message", "")))

    def cancel(self) -> None:
        """Stop computing (at the core's next step); nothing is cached for a cancelled run."""
        if self.task is None:
            return
        self.task.cancel()
        self.task = None
        self.cancelled_key = self.current_key()
        self.progress_box.hide()
        self.progress_label.hide()
        if self.shown_key != self.current_key():
            self._waiting("Cancelled. Nothing was saved; press “Work it out” to start again.",
                          button=True)

    def _done(self, key: tuple[str, str], result: dict[str, Any]) -> None:
        self.task = None
        self.elapsed = time.monotonic() - self.started_at
        self.progress_box.hide()
        self.progress_label.hide()
        self.result = result
        self.shown_key = key
        self.render(result)
        self.stack.setCurrentIndex(2)
        self.computed.emit(result)

    def _failed(self, message: str) -> None:
        self.task = None
        self.progress_box.hide()
        self.progress_label.hide()
        self._waiting(f"{message}\nNothing was changed.", button=True, error=True)

    def _waiting(self, text: str, *, button: bool, error: bool = False) -> None:
        self.waiting_label.setText(text)
        self.waiting_label.setProperty("error", error)
        self.waiting_label.style().unpolish(self.waiting_label)
        self.waiting_label.style().polish(self.waiting_label)
        self.compute_button.setVisible(button)
        self.stack.setCurrentIndex(1)

    # -- rendering ---------------------------------------------------------------------------

    def side_names(self, result: dict[str, Any]) -> tuple[str, str]:
        """How the two sides are called: "Before" / "Now", or two version names."""
        against = str(result.get("against", "base"))
        version = self.names.get(str(result["version"]), "this version")
        if against == "base":
            return "Before (base model)", f"Now ({version})"
        return self.names.get(against, f"version {against[:12]}"), version

    def render(self, result: dict[str, Any]) -> None:
        """Rebuild the page from an insight result (the core's dict)."""
        while self.body_layout.count():
            item = self.body_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.sections = {}
        for name, build in (("summary", self._summary), ("evidence", self._evidence),
                            ("probes", self._probes), ("tokens", self._tokens),
                            ("layers", self._layers), ("fit", self._fit)):
            card = build(result)
            card.setProperty("section", name)
            self.sections[name] = card
            self.body_layout.addWidget(card)
        self.body_layout.addStretch(1)
        self.scroll.verticalScrollBar().setValue(0)

    def _summary(self, result: dict[str, Any]) -> QFrame:
        before, now = self.side_names(result)
        card, layout = section("In short", f"{now} compared with {before[0].lower()}"
                               f"{before[1:]}.")
        sentences = list(result.get("summary") or [])
        extra = [s[0].upper() + s[1:] + "." for s in result.get("style", {}).get("sentences", [])]
        sentences += [s for s in extra if s not in sentences]
        self.summary_labels = [_label(f"•  {s}", size=1.15) for s in sentences]
        for label in self.summary_labels:
            layout.addWidget(label)
        return card

    def _evidence(self, result: dict[str, Any]) -> QFrame:
        card, layout = section("What taught it", "Your own words, kept with this version.")
        preferences = list(result.get("preferences") or [])
        examples = list(result.get("examples") or [])
        if preferences:
            layout.addWidget(_label("You told it", bold=True))
            for text in preferences:
                layout.addWidget(_label(f"“{text}”"))
        if examples:
            layout.addWidget(_label(f"You corrected {len(examples)} answer"
                                    f"{'s' if len(examples) != 1 else ''}", bold=True))
            rows: list[QWidget] = []
            for i, example in enumerate(examples):
                row = QWidget()
                rl = QVBoxLayout(row)
                rl.setContentsMargins(0, 2, 0, 2)
                rl.setSpacing(0)
                rl.addWidget(_label(str(example.get("prompt", "")), muted=True))
                rl.addWidget(_label(f"→ {example.get('answer', '')}"))
                row.setVisible(i < EXAMPLES_SHOWN)
                rows.append(row)
                layout.addWidget(row)
            if len(examples) > EXAMPLES_SHOWN:
                more = QPushButton(f"Show all {len(examples)}")
                more.setFlat(True)

                def show_all() -> None:
                    for r in rows:
                        r.show()
                    more.hide()
                more.clicked.connect(show_all)
                layout.addWidget(more, 0, Qt.AlignmentFlag.AlignLeft)
        if not preferences and not examples:
            layout.addWidget(_label("No stated preferences or corrected answers are recorded "
                                    "for this version (an imported adapter has none).",
                                    muted=True))
        return card

    def _probes(self, result: dict[str, Any]) -> QFrame:
        before, now = self.side_names(result)
        card, layout = section("Its answers, side by side",
                               "The same questions, answered the same careful way by both, so "
                               "every difference comes from what it learned.")
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        for col, name in enumerate((before, now)):
            head = QLabel(name)
            head.setObjectName("consentHeading")
            grid.addWidget(head, 0, col)
        self.probe_views: list[tuple[MarkdownView, MarkdownView]] = []
        row = 1
        for pair in result.get("probes") or []:
            grid.addWidget(_label(f"You: {pair.get('prompt', '')}", bold=True), row, 0, 1, 2)
            views = (MarkdownView(), MarkdownView())
            for col, side in enumerate(("base", "adapter")):
                views[col].set_markdown(str(pair.get(side, "")))
                grid.addWidget(views[col], row + 1, col, Qt.AlignmentFlag.AlignTop)
            line = QFrame()
            line.setObjectName("separator")
            line.setFixedHeight(1)
            grid.addWidget(line, row + 2, 0, 1, 2)
            self.probe_views.append(views)
            row += 3
        layout.addLayout(grid)
        return card

    def _tokens(self, result: dict[str, Any]) -> QFrame:
        card, layout = section("Words it now favours and avoids",
                               "How much more (or less) likely each word piece became, on "
                               "average, while answering. Longer bars: bigger change.")
        tokens = result.get("tokens") or {}
        charts = QHBoxLayout()
        self.token_charts: dict[str, ChartView] = {}
        for kind, title, color in (("promoted", "More likely now", GOOD),
                                   ("demoted", "Less likely now", BAD)):
            entries = list(tokens.get(kind) or [])[:TOKENS_SHOWN]
            entries.reverse()  # horizontal bars are drawn bottom-up: biggest on top
            labels = unique_labels(token_label(str(e["token"])) for e in entries)
            values = [abs(float(e["score"])) for e in entries]
            chart = bar_chart(labels, [Bars(title, values, color)], horizontal=True,
                              legend=False, minimum=0.0)
            chart.setTitle(title)
            chart.setTitleBrush(self.palette().text())
            view = ChartView(chart, height=300)
            self.token_charts[kind] = view
            charts.addWidget(view, 1)
        layout.addLayout(charts)
        return card

    def _layers(self, result: dict[str, Any]) -> QFrame:
        card, layout = section("Where inside the model it changed",
                               "The model is a stack of layers, each with a few parts. Each "
                               "square is one part of one layer; the darker it is, the more "
                               "this version changed it. Empty squares were not changed.")
        layers = list(result.get("layers") or [])
        present = {m for row in layers for m in row.get("modules", {})}
        modules = [m for m in MODULE_NAMES if m in present] + sorted(present - set(MODULE_NAMES))
        self.heatmap = Heatmap()
        self.heatmap.set_data(
            [MODULE_NAMES.get(m, m) for m in modules], [str(r["layer"]) for r in layers],
            [[r["modules"].get(m) for r in layers] for m in modules],
            column_title="layer (from the input, left, to the output, right)")
        layout.addWidget(self.heatmap)
        if layers:
            top = max(layers, key=lambda r: float(r.get("total", 0)))
            layout.addWidget(_label(f"The largest change is in layer {top['layer']}.",
                                    muted=True))
        return card

    def _fit(self, result: dict[str, Any]) -> QFrame:
        before, now = self.side_names(result)
        card, layout = section("How well it predicts what you want",
                               "Its average surprise at the answers you said you wanted, one "
                               "word piece at a time. Lower is better: it expects what you "
                               "want.")
        fit = result.get("fit") or {}
        self.fit_chart: ChartView | None = None
        if fit.get("base_nll") is None or fit.get("adapter_nll") is None:
            layout.addWidget(_label("There are no corrected answers to measure this on yet.",
                                    muted=True))
            return card
        old, new = float(fit["base_nll"]), float(fit["adapter_nll"])
        chart = bar_chart([before, now], [Bars("surprise", [old, new], "#0072b2")],
                          legend=False, minimum=0.0)
        series = chart.series()[0]
        series.setLabelsVisible(True)
        series.setLabelsFormat("@value")
        series.setLabelsPrecision(3)
        self.fit_chart = ChartView(chart, height=220)
        self.fit_chart.setMaximumWidth(520)
        layout.addWidget(self.fit_chart)
        change = (old - new) / old if old else 0.0
        verdict = (f"{change:.0%} less surprised by your answers." if change > 0.005 else
                   "No better at predicting your answers yet.")
        layout.addWidget(_label(f"{verdict} Measured on {fit.get('tokens', 0)} word pieces "
                                "of your own preferred answers.", muted=True))
        return card
