"""The What-it-learned report: one insight result (the core's dict) laid out as cards.

Sentences first (the summary and the style changes), then the evidence (what the person told
and showed it), the answers side by side, and only then the charts: words it favours and avoids,
where inside the model it changed (a heatmap), and how well it predicts the answers the person
wanted. Pure layout: no database, no model; the page (`insight_view`) owns the state.
"""

from __future__ import annotations

from typing import Any, cast

from PySide6.QtCharts import QAbstractBarSeries
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kindred.ui.kit.charts import (
    BAD,
    GOOD,
    SERIES_COLORS,
    Bars,
    ChartView,
    Heatmap,
    bar_chart,
    section,
    unique_labels,
)
from kindred.ui.kit.widgets import MarkdownView, SideBySide
from kindred.ui.learning.quality_card import QualityCard

MODULE_NAMES = {  # llama.cpp tensor names, in reading order, with plain names
    "attn_q": "attention · query", "attn_k": "attention · key", "attn_v": "attention · value",
    "attn_output": "attention · output", "ffn_gate": "feed-forward · gate",
    "ffn_up": "feed-forward · up", "ffn_down": "feed-forward · down",
}
SECTIONS = ("summary", "quality", "evidence", "probes", "tokens", "layers", "fit")
EXAMPLES_SHOWN = 5
TOKENS_SHOWN = 8
BAR_HEIGHT = 34  # per horizontal bar: less and QtCharts elides the labels to "…"


def token_label(text: str) -> str:
    """What a person can read of a token: the word itself, or what kind of blank it is."""
    stripped = text.strip()
    if stripped:  # angle brackets would make the chart read the label as markup
        return stripped.replace("<", "‹").replace(">", "›")
    if "\n" in text:
        return "(new line)"
    return "(space)" if text else "(nothing)"


def label(text: str, *, muted: bool = False, bold: bool = False, size: float = 1.0) -> QLabel:
    widget = QLabel(text)
    widget.setWordWrap(True)
    widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if muted:
        widget.setObjectName("emptyHint")
    if bold or size != 1.0:
        font = widget.font()
        font.setBold(bold)
        font.setPointSizeF(font.pointSizeF() * size)
        widget.setFont(font)
    return widget


class InsightReport(QWidget):
    """Every section of one result; `names` maps version ids to "Version N"."""

    def __init__(self, result: dict[str, Any], names: dict[str, str],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result = result
        self.names = names
        self.setObjectName("page")
        self.summary_labels: list[QLabel] = []
        self.probe_views: list[tuple[MarkdownView, MarkdownView]] = []
        self.token_charts: dict[str, ChartView] = {}
        self.heatmap = Heatmap()
        self.fit_chart: ChartView | None = None
        self.sections: dict[str, QFrame] = {}
        self.quality_card: QualityCard | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 8, 12)
        layout.setSpacing(14)
        for name in SECTIONS:
            card = getattr(self, f"_{name}")(result)
            card.setProperty("section", name)
            self.sections[name] = card
            layout.addWidget(card)
        layout.addStretch(1)

    def side_names(self, result: dict[str, Any]) -> tuple[str, str]:
        """How the two sides are called: "Before" / "Now", or two version names."""
        against = str(result.get("against", "base"))
        version = self.names.get(str(result["version"]), "this version")
        if against == "base":
            return "Before (base model)", f"Now ({version})"
        return self.names.get(against, f"version {against[:12]}"), version

    def comparison_text(self, result: dict[str, Any]) -> str:
        version = self.names.get(str(result["version"]), "This version")
        against = str(result.get("against", "base"))
        other = "the base model, before any learning" if against == "base" else self.names.get(
            against, f"version {against[:12]}")
        return f"{version} compared with {other}."

    def _quality(self, result: dict[str, Any]) -> QFrame:
        card, layout = section("Did it stay itself?",
                               "Against the base model, on questions its training never saw: "
                               "what you taught, general knowledge, answer length, repetition.")
        self.quality_card = QualityCard(result.get("quality"))
        layout.addWidget(self.quality_card)
        return card

    def _summary(self, result: dict[str, Any]) -> QFrame:
        card, layout = section("In short", self.comparison_text(result))
        sentences = list(result.get("summary") or [])
        extra = [s[0].upper() + s[1:] + "." for s in result.get("style", {}).get("sentences", [])]
        sentences += [s for s in extra if s not in sentences]
        self.summary_labels = [label(f"•  {s}", size=1.15) for s in sentences]
        for sentence in self.summary_labels:
            layout.addWidget(sentence)
        return card

    def _evidence(self, result: dict[str, Any]) -> QFrame:
        card, layout = section("What taught it", "Your own words, kept with this version.")
        preferences = list(result.get("preferences") or [])
        examples = list(result.get("examples") or [])
        if preferences:
            layout.addWidget(label("You told it", bold=True))
            for text in preferences:
                layout.addWidget(label(f"“{text}”"))
        if examples:
            layout.addWidget(label(f"The answers you wanted ({len(examples)}, corrected or "
                                    "liked)", bold=True))
            rows: list[QWidget] = []
            for i, example in enumerate(examples):
                row = QWidget()
                rl = QVBoxLayout(row)
                rl.setContentsMargins(0, 2, 0, 2)
                rl.setSpacing(0)
                rl.addWidget(label(str(example.get("prompt", "")), muted=True))
                rl.addWidget(label(f"→ {example.get('answer', '')}"))
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
            layout.addWidget(label("No stated preferences or corrected answers are recorded "
                                    "for this version (an imported adapter has none).",
                                    muted=True))
        return card

    def _probes(self, result: dict[str, Any]) -> QFrame:
        before, now = self.side_names(result)
        card, layout = section("Its answers, side by side",
                               "The same questions, answered the same careful way by both, so "
                               "every difference comes from what it learned.")
        probes = SideBySide(list(result.get("probes") or []), (before, now), ("base", "adapter"))
        self.probe_views = probes.views
        layout.addWidget(probes)
        return card

    def _tokens(self, result: dict[str, Any]) -> QFrame:
        card, layout = section("Words it now favours and avoids",
                               "How much more (or less) likely each word piece became, on "
                               "average, while answering. Longer bars: bigger change.")
        tokens = result.get("tokens") or {}
        charts = QHBoxLayout()
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
            chart.axes(Qt.Orientation.Horizontal)[0].setLabelsVisible(False)
            view = ChartView(chart, height=60 + BAR_HEIGHT * max(len(entries), 1))
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
        present: set[str] = {m for row in layers for m in row.get("modules", {})}
        modules = [m for m in MODULE_NAMES if m in present] + sorted(present - set(MODULE_NAMES))
        self.heatmap.set_data(
            [MODULE_NAMES.get(m, m) for m in modules], [str(r["layer"]) for r in layers],
            [[r["modules"].get(m) for r in layers] for m in modules],
            column_title="layer (from the input, left, to the output, right)")
        layout.addWidget(self.heatmap)
        if layers:
            top = max(layers, key=lambda r: float(r.get("total", 0)))
            layout.addWidget(label(f"The largest change is in layer {top['layer']}.",
                                    muted=True))
        return card

    def _fit(self, result: dict[str, Any]) -> QFrame:
        before, now = self.side_names(result)
        card, layout = section("How well it predicts what you want",
                               "Its average surprise at the answers you said you wanted, one "
                               "word piece at a time. Lower is better: it expects what you "
                               "want.")
        fit = result.get("fit") or {}
        if fit.get("base_nll") is None or fit.get("adapter_nll") is None:
            layout.addWidget(label("There are no corrected answers to measure this on yet.",
                                    muted=True))
            return card
        old, new = float(fit["base_nll"]), float(fit["adapter_nll"])
        chart = bar_chart([before, now], [Bars("surprise", [old, new], "#9a9a9a")],
                          legend=False, minimum=0.0)
        series = cast(QAbstractBarSeries, chart.series()[0])  # bar_chart made one bar series
        bars = series.barSets()[0]
        bars.setSelectedColor(QColor(SERIES_COLORS[0]))  # "now" stands out, "before" is grey
        bars.selectBar(1)
        bars.setLabelColor(QColor("white"))
        series.setLabelsVisible(True)
        series.setLabelsFormat("@value")
        series.setLabelsPrecision(3)
        self.fit_chart = ChartView(chart, height=220)
        self.fit_chart.setMaximumWidth(520)
        layout.addWidget(self.fit_chart)
        from kindred.core.learning.insight import (
            fit_sentences,  # loaded already by the job that ran
        )

        verdict = " ".join(fit_sentences(fit))  # the summary's words, not new ones
        layout.addWidget(label(f"{verdict} {fit.get('tokens', 0)} word pieces of your own "
                                "preferred answers were scored.", muted=True))
        return card
