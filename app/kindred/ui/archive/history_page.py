"""History's page: the lineage tree, its actions and the details, laid out (what they do:
`history_view`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QMenu,
    QPushButton,
    QTextBrowser,
    QTreeWidget,
    QWidget,
)

from kindred.ui.kit.icons import set_icon
from kindred.ui.kit.page import Page, banner, hint, status_line

COLUMNS = ["Version", "Created", "Source", "Status", "Active for", "Answers"]


class HistoryPage(Page):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("", "Every version your assistant ever had is kept here. Nothing "
                         "changes what you talk to without your consent.", parent)
        self.banner, self.banner_label, self.review_button = banner("Review")

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
        self.details = hint()
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.records = QTextBrowser()  # a retired version's interview and report
        self.records.setObjectName("retirementRecords")
        self.records.setMaximumHeight(280)
        self.records.hide()
        self.disk = hint()  # what keeping everything costs on disk
        self.disk.setWordWrap(False)
        self.status = status_line()
        for row, stretch in ((self.banner, 0), (tools, 0), (self.tree, 1), (self.disk, 0),
                             (self.details, 0), (self.records, 0), (self.status, 0)):
            self.add_row(row, stretch)
