"""A candidate's quality card as a picture: base and candidate side by side on each measure.

Four rows (style shown on new requests, general questions answered right, length of open
answers, repeated phrases), each with two bars (the base model, muted; the candidate, in the
accent colour) and the figures; the core's plain-words flags above them, so a regression is read
before the bars. The figures come from `kindred.core.learning.quality` (measured before consent).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from kindred.ui.kit.charts import muted_color, palette_color, text_color

ROW_H = 46
LABEL_W = 210
VALUE_W = 150


@dataclass(frozen=True)
class Row:
    label: str
    base: float
    candidate: float
    top: float
    base_text: str
    candidate_text: str
    warn: bool = False


def rows_of(card: dict[str, Any]) -> list[Row]:
    """The measures of a card as rows (pure: testable without painting)."""
    out: list[Row] = []
    style = card.get("style") or {}
    agreed = style.get("teacher")
    if agreed:  # agreement with the base given the person's examples (core/learning/agreement)
        shows = bool(agreed.get("teacher_shows"))
        share = float(agreed.get("share") or 0.0) if shows else 0.0
        out.append(Row("Answers like your examples (new requests)", 0.0, share, 1.0, "0%",
                       f"{share:.0%}" if shows else "out of reach"))
    if style.get("primary"):
        share, base = float(style.get("share") or 0.0), float(style.get("base_share") or 0.0)
        out.append(Row("Shows what you taught (new requests)", base, share, 1.0,
                       f"{base:.0%}", f"{share:.0%}"))
    facts = card.get("facts") or {}
    total = max(1, int(facts.get("total") or 1))
    lost = len(facts.get("lost") or [])
    out.append(Row("General questions answered right", facts.get("base", 0),
                   facts.get("candidate", 0), total, f"{facts.get('base', 0)} of {total}",
                   f"{facts.get('candidate', 0)} of {total}",
                   warn=any("forgot" in f for f in card.get("flags", [])) or lost > 1))
    open_ = card.get("open") or {}
    base_w, mine_w = float(open_.get("base_words") or 0), float(open_.get("candidate_words") or 0)
    out.append(Row("Length of open answers (words)", base_w, mine_w, max(base_w, mine_w, 1.0),
                   f"{base_w:.0f}", f"{mine_w:.0f} ({float(open_.get('ratio') or 0):.0%})",
                   warn=any("as long as" in f for f in card.get("flags", []))))
    rep = card.get("repetition") or {}
    rb, rc = float(rep.get("base") or 0), float(rep.get("candidate") or 0)
    out.append(Row("Repeated phrases (lower is better)", rb, rc, max(rb, rc, 0.2),
                   f"{rb:.0%}", f"{rc:.0%}", warn=any("repeats" in f for f in
                                                       card.get("flags", []))))
    return out


class QualityBars(QWidget):
    """The rows, painted: two bars per measure."""

    def __init__(self, rows: list[Row], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows = rows
        self.setMinimumHeight(self.sizeHint().height())
        self.setAccessibleName("Quality card: " + "; ".join(
            f"{r.label}: base model {r.base_text}, candidate {r.candidate_text}"
            for r in rows))

    def sizeHint(self) -> QSize:
        return QSize(LABEL_W + VALUE_W + 240, ROW_H * len(self.rows) + 26)

    def paintEvent(self, _event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        accent = palette_color(QPalette.ColorRole.Highlight)
        warn = QColor("#d9822b")
        muted, ink = muted_color(), text_color()
        bar_w = max(60.0, self.width() - LABEL_W - VALUE_W - 16)
        for i, row in enumerate(self.rows):
            top = 4 + i * ROW_H
            painter.setPen(ink)
            painter.drawText(QRectF(0, top, LABEL_W - 8, ROW_H - 10),
                             Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextWordWrap, row.label)
            for j, (value, text, who) in enumerate(((row.base, row.base_text, "Base model"),
                                                    (row.candidate, row.candidate_text,
                                                     "Candidate"))):
                y = top + 6 + j * 16
                width = bar_w * max(0.0, min(1.0, value / row.top if row.top else 0.0))
                colour = muted if j == 0 else (warn if row.warn else accent)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(colour)
                painter.drawRoundedRect(QRectF(LABEL_W, y, max(2.0, width), 11), 3, 3)
                painter.setPen(muted if j == 0 else ink)
                painter.drawText(QRectF(LABEL_W + bar_w + 8, y - 3, VALUE_W, 16),
                                 Qt.AlignmentFlag.AlignVCenter, f"{who}: {text}")
        painter.setPen(muted)
        painter.drawText(QRectF(0, ROW_H * len(self.rows), self.width(), 20),
                         Qt.AlignmentFlag.AlignLeft,
                         "Measured on questions its training never saw.")
        painter.end()


class QualityCard(QWidget):
    """Flags (or an all-clear) above the bars."""

    def __init__(self, card: dict[str, Any] | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 4)
        self.flags = QLabel()
        self.flags.setWordWrap(True)
        self.flags.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.flags)
        if card is None:
            self.flags.setText("The quality of this version has not been measured.")
            self.bars: QualityBars | None = None
            return
        flags = card.get("flags") or []
        if flags:
            items = "".join(f"<li>{escape(f)}</li>" for f in flags)
            self.flags.setText(f"<span style='color:#d9822b'><b>Before you decide:</b></span>"
                               f"<ul style='margin-top:2px; margin-left:-18px'>{items}</ul>")
        else:
            self.flags.setText("<b>No regression found:</b> it keeps what the base model "
                               "could do on these measures.")
        self.bars = QualityBars(rows_of(card))
        layout.addWidget(self.bars)
