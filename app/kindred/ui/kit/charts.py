"""Chart helpers shared by the What-it-learned, Usage and Training pages.

QtCharts draws with its own theme; these helpers take every colour from the current palette
instead (transparent backgrounds, text and grid colours mixed from the palette's roles) so the
charts read the same in light and dark mode as the rest of the app. Also: a painted heatmap
(QtCharts has none), section cards, and the human names of versions ("Version 3").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCharts import (
    QAbstractAxis,
    QBarCategoryAxis,
    QBarSeries,
    QBarSet,
    QChart,
    QChartView,
    QHorizontalBarSeries,
    QStackedBarSeries,
    QValueAxis,
)
from PySide6.QtCore import QMargins, QRectF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QGuiApplication,
    QLinearGradient,
    QPainter,
    QPalette,
    QPen,
)
from PySide6.QtWidgets import QFrame, QLabel, QSizePolicy, QVBoxLayout, QWidget

from kindred.ui.kit.theme import is_dark, mix

# Distinct hues that stay readable on light and dark backgrounds (Okabe-Ito, colour-blind safe).
SERIES_COLORS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442",
                 "#999999"]
GOOD = "#2e9d5b"
BAD = "#d0573f"


def palette_color(role: QPalette.ColorRole) -> QColor:
    return QGuiApplication.palette().color(role)


def text_color() -> QColor:
    return palette_color(QPalette.ColorRole.Text)


def muted_color() -> QColor:
    pal = QGuiApplication.palette()
    return QColor(mix(pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base),
                      0.45))


def grid_color() -> QColor:
    pal = QGuiApplication.palette()
    return QColor(mix(pal.color(QPalette.ColorRole.Base), pal.color(QPalette.ColorRole.Text),
                      0.14))


def series_color(index: int) -> QColor:
    return QColor(SERIES_COLORS[index % len(SERIES_COLORS)])


def new_chart(*, legend: bool = True) -> QChart:
    """An empty chart in the app's colours: no background, no animation, small margins."""
    chart = QChart()
    chart.setBackgroundVisible(False)
    chart.setPlotAreaBackgroundVisible(False)
    chart.setAnimationOptions(QChart.AnimationOption.NoAnimation)
    chart.setMargins(QMargins(4, 4, 4, 4))
    chart.layout().setContentsMargins(0, 0, 0, 0)
    chart.legend().setVisible(legend)
    chart.legend().setLabelColor(text_color())
    chart.legend().setAlignment(Qt.AlignmentFlag.AlignBottom)
    return chart


def style_axis(axis: QAbstractAxis, *, grid: bool = True, title: str = "") -> None:
    axis.setLabelsBrush(QBrush(muted_color()))
    axis.setLinePen(QPen(grid_color()))
    axis.setGridLineVisible(grid)
    axis.setGridLinePen(QPen(grid_color()))
    axis.setMinorGridLineVisible(False)
    if title:
        axis.setTitleText(title)
        axis.setTitleBrush(QBrush(muted_color()))
        font = axis.titleFont()
        font.setBold(False)
        axis.setTitleFont(font)


class ChartView(QChartView):
    """A chart view with a sensible minimum size, antialiased, on a transparent background."""

    def __init__(self, chart: QChart, height: int = 240, parent: QWidget | None = None) -> None:
        super().__init__(chart, parent)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setMinimumHeight(height)
        self.setStyleSheet("background: transparent")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(400, self.minimumHeight())


@dataclass(frozen=True)
class Bars:
    """One set of bars: a label (legend), a value per category, and a colour."""

    label: str
    values: Sequence[float]
    color: QColor | str


def bar_chart(categories: Sequence[str], sets: Iterable[Bars], *, stacked: bool = False,
              horizontal: bool = False, value_title: str = "", integer: bool = False,
              legend: bool | None = None, minimum: float | None = None) -> QChart:
    """Bars per category; `stacked` stacks the sets, `horizontal` lays categories down the side."""
    sets = list(sets)
    chart = new_chart(legend=len(sets) > 1 if legend is None else legend)
    if horizontal:
        series: QBarSeries | QHorizontalBarSeries | QStackedBarSeries = QHorizontalBarSeries()
    elif stacked:
        series = QStackedBarSeries()
    else:
        series = QBarSeries()
    top = 0.0
    low = 0.0
    for bars in sets:
        bar_set = QBarSet(bars.label)
        bar_set.append([float(v) for v in bars.values])
        color = QColor(bars.color)
        bar_set.setColor(color)
        bar_set.setBorderColor(color)
        bar_set.setLabelColor(text_color())
        series.append(bar_set)
        if bars.values:
            top = max(top, max(bars.values))
            low = min(low, min(bars.values))
    if stacked and sets:
        totals = [sum(b.values[i] for b in sets) for i in range(len(categories))]
        top = max(totals, default=0.0)
    series.setBarWidth(0.7)
    chart.addSeries(series)
    cat_axis = QBarCategoryAxis()
    cat_axis.append(list(categories))
    style_axis(cat_axis, grid=False)
    value_axis = QValueAxis()
    value_axis.setRange(low if minimum is None else minimum, max(top * 1.08, 1e-6))
    value_axis.applyNiceNumbers()
    if integer:
        value_axis.setLabelFormat("%d")
        value_axis.setRange(0, max(1, int(top + 0.999)))
        value_axis.setTickCount(min(6, max(2, int(top + 0.999) + 1)))
        value_axis.applyNiceNumbers()
    style_axis(value_axis, title=value_title)
    if horizontal:
        chart.addAxis(cat_axis, Qt.AlignmentFlag.AlignLeft)
        chart.addAxis(value_axis, Qt.AlignmentFlag.AlignBottom)
    else:
        chart.addAxis(cat_axis, Qt.AlignmentFlag.AlignBottom)
        chart.addAxis(value_axis, Qt.AlignmentFlag.AlignLeft)
    series.attachAxis(cat_axis)
    series.attachAxis(value_axis)
    return chart


def unique_labels(labels: Iterable[str]) -> list[str]:
    """Category axes drop repeated names; keep repeats apart with invisible marks."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        count = seen.get(label, 0)
        seen[label] = count + 1
        out.append(label + "\u200b" * count)
    return out


class Heatmap(QWidget):
    """A grid of coloured cells (rows × columns) with a colour legend: darker is larger.

    `values[r][c]` may be None (that part has no update at all: drawn as an empty cell).
    """

    CELL_MIN = 14

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: list[str] = []
        self.columns: list[str] = []
        self.values: list[list[float | None]] = []
        self.row_title = ""
        self.column_title = ""
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_data(self, rows: Sequence[str], columns: Sequence[str],
                 values: Sequence[Sequence[float | None]], *, row_title: str = "",
                 column_title: str = "") -> None:
        self.rows, self.columns = list(rows), list(columns)
        self.values = [list(r) for r in values]
        self.row_title, self.column_title = row_title, column_title
        self.setMinimumHeight(self._height())
        self.updateGeometry()
        self.update()

    @property
    def maximum(self) -> float:
        return float(max((v for row in self.values for v in row if v is not None), default=0.0))

    def _label_width(self) -> int:
        metrics = self.fontMetrics()
        return int(max((metrics.horizontalAdvance(r) for r in self.rows), default=0)) + 12

    def _cell(self) -> float:
        usable = self.width() - self._label_width() - 8
        return float(max(self.CELL_MIN, min(34.0, usable / max(len(self.columns), 1))))

    def _height(self) -> int:
        line = self.fontMetrics().height()
        return int(len(self.rows) * 22 + 3 * line + 24)

    def sizeHint(self) -> QSize:
        return QSize(600, self._height())

    def color_for(self, value: float | None) -> QColor:
        pal = QGuiApplication.palette()
        base = pal.color(QPalette.ColorRole.Base)
        if value is None:
            return base
        strong = QColor("#4f8fe6" if is_dark(pal) else "#1f5fbf")
        top = self.maximum or 1.0
        return QColor(mix(QColor(mix(base, strong, 0.10)), strong, min(value / top, 1.0)))

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics = self.fontMetrics()
        line = metrics.height()
        left = self._label_width()
        cell = self._cell()
        row_h = 22.0
        muted, grid = muted_color(), grid_color()
        for r, name in enumerate(self.rows):
            y = r * row_h
            painter.setPen(muted)
            painter.drawText(QRectF(0, y, left - 8, row_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, name)
            for c in range(len(self.columns)):
                value = self.values[r][c] if c < len(self.values[r]) else None
                rect = QRectF(left + c * cell + 1, y + 1, cell - 2, row_h - 2)
                painter.setPen(QPen(grid))
                painter.setBrush(self.color_for(value))
                painter.drawRoundedRect(rect, 3, 3)
        # Column labels: every one if they fit, else every few.
        bottom = len(self.rows) * row_h + 2
        step = max(1, int((metrics.horizontalAdvance("00") + 6) / cell) + 1)
        painter.setPen(muted)
        for c, name in enumerate(self.columns):
            if c % step == 0:
                painter.drawText(QRectF(left + c * cell - 10, bottom, cell + 20, line),
                                 Qt.AlignmentFlag.AlignHCenter, name)
        if self.column_title:
            painter.drawText(QRectF(left, bottom + line + 2, self.width() - left, line),
                             Qt.AlignmentFlag.AlignLeft, self.column_title)
        # The legend: a gradient from "no change" to the largest change.
        y = bottom + 2 * line + 12
        gradient = QLinearGradient(left, 0, left + 160, 0)
        gradient.setColorAt(0, self.color_for(0.0))
        gradient.setColorAt(1, self.color_for(self.maximum or 1.0))
        painter.setPen(QPen(grid))
        painter.setBrush(QBrush(gradient))
        painter.drawRoundedRect(QRectF(left, y, 160, 10), 3, 3)
        painter.setPen(muted)
        painter.drawText(QRectF(0, y - 4, left - 8, line),
                         Qt.AlignmentFlag.AlignRight, "smaller")
        painter.drawText(QRectF(left + 168, y - 4, 200, line),
                         Qt.AlignmentFlag.AlignLeft, "larger change")
        painter.end()


def section(title: str, hint: str = "") -> tuple[QFrame, QVBoxLayout]:
    """A titled card; returns the card and the layout to fill."""
    card = QFrame()
    card.setObjectName("card")
    layout = QVBoxLayout(card)
    layout.setContentsMargins(18, 14, 18, 16)
    layout.setSpacing(8)
    heading = QLabel(title)
    heading.setObjectName("sectionTitle")
    font = heading.font()
    font.setPointSizeF(font.pointSizeF() * 1.2)
    font.setWeight(QFont.Weight.DemiBold)
    heading.setFont(font)
    layout.addWidget(heading)
    if hint:
        label = QLabel(hint)
        label.setObjectName("emptyHint")
        label.setWordWrap(True)
        layout.addWidget(label)
    return card, layout
