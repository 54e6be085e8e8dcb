"""History's page: the lineage tree, its actions and the details, laid out (what they do:
`history_view`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QVBoxLayout,
    QWidget,
)

from kindred.ui.kit.icons import set_icon
from kindred.ui.kit.widgets import page_heading

COLUMNS = ["Version", "Created", "Source", "Status", "Active for", "Answers"]


class HistoryPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("page")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)

        self.title, subtitle = page_heading(
            "", "Every version your assistant ever had is kept here. Nothing changes what you "
            "talk to without your consent.")

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.review_button = QPushButton("Review")
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(12, 8, 12, 8)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.review_button)

        self.import_button = QPushButton("Import…")
        set_icon(self.import_button, "archive")
        self.import_button.setToolTip("Import an adapter (llama.cpp LoRA GGUF or PEFT folder) "
                                      "as a candidate")
        self.import_menu = QMenu(self)
        self.import_button.setMenu(self.import_menu)
        self.restore_button = QPushButton("Restore")
        set_icon(self.restore_button, "check")
        self.compare_button = QPushButton("Compare")
        set_icon(self.compare_button, "compare")
        self.export_button = QPushButton("Export…")
        set_icon(self.export_button, "export")
        self.retire_button = QPushButton("Retire")
        set_icon(self.retire_button, "archive")
        self.export_button.setToolTip("Export this assistant with all its versions, learning "
                                      "data, conversations and ledger to one bundle file")
        tools = QHBoxLayout()
        for button in (self.restore_button, self.compare_button, self.retire_button):
            tools.addWidget(button)
        tools.addStretch(1)
        tools.addWidget(self.import_button)
        tools.addWidget(self.export_button)

        self.tree = QTreeWidget()
        self.tree.setObjectName("historyTree")
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.details = QLabel()
        self.details.setObjectName("emptyHint")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.records = QTextBrowser()  # a retired version's interview and report
        self.records.setObjectName("retirementRecords")
        self.records.setMaximumHeight(280)
        self.records.hide()
        self.disk = QLabel()  # what keeping everything costs on disk
        self.disk.setObjectName("emptyHint")
        self.status = QLabel()
        self.status.setObjectName("dialogStatus")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 18, 24, 18)
        layout.setSpacing(10)
        layout.addWidget(self.title)
        layout.addWidget(subtitle)
        layout.addWidget(self.banner)
        layout.addLayout(tools)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.disk)
        layout.addWidget(self.details)
        layout.addWidget(self.records)
        layout.addWidget(self.status)
