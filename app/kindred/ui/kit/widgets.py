"""Small reusable widgets: markdown text that sizes to its content, the message composer,
lists and tables that say what belongs in them while empty."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QGuiApplication,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QResizeEvent,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextOption,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSizePolicy,
    QTableWidget,
    QTextBrowser,
    QWidget,
)

from kindred.ui.kit.theme import mix

MARKDOWN_FEATURES = (QTextDocument.MarkdownFeature.MarkdownDialectGitHub
                     | QTextDocument.MarkdownFeature.MarkdownNoHTML)


def keep_line_breaks(text: str) -> str:
    """Make every newline a line break, as chat users expect (poems, addresses, code written
    without fences), instead of markdown's joining of lines. Fenced code is left alone."""
    out: list[str] = []
    fence = ""
    for line in text.split("\n"):
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence):
                fence = ""
        elif stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif line.strip() and not line.endswith(("  ", "\\")):
            line += "  "
        out.append(line)
    return "\n".join(out)


COPY_SCHEME = "kindred-copy"


def with_copy_links(text: str) -> tuple[str, list[str]]:
    """Add a "Copy code" link under every closed fenced code block; returns (text, the blocks).

    A block still streaming (no closing fence yet) gets no link until it is complete."""
    out: list[str] = []
    blocks: list[str] = []
    fence, body = "", list[str]()
    for line in text.split("\n"):
        out.append(line)
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence) and not stripped[len(fence):].strip():
                out.append(f"[⧉ Copy code]({COPY_SCHEME}:{len(blocks)})")
                blocks.append("\n".join(body))
                fence = ""
            else:
                body.append(line)
        elif stripped.startswith(("```", "~~~")):
            fence, body = stripped[:3], []
    return "\n".join(out), blocks


class MarkdownView(QTextBrowser):
    """Read-only markdown (Qt's own renderer) whose height follows its content: no scrollbar.
    Code blocks carry a "Copy code" link; web links open in the browser."""

    code_copied = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._markdown = ""
        self.code_blocks: list[str] = []
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setOpenLinks(False)  # we route clicks: copy links here, web links to the browser
        self.anchorClicked.connect(self._link_clicked)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.viewport().setAutoFillBackground(False)
        self.setAttribute(Qt.WidgetAttribute.WA_TranslucentBackground)
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(lambda _s: self._fit())
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

    @property
    def markdown(self) -> str:
        """The markdown source as given (what Copy copies)."""
        return self._markdown

    def set_markdown(self, text: str) -> None:
        self._markdown = text
        shown, self.code_blocks = with_copy_links(text)
        # No raw HTML: model output like `#include <stdio.h>` must show, not vanish as a tag.
        self.document().setMarkdown(keep_line_breaks(shown), MARKDOWN_FEATURES)
        self._shade_code()
        self._fit()

    def _link_clicked(self, url: QUrl) -> None:
        if url.scheme() == COPY_SCHEME:
            index = int(url.path()) if url.path().isdigit() else -1
            if 0 <= index < len(self.code_blocks):
                QGuiApplication.clipboard().setText(self.code_blocks[index])
                self.code_copied.emit(self.code_blocks[index])
        elif url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)

    def _shade_code(self) -> None:
        """Give code blocks a tinted background from the palette (markdown has none)."""
        palette = QGuiApplication.palette()  # ours is transparent (the bubble shows through)
        base = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        shade = QColor(mix(base, text, 0.07))
        block = self.document().begin()
        cursor = QTextCursor(self.document())
        while block.isValid():
            fmt = block.blockFormat()
            if fmt.hasProperty(QTextFormat.Property.BlockCodeFence) or fmt.nonBreakableLines():
                fmt.setBackground(shade)
                fmt.setLeftMargin(4)
                cursor.setPosition(block.position())
                cursor.setBlockFormat(fmt)
            block = block.next()

    def _fit(self) -> None:
        self.document().setTextWidth(self.viewport().width())
        height = int(self.document().size().height() + 0.999)
        margins = self.contentsMargins()
        self.setFixedHeight(max(height + margins.top() + margins.bottom(), 1))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())


class Composer(QPlainTextEdit):
    """The message box: Enter sends, Shift+Enter starts a new line; grows up to a few lines."""

    submitted = Signal()
    MAX_LINES = 8

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composer")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setTabChangesFocus(True)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.document().documentLayout().documentSizeChanged.connect(lambda _s: self._fit())
        self._fit()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & (Qt.KeyboardModifier.ShiftModifier
                                              | Qt.KeyboardModifier.AltModifier):
            self.submitted.emit()
            return
        if enter:
            self.insertPlainText("\n")
            return
        super().keyPressEvent(event)

    def _fit(self) -> None:
        line = self.fontMetrics().lineSpacing()
        lines = min(max(int(self.document().size().height()), 1), self.MAX_LINES)
        margins = self.contentsMargins()
        frame = int(self.document().documentMargin() * 2) + margins.top() + margins.bottom()
        self.setFixedHeight(lines * line + frame + 4)


def _paint_placeholder(view: QAbstractItemView, text: str) -> None:
    """What an empty list says (Qt's item views have no placeholder text of their own)."""
    model = view.model()
    if not text or model is None or model.rowCount() > 0:
        return
    painter = QPainter(view.viewport())
    palette = view.palette()
    painter.setPen(QColor(mix(palette.color(QPalette.ColorRole.Text),
                              palette.color(QPalette.ColorRole.Base), 0.45)))
    area = view.viewport().rect().adjusted(24, 24, -24, -24)
    painter.drawText(area, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), text)
    painter.end()


class HintedList(QListWidget):
    """A list that says what belongs in it while it is empty."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.placeholder = placeholder

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        _paint_placeholder(self, self.placeholder)


class HintedTable(QTableWidget):
    """A table that says what belongs in it while it is empty."""

    def __init__(self, rows: int, columns: int, placeholder: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(rows, columns, parent)
        self.placeholder = placeholder

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        _paint_placeholder(self, self.placeholder)


def page_heading(title: str, subtitle: str) -> tuple[QLabel, QLabel]:
    """Every page opens the same way: a title, then one muted sentence on what the page is for."""
    heading = QLabel(title)
    heading.setObjectName("pageTitle")
    under = QLabel(subtitle)
    under.setObjectName("emptyHint")
    under.setWordWrap(True)
    return heading, under


def scrolled(body: QWidget | None = None) -> QScrollArea:
    """A frameless scroll area whose content takes its width (pages, long dialogs)."""
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    if body is not None:
        area.setWidget(body)
    return area


class SideBySide(QWidget):
    """Two answers to each prompt in two columns (base vs adapter, current vs candidate), so a
    person compares them line by line. `keys` name the two answers in each pair."""

    def __init__(self, pairs: list[dict[str, Any]], names: tuple[str, str],
                 keys: tuple[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 8, 0, 0)
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(6)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        for col, name in enumerate(names):
            head = QLabel(name)
            head.setObjectName("consentHeading")
            grid.addWidget(head, 0, col)
        self.views: list[tuple[MarkdownView, MarkdownView]] = []
        row = 1
        for pair in pairs:
            # the prompt is the person's own text: escaped, never read as markup
            prompt = QLabel(f"<b>You: {escape(str(pair.get('prompt', '')))}</b>")
            prompt.setTextFormat(Qt.TextFormat.RichText)
            prompt.setWordWrap(True)
            grid.addWidget(prompt, row, 0, 1, 2)
            views = (MarkdownView(), MarkdownView())
            for col, key in enumerate(keys):
                views[col].set_markdown(str(pair.get(key, "")))
                grid.addWidget(views[col], row + 1, col, Qt.AlignmentFlag.AlignTop)
            line = QFrame()
            line.setObjectName("separator")
            line.setFixedHeight(1)
            grid.addWidget(line, row + 2, 0, 1, 2)
            self.views.append(views)
            row += 3


def error_label() -> QLabel:
    """A dialog's error line: hidden until something goes wrong, styled as an error."""
    label = QLabel()
    label.setObjectName("dialogStatus")
    label.setProperty("error", True)
    label.setWordWrap(True)
    label.hide()
    return label


def destructive_box(parent: QWidget, title: str, text: str, info: str, action: str,
                    on_yes: Callable[[], object], *,
                    icon: QMessageBox.Icon = QMessageBox.Icon.Question) -> QMessageBox:
    """A confirmation whose default is Cancel; `on_yes` runs only on the destructive button.
    Not shown: the caller opens it (window-modal, no nested event loop)."""
    box = QMessageBox(icon, title, text, parent=parent)
    box.setInformativeText(info)
    yes = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
    box.buttonClicked.connect(lambda button: on_yes() if button is yes else None)
    return box


def fit_to_screen(window: QWidget, width: int, height: int) -> None:
    """Resize to the size a window is laid out for, but never beyond 92 % of the screen it
    opens on (a 900×700 dialog on a 1024×600 netbook screen had its buttons off-screen)."""
    screen = (window.parentWidget() or window).screen() or QGuiApplication.primaryScreen()
    if screen is None:
        window.resize(width, height)
        return
    room = screen.availableGeometry()
    window.resize(min(width, int(room.width() * 0.92)), min(height, int(room.height() * 0.92)))
